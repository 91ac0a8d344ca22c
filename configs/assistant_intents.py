"""Voice-assistant intents, English + Chinese, 11 classes: the project's shipped dataset.

Runs offline on a fresh machine in a few minutes:
  python -m pipeline.train --config=configs/assistant_intents.py --workdir=runs/intents
"""

from pipeline.config_defaults import default_config


def get_config():
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
    return c
