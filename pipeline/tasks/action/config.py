"""Config fields, defaults and ranges of the action task (configs/assistant_actions.py).

`default_config()` is the shared fields (`pipeline.config_defaults.base_config`) plus the data
files, the byte-level BPE tokenizer, the causal LM's sizes, the two stages (`lm_pretrain`:
a causal LM on unlabeled text; `finetune`: command -> action, loss on the action tokens only)
and greedy decoding; `RULES` and `cross_check` are this task's part of
`pipeline.config_defaults.validate`; `tiny(c)` makes a config small.
"""

import ml_collections

from pipeline import config_defaults as base
from pipeline.config_defaults import BOOLEAN, LEARNING_RATE, NAME, TEXT, integer, number, one_of

TASK = "action"
STAGES = ("lm_pretrain", "finetune")  # the order they run in
FORMATS = ("assistant_actions",)  # jsonl rows {"text", "label", "lang", "action"}
SPECIAL_TOKENS = 4  # pad, bos, eos, sep (pipeline/tasks/action/tokenizer.py)


def default_config() -> ml_collections.ConfigDict:
    """The shared fields plus this task's, with their defaults."""
    c = base.base_config(TASK)
    c.data.name = "assistant_actions"
    c.data.train_file = "train.jsonl"  # inside data.dir (default: the shipped dataset's folder)
    c.data.test_file = "test.jsonl"
    # > 0: hold this seeded part of train out (per label and language) and evaluate on it
    # instead of the test split (for choosing settings without seeing the test split).
    c.data.validation_fraction = 0.0
    c.data.max_train_examples = 0  # 0 = all; a seeded subset otherwise.
    c.data.max_test_examples = 0  # 0 = all; the first N of a seeded order otherwise.
    c.data.extra_text_files = ""  # comma-separated unlabeled text files for lm_pretrain.

    # Byte-level BPE trained on the training commands and actions (tokenizer.py).
    c.tokenizer = ml_collections.ConfigDict()
    c.tokenizer.vocabulary_size = 3000
    c.tokenizer.min_frequency = 2

    # The causal LM (pipeline/models/causal_lm.py): Llama-style, SwiGLU, no dropout.
    c.model.num_layers = 4
    c.model.hidden_dim = 256
    c.model.num_heads = 4
    c.model.num_kv_heads = 2
    c.model.intermediate_dim = 512
    c.model.activation = "silu"  # the SwiGLU gate; the model has no other
    c.model.dropout = 0.0  # the model has no dropout
    c.model.max_length = 128  # C: cache length = the longest prompt + action, in tokens
    c.model.prompt_length = 32  # P: prefill chunk (the export's prefill signature)
    # A folder from `python -m pipeline.prepare_model` (a pretrained LLM as a CausalLM and its
    # own tokenizer): fine-tuned instead of a model trained here; its sizes replace the
    # model.* sizes above and the tokenizer.* fields are unused. "" = train from scratch.
    c.model.pretrained = ""

    c.stages = ml_collections.ConfigDict()
    c.stages.lm_pretrain = True
    c.stages.finetune = True

    c.lm_pretrain = ml_collections.ConfigDict()
    c.lm_pretrain.epochs = 3
    c.lm_pretrain.max_steps = 0
    c.lm_pretrain.learning_rate = 1e-3

    c.finetune = ml_collections.ConfigDict()
    c.finetune.epochs = 10
    c.finetune.max_steps = 0
    c.finetune.learning_rate = 1e-3
    # Copies of each command with its verbatim values swapped for other training commands'
    # values (stage.swap_values): teaches copying rather than recalling values.
    c.finetune.swap_copies = 0
    # The part of those swapped values that are made up (stage._synthetic_value) rather than
    # another command's: values no training command holds, so recall cannot produce them.
    c.finetune.synthetic_values = 0.0
    # > 0: LoRA adapters of this rank on every projection, the rest frozen, merged into the
    # kernels at the end (pipeline/tasks/action/pretrained.py); 0: every weight trains.
    c.finetune.lora_rank = 0

    c.generation = ml_collections.ConfigDict()
    c.generation.max_new_tokens = 64  # greedy decoding stops here (or at eos / a full cache)
    c.generation.num_examples_shown = 8  # example outputs in metrics.json

    # > 0: the int8_dynamic file's matmul inputs are smoothed with this SmoothQuant alpha
    # (export/conversion/smooth_activations.py: equal in float, less int8 error where a few
    # input channels are outliers, as in pretrained LLMs); 0 = off.
    c.export.int8_smoothing_alpha = 0.0
    return c


RULES = {
    "data.name": one_of(*FORMATS),
    "data.test_file": TEXT,
    "data.validation_fraction": number(0, 1, high_open=True),
    "data.max_train_examples": integer(0),
    "data.max_test_examples": integer(0),
    "data.extra_text_files": TEXT,
    # The 4 special tokens and the 256 bytes come first.
    "tokenizer.vocabulary_size": integer(SPECIAL_TOKENS + 256, 65536),
    "tokenizer.min_frequency": integer(1),
    # pipeline/models/causal_lm.py: CausalLMConfig's own ranges.
    "model.num_layers": integer(1, 6),
    "model.hidden_dim": integer(2),
    "model.num_heads": integer(1).also("divides model.hidden_dim, an even quotient"),
    "model.num_kv_heads": integer(1).also("divides model.num_heads"),
    "model.intermediate_dim": integer(1),
    "model.activation": one_of("silu"),
    "model.dropout": base.Rule("0 (the causal LM has no dropout)", lambda v: v == 0),
    "model.max_length": integer(8, 2048).also("> model.prompt_length"),
    "model.prompt_length": integer(1),
    "model.pretrained": TEXT,
    "stages.lm_pretrain": BOOLEAN,
    "stages.finetune": BOOLEAN.also("must be True: it trains the command -> action model"),
    "lm_pretrain.epochs": integer(1),
    "lm_pretrain.max_steps": integer(0),
    "lm_pretrain.learning_rate": LEARNING_RATE,
    "finetune.epochs": integer(1),
    "finetune.max_steps": integer(0),
    "finetune.learning_rate": LEARNING_RATE,
    "finetune.swap_copies": integer(0, 20),
    "finetune.synthetic_values": number(0, 1),
    "finetune.lora_rank": integer(0, 256),
    "generation.max_new_tokens": integer(1),
    "generation.num_examples_shown": integer(0, 1000),
    "export.int8_smoothing_alpha": number(0, 1),
    "data.train_file": NAME,
}


def cross_check(config) -> None:
    """The conditions between fields; UserError naming the field."""
    m = config.model
    if m.num_heads % m.num_kv_heads:
        raise base.field_error("model.num_kv_heads", m.num_kv_heads,
                               f"must divide --config.model.num_heads={m.num_heads}")
    if (m.hidden_dim // m.num_heads) % 2:
        raise base.field_error("model.num_heads", m.num_heads,
                               f"--config.model.hidden_dim={m.hidden_dim} / num_heads must be "
                               "even (rotary embedding)")
    if m.prompt_length >= m.max_length:
        raise base.field_error("model.prompt_length", m.prompt_length,
                               f"must be < --config.model.max_length={m.max_length} (the cache "
                               "holds the prompt and the action)")
    if config.model.pretrained and config.stages.lm_pretrain:
        raise base.field_error("stages.lm_pretrain", True, "must be False with "
                               "--config.model.pretrained (the model is pretrained already)")
    if config.finetune.lora_rank and not config.model.pretrained:
        raise base.field_error("finetune.lora_rank", config.finetune.lora_rank,
                               "needs --config.model.pretrained (LoRA adapts a pretrained model)")
    if not config.stages.finetune:
        raise base.field_error("stages.finetune", False, "must be True: it is the stage that "
                               "trains command -> action")


def tiny(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Makes `c` a small run (`configs/<file>.py:tiny`): one small layer, a 400-token
    vocabulary, 20 + 40 steps, 40 test commands: seconds, for tests and export checks."""
    c.tokenizer.vocabulary_size = 400
    c.model.update(num_layers=1, hidden_dim=32, num_heads=2, num_kv_heads=2,
                   intermediate_dim=64, max_length=128, prompt_length=32)
    c.lm_pretrain.max_steps = 20
    c.finetune.max_steps = 40
    c.lm_pretrain.learning_rate = c.finetune.learning_rate = 3e-3
    c.data.max_train_examples = 400
    c.data.max_test_examples = 40
    c.generation.num_examples_shown = 4
    return c
