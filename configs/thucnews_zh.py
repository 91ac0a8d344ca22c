"""THUCNews 10-class Chinese news titles: train on dev.txt (10k), test on test.txt (10k).

Offline: --config.data.dir=<folder with dev.txt, test.txt, class.txt> or $PIPELINE_DATA_DIR/thucnews.
configs/thucnews_zh.py:tiny is the same made small (text_classification.config.tiny).
"""

from pipeline.config_defaults import TINY, config_argument
from pipeline.tasks.text_classification.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.name = "thucnews"
    c.data.subdir = "thucnews"
    c.data.train_file = "dev.txt"
    c.data.test_file = "test.txt"
    c.tokenizer.vocabulary_size = 6000  # CJK characters are single tokens
    c.tokenizer.sequence_length = 48
    c.model.num_layers = 2
    c.model.hidden_dim = 128
    c.model.num_heads = 2
    c.model.intermediate_dim = 512
    c.stages.pretrain = True
    c.stages.finetune = True
    c.train.batch_size = 64
    c.train.epochs = 6
    c.pretrain.epochs = 6
    c.export.name = "THUCNews titles (zh)"
    c.export.description = "Classifies a Chinese news title into one of 10 topics."
    if config_argument(arg) == TINY:
        tiny(c)
    return c
