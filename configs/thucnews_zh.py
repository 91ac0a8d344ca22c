"""THUCNews 10-class Chinese news titles: train on dev.txt (10k), test on test.txt (10k).

Offline: --config.data.dir=<folder with dev.txt, test.txt, class.txt> or $PIPELINE_DATA_DIR/thucnews.
configs/thucnews_zh.py:tiny is the same made small (text_classification.config.tiny).
"""

from pipeline.config_defaults import sized
from pipeline.tasks.text_classification.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.update(name="thucnews", subdir="thucnews", train_file="dev.txt", test_file="test.txt")
    c.tokenizer.update(vocabulary_size=6000, sequence_length=48)  # CJK characters: one token each
    c.model.update(num_layers=2, hidden_dim=128, num_heads=2, intermediate_dim=512)
    c.stages.update(pretrain=True, finetune=True)
    c.train.update(batch_size=64, epochs=6)
    c.pretrain.epochs = 6
    c.export.update(name="THUCNews titles (zh)",
                    description="Classifies a Chinese news title into one of 10 topics.")
    return sized(c, arg, tiny)
