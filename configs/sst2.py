"""GLUE SST-2 binary sentiment (English). Evaluates on the dev split (872 sentences).

Offline: --config.data.dir=<folder with train.tsv, dev.tsv> or $PIPELINE_DATA_DIR/sst2.
Online: TFDS glue/sst2 (train / validation).
configs/sst2.py:tiny is the same made small (text_classification.config.tiny).
"""

from pipeline.config_defaults import TINY, config_argument
from pipeline.tasks.text_classification.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.name = "sst2"
    c.data.subdir = "sst2"
    c.data.tfds_name = "glue/sst2"
    c.tokenizer.vocabulary_size = 8000
    c.tokenizer.sequence_length = 64
    c.model.num_layers = 2
    c.model.hidden_dim = 128
    c.model.num_heads = 2
    c.model.intermediate_dim = 512
    c.stages.teacher = True
    c.stages.pretrain = True
    c.stages.finetune = True
    c.stages.distill = True
    c.train.batch_size = 64
    c.train.epochs = 3
    c.train.learning_rate = 1e-3
    c.pretrain.epochs = 2
    c.teacher.max_train_examples = 6000
    c.teacher.epochs = 2
    c.distill.max_train_examples = 20000
    c.distill.epochs = 4
    c.export.name = "SST-2 sentiment"
    c.export.description = "Classifies an English sentence as negative or positive."
    if config_argument(arg) == TINY:
        tiny(c)
    return c
