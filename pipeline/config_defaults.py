"""The fields every task config has, with their defaults.

Each file in `configs/` calls `default_config()` and changes what its task needs.
Every field can be overridden on the command line, e.g. `--config.train.epochs=3`.
"""

import ml_collections

STAGES = ("teacher", "pretrain", "finetune", "distill")


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.task = "text_classification"  # or "next_item" (recommendations, configs/movielens.py)
    c.seed = 0

    # Data: see pipeline/data/__init__.py for the formats.
    c.data = ml_collections.ConfigDict()
    c.data.name = ""  # a name from pipeline.data.FORMATS, e.g. "sst2", "bbc", "table".
    c.data.dir = ""  # local folder; else $PIPELINE_DATA_DIR/<data.subdir>; else TFDS.
    c.data.subdir = ""  # folder name under $PIPELINE_DATA_DIR.
    c.data.tfds_name = ""  # TFDS catalog name used online when no local copy is found.
    c.data.train_file = ""  # "table" format: file names inside data.dir.
    c.data.test_file = ""
    c.data.text_column = "text"
    c.data.label_column = "label"
    c.data.test_fraction = 0.2  # used only when the dataset has no test split.
    c.data.max_train_examples = 0  # 0 = all; a seeded stratified subset otherwise.
    c.data.max_test_examples = 0
    c.data.extra_text_files = ""  # comma-separated unlabeled text files for pretraining.
    # next_item, data.name="interactions": columns of data.train_file; data.items_file (optional)
    # is a CSV with item id, title and genres columns, for display.
    c.data.user_column = "user"
    c.data.item_column = "item"
    c.data.time_column = "timestamp"
    c.data.items_file = ""

    # Tokenizer: standard BERT WordPiece (see README, "Tokenizer rules").
    c.tokenizer = ml_collections.ConfigDict()
    c.tokenizer.vocabulary_size = 8000
    c.tokenizer.sequence_length = 64

    # Student: a small encoder shaped for phone delegates.
    c.model = ml_collections.ConfigDict()
    c.model.num_layers = 2
    c.model.hidden_dim = 128
    c.model.num_heads = 2
    c.model.intermediate_dim = 512
    c.model.activation = "relu"
    c.model.dropout = 0.1
    # Teacher: a keras-hub preset handle or folder; "minilm" = the offline MiniLM package.
    c.model.preset = "minilm"
    # Start the student's token embeddings from the teacher's, PCA-projected to hidden_dim.
    c.model.init_embeddings_from_teacher = False

    c.stages = ml_collections.ConfigDict()
    c.stages.teacher = False
    c.stages.pretrain = True
    c.stages.finetune = True
    c.stages.distill = False

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 32
    c.train.epochs = 3
    c.train.max_steps = 0  # 0 = no cap; otherwise the whole stage stops after this many steps.
    c.train.learning_rate = 1e-3
    c.train.warmup_fraction = 0.1
    c.train.weight_decay = 0.01
    c.train.checkpoint_every_steps = 200

    c.pretrain = ml_collections.ConfigDict()
    c.pretrain.epochs = 3
    c.pretrain.max_steps = 0
    c.pretrain.learning_rate = 1e-3
    c.pretrain.mask_rate = 0.15

    c.teacher = ml_collections.ConfigDict()
    c.teacher.epochs = 2
    c.teacher.max_steps = 0
    c.teacher.learning_rate = 5e-5
    c.teacher.batch_size = 16
    c.teacher.max_train_examples = 2000  # fine-tune on a subset; 0 = all.

    c.distill = ml_collections.ConfigDict()
    c.distill.epochs = 3
    c.distill.max_steps = 0
    c.distill.learning_rate = 5e-4
    c.distill.temperature = 2.0
    c.distill.alpha = 0.7  # weight of the soft (teacher) loss; 1 - alpha for the labels.
    c.distill.max_train_examples = 0  # train texts the teacher labels (0 = all); cached.

    # next_item task (protocol P in ../shared/benchmarks/README.md; see pipeline/data/movielens.py).
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
    c.recs.cooc_last_items = 10  # co-occurrence baseline: last items of the history it reads,
    c.recs.cooc_window = 5  # and how far ahead a following item counts as co-occurring.

    c.export = ml_collections.ConfigDict()
    c.export.name = ""
    c.export.description = ""
    c.export.version = "1"
    c.export.author = ""
    c.export.license = "Apache-2.0"
    c.export.int8_budget_mb = 2.0  # size budget of each int8 file (export.check --require size).
    c.export.check_examples = 200  # evaluation examples saved for export.check (GPU parity).
    return c


def describe_fields() -> str:
    """One line per config field, `name = default  # comment`, for `--helpfull`."""
    import inspect
    import re

    lines = []
    for line in inspect.getsource(default_config).splitlines():
        m = re.match(r"\s*c\.([\w.]+) = (?!ml_collections)(.*)$", line)
        if m:
            lines.append(f"  --config.{m.group(1)}={m.group(2).strip()}")
    return "\n".join(lines)
