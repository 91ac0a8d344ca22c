"""A causal LM (pipeline/models/causal_lm.py) as ONE `.tflite` with two signatures and an
explicit KV cache, checked for the converter's silent failures before it is kept.

    info = export_causal_lm(model, "lm_fp32.tflite", variant="fp32", prefill_length=32)

Signatures (batch 1, static shapes, D = kv_heads * head_dim, C = max_length):
  prefill: tokens int32 [1, P], length int32 [1] (real tokens; the rest is padding),
           start int32 [1], key_<i>/value_<i> float32 [1, C, D]
           -> logits float32 [1, V] (of the last real token), key_<i>/value_<i> [1, C, D]
  decode:  token int32 [1, 1], position int32 [1], key_<i>/value_<i>
           -> logits [1, V], key_<i>/value_<i>
prefill takes the cache too, so that a prompt longer than P is prefilled in chunks and a
conversation continues where it stopped; a fresh generation passes zeros.

Path: a Keras `ExportArchive` SavedModel that tracks the model (its variables saved) with one
endpoint per signature, converted by `TFLiteConverter.from_saved_model(dir, [prefill, decode])`
with builtin ops only. Why not the live functions: `from_concrete_functions` on the model's
own tf.functions leaves the weights as unsaved resource variables (a file without weights whose
logits are zero, or here NaN), and the concrete functions of a loaded SavedModel are named
after `signature_wrapper` (one signature lost in older TF; `signature_wrapper_<name>` keys
with TF 2.21), not `prefill`/`decode`. `check_model` catches both, and what
else a converter can get silently wrong, as one UserError line:
  * a file much smaller than the variant's parameter bytes (weights missing);
  * a missing signature, or inputs/outputs not the expected names and static shapes;
  * non-builtin ops, a tensor of rank > 4, GATHER with indices of rank > 1;
  * non-finite, all-zero or constant logits on a test prompt, through both signatures.
Variants: fp32; fp16 (float16 weights; the token table gets a run-time zero added before the
GATHER, which LiteRT's GPU backend refuses on a DEQUANTIZEd float16 table); int8 (dynamic
range: int8 weights, activations quantized on the fly).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from export.contract import UserError, cannot_write, write_bytes_atomic

PREFILL, DECODE = "prefill", "decode"
VARIANTS = ("fp32", "fp16", "int8")
BYTES_PER_PARAM = {"fp32": 4, "fp16": 2, "int8": 1}
MIN_SIZE_FRACTION = 0.5  # a file below half its variant's parameter bytes lost its weights
MAX_RANK = 4


def cache_names(num_layers: int) -> list:
    """Signature names of the cache tensors, in order: key_0, value_0, key_1, ..."""
    return [f"{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]


def signature_shapes(config, prefill_length: int) -> dict:
    """{signature: (inputs {name: (dtype, shape)}, outputs {name: (dtype, shape)})}."""
    cache = {n: ("float32", (1, config.max_length, config.cache_dim))
             for n in cache_names(config.num_layers)}
    logits = {"logits": ("float32", (1, config.vocabulary_size))}
    return {
        PREFILL: ({"tokens": ("int32", (1, prefill_length)), "length": ("int32", (1,)),
                   "start": ("int32", (1,)), **cache}, {**logits, **cache}),
        DECODE: ({"token": ("int32", (1, 1)), "position": ("int32", (1,)), **cache},
                 {**logits, **cache}),
    }


def _pairs(flat):
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _outputs(logits, caches, names) -> dict:
    flat = [t for pair in caches for t in pair]
    return {"logits": logits, **dict(zip(names, flat))}


def serving_functions(model, prefill_length: int, variant: str = "fp32",
                      cache_update: str = "mask") -> dict:
    """{signature: (python function, input signature)} of the batch-1 cached paths."""
    import tensorflow as tf
    from keras import ops

    cfg = model.config
    names = cache_names(cfg.num_layers)
    caches = [tf.TensorSpec((1, cfg.max_length, cfg.cache_dim), tf.float32, name=n)
              for n in names]

    def offset(position):  # a run-time zero for the fp16 file's table (see the module doc):
        if variant != "fp16":  # min(start, 0), start >= 0; no slice of the ids (STRIDED_SLICE)
            return None
        return ops.reshape(ops.cast(ops.minimum(position, 0), "float32"), (1, 1))

    def prefill(tokens, length, start, *flat):
        logits, new = model.prefill(tokens, length, start, _pairs(flat), cache_update,
                                    offset(start))
        return _outputs(logits, new, names)

    def decode(token, position, *flat):
        logits, new = model.decode(token, position, _pairs(flat), cache_update, offset(position))
        return _outputs(logits, new, names)

    return {
        PREFILL: (prefill, [tf.TensorSpec((1, prefill_length), tf.int32, name="tokens"),
                            tf.TensorSpec((1,), tf.int32, name="length"),
                            tf.TensorSpec((1,), tf.int32, name="start"), *caches]),
        DECODE: (decode, [tf.TensorSpec((1, 1), tf.int32, name="token"),
                          tf.TensorSpec((1,), tf.int32, name="position"), *caches]),
    }


def write_saved_model(model, directory: str, prefill_length: int, variant: str = "fp32",
                      cache_update: str = "mask") -> None:
    """A SavedModel with the model's variables and the `prefill` and `decode` signatures."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, signature) in serving_functions(model, prefill_length, variant,
                                                   cache_update).items():
        archive.add_endpoint(name, fn, input_signature=signature)
    archive.write_out(directory, verbose=False)


def convert_saved_model(directory: str, variant: str) -> bytes:
    """The TFLite converter on both signatures, builtin ops only, with the variant's settings."""
    import tensorflow as tf

    if variant not in VARIANTS:
        raise UserError(f"variant {variant!r}: must be one of {', '.join(VARIANTS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(directory, [PREFILL, DECODE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    if variant in ("fp16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


# ---------------------------------------------------------------------------------------------
# Checks on the converted bytes
# ---------------------------------------------------------------------------------------------
def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except Exception:  # pragma: no cover - same fallback as export/tflite/reader.py
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def signature_graphs(model_bytes: bytes) -> dict:
    """{signature: {"ops": {op: count}, "max_rank": int, "gather_index_ranks": [..],
    "custom": [names]}} for each signature's subgraph, read from the flatbuffer."""
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items()
             if not k.startswith("_") and isinstance(v, int)}
    m = schema.Model.GetRootAsModel(model_bytes, 0)
    result = {}
    for s in range(m.SignatureDefsLength()):
        sig = m.SignatureDefs(s)
        g = m.Subgraphs(sig.SubgraphIndex())
        ops, gather_ranks, custom = {}, [], []
        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            code = m.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = names.get(builtin, str(builtin))
            if name == "CUSTOM":
                name = f"CUSTOM:{code.CustomCode().decode('utf-8', 'replace')}"
                custom.append(name)
            ops[name] = ops.get(name, 0) + 1
            if name == "GATHER":
                gather_ranks.append(g.Tensors(op.Inputs(1)).ShapeLength())
        max_rank = max((g.Tensors(t).ShapeLength() for t in range(g.TensorsLength())),
                       default=0)
        result[sig.SignatureKey().decode("utf-8")] = {
            "ops": dict(sorted(ops.items())), "num_ops": g.OperatorsLength(),
            "max_rank": max_rank, "gather_index_ranks": gather_ranks, "custom": custom}
    return result


def test_prompt(config, prefill_length: int) -> np.ndarray:
    """A fixed prompt of ids spread over the vocabulary (length about P/2)."""
    n = max(1, prefill_length // 2)
    return (np.arange(n, dtype=np.int64) * 7919 + 3) % config.vocabulary_size


def _problems_of_run(model_bytes: bytes, config, prefill_length: int) -> list:
    from export.tflite.runner import load_interpreter_class

    interpreter_class, _ = load_interpreter_class()
    interpreter = interpreter_class(model_content=model_bytes)
    names = cache_names(config.num_layers)
    shape = (1, config.max_length, config.cache_dim)
    caches = {n: np.zeros(shape, np.float32) for n in names}
    prompt = test_prompt(config, prefill_length)
    tokens = np.zeros((1, prefill_length), np.int32)
    tokens[0, :len(prompt)] = prompt
    out = interpreter.get_signature_runner(PREFILL)(
        tokens=tokens, length=np.array([len(prompt)], np.int32),
        start=np.zeros((1,), np.int32), **caches)
    problems = []
    for step, sig in enumerate((PREFILL, DECODE)):
        logits = np.asarray(out["logits"], np.float64)
        if not np.all(np.isfinite(logits)):
            problems.append(f"{sig} gives non-finite logits on a test prompt")
        elif not np.any(logits):
            problems.append(f"{sig} gives all-zero logits on a test prompt (weights not saved)")
        elif np.ptp(logits) == 0:
            problems.append(f"{sig} gives constant logits on a test prompt")
        if step == 0:
            caches = {n: out[n] for n in names}
            token = np.array([[int(np.argmax(logits))]], np.int32)
            out = interpreter.get_signature_runner(DECODE)(
                token=token, position=np.array([len(prompt)], np.int32), **caches)
    return problems


def check_model(model_bytes: bytes, variant: str, config, num_params: int,
                prefill_length: int, where: str = "<converted model>") -> dict:
    """Raises UserError (one line naming `where`) when the converted file is one of the
    converter's silent failures (see the module doc); else its signature graphs."""
    from export.tflite.runner import load_interpreter_class

    floor = int(MIN_SIZE_FRACTION * num_params * BYTES_PER_PARAM[variant])
    if len(model_bytes) < floor:
        raise UserError(f"{where}: {len(model_bytes):,} bytes, less than {MIN_SIZE_FRACTION:g}"
                        f" x the {num_params:,} parameters at {BYTES_PER_PARAM[variant]} bytes "
                        f"each ({variant}): the weights were not saved (convert from a "
                        "SavedModel that tracks the model's variables)")
    interpreter_class, _ = load_interpreter_class()
    try:
        interpreter = interpreter_class(model_content=model_bytes)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"{where}: the runtime cannot load it ({' '.join(str(e).split())[:200]})"
                        ) from None
    found = interpreter.get_signature_list()
    missing = [s for s in (PREFILL, DECODE) if s not in found]
    if missing:
        raise UserError(f"{where}: signature {' and '.join(missing)} missing (found "
                        f"{sorted(found) or 'none'}): convert the SavedModel by its "
                        "signature keys, TFLiteConverter.from_saved_model(dir, ['prefill', "
                        "'decode'])")
    for sig, (inputs, outputs) in signature_shapes(config, prefill_length).items():
        runner = interpreter.get_signature_runner(sig)
        for kind, want, details in (("input", inputs, runner.get_input_details()),
                                    ("output", outputs, runner.get_output_details())):
            got = {n: (np.dtype(d["dtype"]).name, tuple(int(x) for x in d["shape"]))
                   for n, d in details.items()}
            if got != want:
                diff = sorted(set(got.items()) ^ set(want.items()))[:3]
                raise UserError(f"{where}: {sig} {kind}s are not as expected ({diff})")
    graphs = signature_graphs(model_bytes)
    for sig, g in graphs.items():
        if g["custom"]:
            raise UserError(f"{where}: {sig} has non-builtin ops {sorted(set(g['custom']))}")
        if g["max_rank"] > MAX_RANK:
            raise UserError(f"{where}: {sig} has a tensor of rank {g['max_rank']} > {MAX_RANK}")
        if any(r > 1 for r in g["gather_index_ranks"]):
            raise UserError(f"{where}: {sig} has GATHER with indices of rank > 1 (the GPU "
                            "backend takes 1-D indices only)")
    problems = _problems_of_run(model_bytes, config, prefill_length)
    if problems:
        raise UserError(f"{where}: {'; '.join(problems)}")
    return graphs


def export_causal_lm(model, path: str, variant: str = "fp32", prefill_length: int = 32,
                     cache_update: str = "mask") -> dict:
    """Converts `model` to `path` (temp file + fsync + rename, only after `check_model`
    passed); returns {"variant", "bytes", "params", "signatures": signature_graphs}."""
    from pipeline.models.causal_lm import CACHE_UPDATES, count_params

    cfg = model.config
    if variant not in VARIANTS:
        raise UserError(f"variant {variant!r}: must be one of {', '.join(VARIANTS)}")
    if cache_update not in CACHE_UPDATES:
        raise UserError(f"cache_update {cache_update!r}: must be one of "
                        f"{', '.join(CACHE_UPDATES)}")
    if not 1 <= prefill_length <= cfg.max_length:
        raise UserError(f"prefill_length {prefill_length}: must be in 1..max_length "
                        f"({cfg.max_length})")
    with tempfile.TemporaryDirectory(prefix="kv-cache-export-") as tmp:
        saved = os.path.join(tmp, "saved_model")
        write_saved_model(model, saved, prefill_length, variant, cache_update)
        model_bytes = convert_saved_model(saved, variant)
    params = count_params(model)
    graphs = check_model(model_bytes, variant, cfg, params, prefill_length, where=str(path))
    try:
        write_bytes_atomic(model_bytes, os.fspath(path))
    except OSError as e:
        raise cannot_write(os.fspath(path), e) from None
    return {"variant": variant, "bytes": len(model_bytes), "params": params,
            "prefill_length": prefill_length, "max_length": cfg.max_length,
            "signatures": graphs}
