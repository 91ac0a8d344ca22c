"""A tiny intents student for the CI conversion gate (.ci/run): about 30 s to train on 2 cores.

  python -m pipeline.train --config=configs/ci_tiny.py --workdir=runs/ci
  python -m export.convert --workdir=runs/ci
  python -m export.check runs/ci/export --require=nnapi=30,parity,metadata,size

Same data and architecture family as configs/assistant_intents.py, one small layer, no
pretraining, 100 steps: it learns enough (accuracy ~0.8) for parity and int8 checks to mean
something.
"""

from configs.assistant_intents import get_config as intents_config


def get_config():
    c = intents_config()
    c.stages.pretrain = False
    c.train.max_steps = 100
    c.train.learning_rate = 0.003
    c.model.num_layers = 1
    c.model.hidden_dim = 64
    c.model.intermediate_dim = 128
    c.export.name = "Assistant intents (EN/ZH), CI build"
    return c
