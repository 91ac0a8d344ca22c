"""One variant of a model as TFLite bytes: tracing, the converter's settings, static checks.

Variants:
  fp32          float32 weights and activations
  fp16          float16 weights (DEQUANTIZE to float32 at load), float32 activations
  int8_dynamic  int8 weights, float32 activations quantized on the fly (dynamic range)
  int8_full     int8 weights and activations, calibrated on representative inputs from the
                train split; int32 inputs stay int32 and the output is float32, computed in
                float: the output layer (the classifier's last FULLY_CONNECTED and SOFTMAX,
                the recommender's scoring FULLY_CONNECTED) is left out of quantization
                (export/conversion/float_head.py), so probabilities and scores are not in
                steps of 1/256 and do not tie; the recommender's scoring layer reads the item
                embedding's int8 table through a DEQUANTIZE (one table in the file). The
                three RSQRT ops of each layer norm stay float32 (QUANTIZE/DEQUANTIZE around
                them): NNAPI has no int8 RSQRT.

Conversion path: a Keras `ExportArchive` SavedModel whose endpoint is the task's `serve(model)`
with a fixed `(1, L)` int32 input signature, converted by
`tf.lite.TFLiteConverter.from_saved_model` with builtin ops only (weights frozen to constants).
Each variant's graph is shaped for its delegate (export/graph_shaping.py). A file is checked
before it is kept: builtin ops only, one subgraph, no int64, rank <= 4, no dynamic dimension,
GATHER on 1-D indices in GPU graphs, the task's inputs/output, and for int8_full int8
activations up to the output layer and a float32 output layer.
"""

from __future__ import annotations

import os

from export import graph_shaping
from export.contract import SIGNATURE_KEY, sha256_file
from export.conversion import float_head
from export.tflite import reader as tflite_reader

QUANTIZATION = {
    "fp32": "none: float32 weights and activations",
    "fp16": "float16 weights, float32 activations",
    "int8_dynamic": "int8 weights, dynamic-range int8 activations, float32 output",
    "int8_full": "int8 weights and activations (calibrated on the train split); int32 inputs, "
                 "float32 output layer and output",
}
FLOAT_OPS_IN_INT8 = ("RSQRT",)


class ConversionError(Exception):
    """A variant could not be converted or its file failed the static checks."""


def write_saved_model(model, sequence_length: int, directory: str,
                      target: str, task) -> None:
    """A SavedModel whose `serving_default` takes the task's int32 [1, L] inputs and returns
    {task.output_name: ...} (classifier: softmax probabilities; recommender: scores), traced
    for `target` (export/graph_shaping.py)."""
    import keras
    import tensorflow as tf

    serving = graph_shaping.shaped_for(model, target)
    archive = keras.export.ExportArchive()
    archive.track(serving)
    archive.add_endpoint(SIGNATURE_KEY, task.serve(serving), input_signature=[
        tf.TensorSpec((1, sequence_length), tf.int32, name=name) for name in task.input_names])
    archive.write_out(directory, verbose=False)


def convert_to_bytes(saved_model_dir: str, variant: str, representative_inputs=None) -> bytes:
    """Runs the TFLite converter for one variant (builtin ops only)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, [SIGNATURE_KEY])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8_dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # Per-tensor dense weights: per-channel ones make FULLY_CONNECTED op version 12, which
        # the TFLite Task Library's last runtime (tflite-support 0.4.4) cannot load; accuracy
        # was the same both ways on the intents student.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    elif variant == "int8_full":
        names = list(representative_inputs or {})
        if not names or not len(representative_inputs[names[0]]):
            raise ConversionError("int8_full needs representative examples")

        def representative_dataset():
            for i in range(len(representative_inputs[names[0]])):
                yield {name: representative_inputs[name][i:i + 1] for name in names}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.inference_output_type = tf.float32  # documented choice, see module docstring
        # RSQRT stays float: NNAPI rejects an int8 RSQRT (export/checks/nnapi_rules.py).
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative_dataset,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_ops=list(FLOAT_OPS_IN_INT8)))
        # The output layer stays float too (export/conversion/float_head.py): its nodes are
        # named in the calibrated model, then quantized again without them.
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=list(FLOAT_OPS_IN_INT8),
            denylisted_nodes=float_head.head_nodes(debugger.calibrated_model))
        data, _ = float_head.dequantize_tied_weights(debugger.get_nondebug_quantized_model())
        return data
    elif variant != "fp32":
        raise ConversionError(f"unknown variant {variant!r}")
    return converter.convert()


def check_file(info: tflite_reader.ModelInfo, variant: str, sequence_length: int,
               num_classes: int, input_names, output_name) -> list:
    """Static problems of a converted file ([] = fine); `num_classes` is the output width."""
    target = graph_shaping.TARGETS[graph_shaping.TARGET_OF_VARIANT.get(variant, graph_shaping.GPU)]
    problems = tflite_reader.static_problems(info, gather_1d=target.flat_token_ids)
    sig = info.signatures.get(SIGNATURE_KEY)
    if sig is None or sorted(sig["inputs"]) != sorted(input_names) \
            or list(sig["outputs"]) != [output_name]:
        problems.append(f"signature {SIGNATURE_KEY} is {sig}, expected inputs "
                        f"{list(input_names)} and output {output_name}")
    got = [(t.name, t.dtype, t.shape) for t in info.inputs]
    want = [(name, "int32", (1, sequence_length)) for name in input_names]
    if got != want:
        problems.append(f"inputs are {got}, expected {want}")
    got = [(t.name, t.dtype, t.shape) for t in info.outputs]
    want = [(output_name, "float32", (1, num_classes))]
    if got != want:
        problems.append(f"outputs are {got}, expected {want}")
    if variant == "int8_full":
        head = {id(op) for op in float_head.head_ops(info)}
        heavy = [op for op in info.ops if op.op in ("FULLY_CONNECTED", "BATCH_MATMUL")
                 and id(op) not in head]
        floats = [op for op in heavy if op.inputs[0] is not None and op.inputs[0].dtype != "int8"]
        if not heavy or floats:
            problems.append(f"{len(floats)} of {len(heavy)} FULLY_CONNECTED/BATCH_MATMUL ops "
                            "before the output layer have non-int8 activations")
        problems += float_head.head_problems(info)
    return problems


def convert_variant(saved_model_dir, variant, sequence_length, num_classes, input_names,
                    output_name, representative_inputs=None) -> bytes:
    """Converted, renamed and statically checked bytes of one variant; ConversionError if not."""
    try:
        raw = convert_to_bytes(saved_model_dir, variant, representative_inputs)
    except ConversionError:
        raise
    except Exception as e:  # converter errors are long multi-line texts: keep one line
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
        raise ConversionError(f"converter failed ({type(e).__name__}: {detail[:300]})") from e
    data = tflite_reader.rename_io(raw, input_order=input_names, signature_key=SIGNATURE_KEY)
    problems = check_file(tflite_reader.read_model(data), variant, sequence_length, num_classes,
                          input_names, output_name)
    if problems:
        raise ConversionError("; ".join(problems))
    return data


def describe_file(path: str, **fields) -> dict:
    """A manifest file entry: `fields` first, then sha256, bytes, inputs, outputs, ops, checks."""
    info = tflite_reader.read_model(path)
    return {
        **fields,
        "sha256": sha256_file(path),
        "bytes": os.path.getsize(path),
        "inputs": [t.to_json() for t in info.inputs],
        "outputs": [t.to_json() for t in info.outputs],
        "ops": info.op_counts(),
        "checks": {},
    }
