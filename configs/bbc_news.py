"""BBC News 5-class topics (English articles), seeded stratified 80/20 split.

Offline: --config.data.dir=<bbc folder with one sub-folder per class> or $PIPELINE_DATA_DIR/bbc.
configs/bbc_news.py:tiny is the same made small (text_classification.config.tiny).
"""

from pipeline.config_defaults import TINY, config_argument
from pipeline.tasks.text_classification.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.name = "bbc"
    c.data.subdir = "bbc"
    c.data.test_fraction = 0.2
    c.tokenizer.vocabulary_size = 8000
    c.tokenizer.sequence_length = 256  # title and the article's opening
    c.model.num_layers = 2
    c.model.hidden_dim = 128
    c.model.num_heads = 2
    c.model.intermediate_dim = 512
    c.model.init_embeddings_from_teacher = True  # needs the teacher extra (MiniLM)
    c.stages.pretrain = True
    c.stages.finetune = True
    c.train.batch_size = 32
    c.train.epochs = 12
    c.pretrain.epochs = 8
    c.export.name = "BBC News topics"
    c.export.description = "Classifies an English news article into one of 5 BBC topics."
    if config_argument(arg) == TINY:
        tiny(c)
    return c
