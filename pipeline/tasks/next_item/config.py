"""Config fields, defaults and ranges of the next-item recommendation task (configs/movielens.py).

`default_config()` is the shared fields (`pipeline.config_defaults.base_config`) plus the
interaction table's columns and `recs.*`; `RULES` and `cross_check` are this task's part of
`pipeline.config_defaults.validate`; `tiny(c)` makes a config small.
"""

import ml_collections

from pipeline import config_defaults as base
from pipeline.config_defaults import BOOLEAN, NAME, TEXT, integer, number, one_of
from pipeline.data.movielens import FORMATS

TASK = "next_item"


def default_config() -> ml_collections.ConfigDict:
    """The shared fields plus this task's, with their defaults."""
    c = base.base_config(TASK)
    # data.name="interactions": columns of data.train_file; data.items_file (optional)
    # is a CSV with item id, title and genres columns, for display.
    c.data.user_column = "user"
    c.data.item_column = "item"
    c.data.time_column = "timestamp"
    c.data.items_file = ""

    # Protocol P in ../shared/benchmarks/README.md; see pipeline/data/movielens.py.
    c.recs = ml_collections.ConfigDict()
    c.recs.history_length = 50  # H: the model reads the last H items, newest last.
    c.recs.min_rating = 0.0  # 0 = every rating is an interaction (protocol P).
    c.recs.min_user_interactions = 5  # users with fewer are dropped.
    c.recs.num_seeds = 3  # models trained with seeds seed, seed+1, ...; metrics are mean and spread.
    c.recs.top_k = 10
    c.recs.window_stride = 25  # training windows end every this many items of a user's sequence.
    c.recs.label_smoothing = 0.0
    # Item embeddings start from "ppmi" (co-occurrence vectors of the training parts) or "random".
    c.recs.init_embeddings = "ppmi"
    c.recs.init_scale = 0.05  # their standard deviation.
    c.recs.exclude_seen_in_loss = False  # softmax only over items not yet seen in the window.
    c.recs.patience = 4  # epochs without a better validation HR@k before stopping.
    # Validation cases per user: the validation item and the items just before it, each
    # predicted from the items before it; training ends before the earliest (1 = protocol P's
    # one validation item). The test item and its history never change.
    c.recs.valid_positions = 1
    c.recs.cooc_last_items = 10  # co-occurrence baseline: last items of the history it reads,
    c.recs.cooc_window = 5  # and how far ahead a following item counts as co-occurring.
    return c


RULES = {
    "data.name": one_of(*FORMATS),
    "data.user_column": NAME,
    "data.item_column": NAME,
    "data.time_column": NAME,
    "data.items_file": TEXT,
    "recs.history_length": integer(1),
    "recs.min_rating": number(0),
    # Protocol P takes each user's last two items as test and validation targets and needs
    # one more to train on: fewer than 3 could not be honoured.
    "recs.min_user_interactions": integer(3),
    "recs.num_seeds": integer(1),
    "recs.top_k": integer(1),
    "recs.window_stride": integer(1),
    "recs.label_smoothing": number(0, 1, high_open=True),
    "recs.init_embeddings": one_of("ppmi", "random"),
    "recs.init_scale": number(0, low_open=True),
    "recs.exclude_seen_in_loss": BOOLEAN,
    "recs.patience": integer(1),
    # Each extra position takes one training item per user (users keep at least one); 50 is
    # far past where the validation stops getting less noisy.
    "recs.valid_positions": integer(1, 50),
    "recs.cooc_last_items": integer(1),
    "recs.cooc_window": integer(1),
}


def cross_check(config) -> None:
    """The conditions between fields; UserError naming the field."""
    last_seed = config.seed + config.recs.num_seeds - 1
    if last_seed > base.SEED_MAX:
        raise base.field_error("recs.num_seeds", config.recs.num_seeds,
                               f"seeds run from --config.seed={config.seed} to {last_seed}, "
                               f"past {base.SEED_MAX}")


def tiny(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Makes `c` a small run (`configs/<file>.py:tiny`): one seed, one small layer, 30 steps;
    what the CI gate trains to check the export path."""
    c.recs.num_seeds = 1
    c.train.max_steps = 30
    c.model.num_layers = 1
    c.model.hidden_dim = 32
    c.model.intermediate_dim = 64
    return c
