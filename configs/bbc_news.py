"""BBC News 5-class topics (English articles), seeded stratified 80/20 split.

Offline: --config.data.dir=<bbc folder with one sub-folder per class> or $PIPELINE_DATA_DIR/bbc.
configs/bbc_news.py:tiny is the same made small (text_classification.config.tiny).
"""

from pipeline.config_defaults import sized
from pipeline.tasks.text_classification.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.update(name="bbc", subdir="bbc", test_fraction=0.2)
    c.tokenizer.update(vocabulary_size=8000, sequence_length=256)  # title and article opening
    c.model.update(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512,
                   init_embeddings_from_teacher=True)  # needs the teacher extra (MiniLM)
    c.stages.update(pretrain=True, finetune=True)
    c.train.update(batch_size=32, epochs=12)
    c.pretrain.epochs = 8
    c.export.update(name="BBC News topics",
                    description="Classifies an English news article into one of 5 BBC topics.")
    return sized(c, arg, tiny)
