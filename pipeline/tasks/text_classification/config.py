"""Config fields, defaults and ranges of the text classification task (configs/sst2.py etc.).

`default_config()` is the shared fields (`pipeline.config_defaults.base_config`) plus the
tokenizer, the teacher, the stages and their sections; `RULES` and `cross_check` are this
task's part of `pipeline.config_defaults.validate`; `tiny(c)` makes a config small.
"""

import ml_collections

from pipeline import config_defaults as base
from pipeline.config_defaults import BOOLEAN, LEARNING_RATE, NAME, TEXT, integer, number, one_of
from pipeline.data import FORMATS

TASK = "text_classification"
STAGES = ("teacher", "pretrain", "finetune", "distill")  # the order they run in
# The "minilm" teacher (MiniLM-L6-H384): its embedding width and its position embeddings.
MINILM, MINILM_HIDDEN_DIM, MINILM_MAX_LENGTH = "minilm", 384, 512


def default_config() -> ml_collections.ConfigDict:
    """The shared fields plus this task's, with their defaults."""
    c = base.base_config(TASK)
    c.data.test_file = ""  # "table" format: the test file inside data.dir (as data.train_file).
    c.data.text_column = "text"
    c.data.label_column = "label"
    c.data.test_fraction = 0.2  # used only when the dataset has no test split.
    # > 0: hold this seeded part of train out and evaluate on it instead of the test split
    # (for choosing settings without seeing the test split).
    c.data.validation_fraction = 0.0
    c.data.max_train_examples = 0  # 0 = all; a seeded stratified subset otherwise.
    c.data.max_test_examples = 0
    c.data.extra_text_files = ""  # comma-separated unlabeled text files for pretraining.

    # Tokenizer: standard BERT WordPiece (see README, "Tokenizer rules").
    c.tokenizer = ml_collections.ConfigDict()
    c.tokenizer.vocabulary_size = 8000
    c.tokenizer.sequence_length = 64

    # Teacher: a keras-hub preset handle or folder; "minilm" = the offline MiniLM package.
    c.model.preset = MINILM
    # Start the student's token embeddings from the teacher's, PCA-projected to hidden_dim.
    c.model.init_embeddings_from_teacher = False

    c.stages = ml_collections.ConfigDict()
    c.stages.teacher = False
    c.stages.pretrain = True
    c.stages.finetune = True
    c.stages.distill = False

    c.pretrain = ml_collections.ConfigDict()
    c.pretrain.epochs = 3
    c.pretrain.max_steps = 0
    c.pretrain.learning_rate = 1e-3
    c.pretrain.mask_rate = 0.15

    c.teacher = ml_collections.ConfigDict()
    # "transformer": model.preset fine-tuned; "tfidf_logreg": TF-IDF + logistic regression
    # (pipeline/baselines.py), for data the transformer reads badly (it stays the source of
    # embeddings and swap neighbours).
    c.teacher.kind = "transformer"
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
    # Augmented copies of each of those texts, also labelled by the teacher (pipeline/augment.py).
    c.distill.augment_copies = 0
    c.distill.mask_rate = 0.1  # per word: becomes an unknown word
    c.distill.swap_rate = 0.1  # per word: swapped for a teacher-embedding neighbour
    c.distill.ngram_rate = 0.25  # per copy: only a random 1-5 word n-gram is kept
    return c


RULES = {
    "data.name": one_of(*FORMATS),
    "data.test_file": TEXT,
    "data.text_column": NAME,
    "data.label_column": NAME,
    "data.test_fraction": number(0, 1, low_open=True, high_open=True),
    "data.validation_fraction": number(0, 1, high_open=True),
    "data.max_train_examples": integer(0),
    "data.max_test_examples": integer(0),
    "data.extra_text_files": TEXT,
    # The 5 special tokens take ids 0-4; fewer than ~100 learned pieces leave most words [UNK].
    "tokenizer.vocabulary_size": integer(100),
    # [CLS] and [SEP] take two positions; the teacher's position embeddings cap its length.
    "tokenizer.sequence_length": integer(3).also(
        f"at most {MINILM_MAX_LENGTH} when the {MINILM} teacher runs"),
    "model.preset": NAME,
    "model.init_embeddings_from_teacher": BOOLEAN.also(
        f"with model.preset={MINILM}: model.hidden_dim <= {MINILM_HIDDEN_DIM}"),
    "stages.teacher": BOOLEAN,
    "stages.pretrain": BOOLEAN,
    "stages.finetune": BOOLEAN.also("it or stages.distill must be True"),
    "stages.distill": BOOLEAN.also("needs stages.teacher=True"),
    "pretrain.epochs": integer(1),
    "pretrain.max_steps": integer(0),
    "pretrain.learning_rate": LEARNING_RATE,
    "pretrain.mask_rate": number(0, 1, low_open=True, high_open=True),
    "teacher.kind": one_of("transformer", "tfidf_logreg"),
    "teacher.epochs": integer(1),
    "teacher.max_steps": integer(0),
    "teacher.learning_rate": LEARNING_RATE,
    "teacher.batch_size": integer(1),
    "teacher.max_train_examples": integer(0),
    "distill.epochs": integer(1),
    "distill.max_steps": integer(0),
    "distill.learning_rate": LEARNING_RATE,
    "distill.temperature": number(0, low_open=True),
    "distill.alpha": number(0, 1),
    "distill.max_train_examples": integer(0),
    "distill.augment_copies": integer(0, 100),  # 100 copies of SST-2: 6.7M texts, days here
    "distill.mask_rate": number(0, 1).also("mask_rate + swap_rate <= 1"),
    "distill.swap_rate": number(0, 1),
    "distill.ngram_rate": number(0, 1),
}


def cross_check(config) -> None:
    """The conditions between fields that RULES' notes state; UserError naming the field."""
    stages, model = config.stages, config.model
    if not (stages.finetune or stages.distill):
        raise base.field_error("stages.finetune", stages.finetune,
                               "no stage trains the classifier; set it or --config.stages.distill "
                               "to True")
    if stages.distill and not stages.teacher:
        raise base.field_error("stages.distill", True, "needs --config.stages.teacher=True "
                               "(the teacher's logits are its soft targets)")
    d = config.distill
    if d.mask_rate + d.swap_rate > 1:
        raise base.field_error("distill.swap_rate", d.swap_rate,
                               f"with --config.distill.mask_rate={d.mask_rate} must sum to <= 1 "
                               "(both are chances per word)")
    length = config.tokenizer.sequence_length
    if stages.teacher and model.preset == MINILM and length > MINILM_MAX_LENGTH:
        raise base.field_error("tokenizer.sequence_length", length,
                               f"must be <= {MINILM_MAX_LENGTH} for the {MINILM} teacher "
                               "(its position embeddings)")
    if (model.init_embeddings_from_teacher and model.preset == MINILM
            and model.hidden_dim > MINILM_HIDDEN_DIM):
        raise base.field_error("model.hidden_dim", model.hidden_dim,
                               f"must be <= {MINILM_HIDDEN_DIM} with "
                               "--config.model.init_embeddings_from_teacher=True (the teacher's "
                               f"{MINILM_HIDDEN_DIM}-wide embeddings are projected to it)")


def tiny(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Makes `c` a small run (`configs/<file>.py:tiny`): one small layer, no pretraining, 100
    steps per stage, at most 2000 train / 500 test examples. On the intents data it trains in
    about 30 s on 2 cores and still learns (accuracy ~0.8): enough for export checks to mean
    something."""
    c.stages.pretrain = False  # masked-LM pretraining is the slow stage
    c.model.num_layers = 1
    c.model.hidden_dim = 64
    c.model.intermediate_dim = 128
    c.train.max_steps = 100
    c.train.learning_rate = 0.003  # 100 steps: a higher rate than the full run's
    c.data.max_train_examples = 2000
    c.data.max_test_examples = 500
    c.teacher.max_steps = 20
    c.teacher.max_train_examples = 256
    c.distill.max_steps = 100
    c.distill.max_train_examples = 2000
    return c
