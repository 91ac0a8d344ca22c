"""Voice-assistant commands -> actions (English + Chinese): the generative assistant's causal LM.

Runs offline on the shipped dataset (pipeline/data/assistant_intents/, its `action` field):
  nice -n 10 python -m pipeline.train --config=configs/assistant_actions.py --workdir=runs/actions

`:tiny` is the same made small (one small layer, 20 + 40 steps, 40 test commands), seconds to
train, for tests and the export checks:
  python -m pipeline.train --config=configs/assistant_actions.py:tiny --workdir=runs/actions_ci
Settings chosen on a held-out part of train only (--config.data.validation_fraction=0.2).
"""

from pipeline.config_defaults import sized
from pipeline.tasks.action.config import default_config, tiny


def get_config(arg=""):
    c = default_config()
    c.tokenizer.update(vocabulary_size=3000)
    c.model.update(num_layers=4, hidden_dim=256, num_heads=4, num_kv_heads=2,
                   intermediate_dim=512, max_length=128, prompt_length=32)
    c.train.update(batch_size=32, warmup_fraction=0.1, weight_decay=0.01,
                   checkpoint_every_steps=200)
    c.lm_pretrain.update(epochs=3, learning_rate=1e-3)
    # Chosen on validation (--config.data.validation_fraction=0.2), exact match constrained:
    # 15 epochs, no swapped copies 0.230; 8 epochs + 2 swapped copies 0.348 (vocabulary 1000:
    # 0.320); 8 epochs + 4 copies, half of their values made up 0.350; the same, 20 epochs
    # 0.480; 40 epochs 0.511 (kept).
    c.finetune.update(epochs=40, learning_rate=1e-3, swap_copies=4, synthetic_values=0.5)
    c.export.update(name="Assistant actions (EN/ZH)", int8_budget_mb=10.0,  # the goal
                    description="Writes the action (intent and slots) a short voice-assistant "
                                "command asks for, token by token.")
    return sized(c, arg, tiny)
