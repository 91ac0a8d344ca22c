"""MovieLens next-item recommendations (protocol P), evaluated on each user's last rating.

Offline: --config.data.dir=<a GroupLens folder: ml-latest-small, ml-latest, ml-100k or ml-1m>
or $PIPELINE_DATA_DIR/ml-latest-small. Online: TFDS movielens/latest-small-ratings (needs tensorflow-datasets; untested offline).
Settings chosen on validation HR@10 only (benchmarks/recommendation.md lists what was tried).
configs/movielens.py:tiny is the same made small (one seed, one small layer, 30 steps): the CI
gate's recommender (.ci/run).
"""

from pipeline.config_defaults import TINY, config_argument
from pipeline.tasks.next_item.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.name = "movielens"
    c.data.subdir = "ml-latest-small"
    c.data.tfds_name = "movielens/latest-small-ratings"
    c.model.num_layers = 2
    c.model.hidden_dim = 128
    c.model.num_heads = 2
    c.model.intermediate_dim = 256
    c.model.dropout = 0.3
    c.model.activation = "relu"  # NNAPI has no GELU
    c.train.batch_size = 64
    c.train.epochs = 12
    c.train.learning_rate = 1e-3
    c.train.warmup_fraction = 0.05
    c.train.weight_decay = 0.01
    c.train.checkpoint_every_steps = 500
    c.recs.history_length = 50  # protocol P's H; chosen on validation (benchmarks/recommendation.md)
    c.recs.num_seeds = 3
    c.recs.window_stride = 50
    c.recs.exclude_seen_in_loss = True
    c.recs.label_smoothing = 0.0
    c.recs.init_embeddings = "ppmi"
    c.recs.patience = 4
    c.export.name = "MovieLens next movie"
    c.export.description = ("Scores every movie as the next one a user will watch, "
                            "from the last 50 movies they rated (newest last).")
    if config_argument(arg) == TINY:
        tiny(c)
    return c
