"""Voice-assistant intents, English + Chinese, 11 classes: the project's shipped dataset.

Runs offline on a fresh machine in a few minutes:
  python -m pipeline.train --config=configs/assistant_intents.py --workdir=runs/intents

`:tiny` is the CI conversion gate's student (.ci/run), about 30 s to train on 2 cores: the same
data and architecture family, one small layer, no pretraining, 100 steps; it learns enough
(accuracy ~0.8) for the parity and int8 checks to mean something:
  python -m pipeline.train --config=configs/assistant_intents.py:tiny --workdir=runs/ci
  python -m export.convert --workdir=runs/ci
  python -m export.check runs/ci/export --require=nnapi=30,parity,metadata,size
"""

from pipeline.config_defaults import TINY, config_argument
from pipeline.tasks.text_classification.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.data.name = "assistant_intents"
    c.data.train_file = "train.jsonl"
    c.data.test_file = "test.jsonl"
    c.tokenizer.vocabulary_size = 2000
    c.tokenizer.sequence_length = 32
    c.model.num_layers = 2
    c.model.hidden_dim = 128
    c.model.num_heads = 2
    c.model.intermediate_dim = 256
    c.stages.teacher = False  # optional: --config.stages.teacher=True --config.stages.distill=True
    c.stages.pretrain = True
    c.stages.finetune = True
    c.stages.distill = False
    c.train.batch_size = 32
    c.train.epochs = 30
    c.train.learning_rate = 1e-3
    c.pretrain.epochs = 30
    c.teacher.epochs = 3
    c.teacher.max_train_examples = 0
    c.export.name = "Assistant intents (EN/ZH)"
    c.export.description = "Classifies a short voice-assistant command into one of 11 phone intents."
    if config_argument(arg) == TINY:
        tiny(c)
        c.export.name = "Assistant intents (EN/ZH), CI build"
    return c
