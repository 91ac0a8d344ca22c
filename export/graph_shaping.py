"""Which serving graph each exported file gets, and the trained model rebuilt with it.

    serving = graph_shaping.shaped_for(model, graph_shaping.NNAPI)   # same weights
    archive.track(serving)                    # then trace `serving` at batch 1 for conversion

Training uses keras-hub's layers unchanged (batched einsum attention, Keras masked softmax,
token gather on flattened ids). The model code takes an explicit `target` (None = that
training graph) and writes each delegate's batch-1 graph itself, with the same weights and the
same math; `pipeline/models/student.py` holds the table (`TARGETS`) and the layers:

* Attention (`DelegateTransformerEncoder`, keras-hub's `TransformerEncoder` subclassed):
  at batch 1 each head is two plain 2-D matmuls, `q_h @ k_h^T` and `p_h @ v_h`, which the
  converter writes as FULLY_CONNECTED ops with run-time weights, instead of rank-4 einsums
  that become BATCH_MATMUL; and the padding/causal mask is an additive bias
  `(mask - 1) * penalty` added before SOFTMAX, instead of Keras' `where(mask, scores, -1e9)`
  (SELECT_V2 and a bool CAST). Why: the TFLite NNAPI delegate has no BATCH_MATMUL case and
  rejects SELECT_V2 and bool casts (export/checks/nnapi_rules.py), and -1e9 would wipe out the int8
  range of the scores. The penalty is 30 for int8 graphs (e^-30 ~ 1e-13: masked keys get no
  weight, and the scores keep ~0.15 per int8 step) and 1e4 for float graphs (safe in fp16).
* Token embeddings (`FlatTokenEmbedding`): the LiteRT GPU backend takes GATHER only with 1-D
  indices, so float graphs reshape the [1, L] ids to [L] first; the NNAPI delegate rejects an
  int32 RESHAPE but takes GATHER with [1, L] indices, so NNAPI graphs gather on the ids as
  they come.
* The float16-weights file: LiteRT's GPU backend refuses a GATHER whose table is a DEQUANTIZEd
  float16 constant ("GATHER: Input / output dtype mismatch"), so its graph (GPU_FP16) adds a
  run-time zero, `min(ids[0, 0], 0)` as float, to the table before the gather.

Targets: GPU for fp32 and int8_dynamic, GPU_FP16 for fp16, NNAPI for int8_full.
"""

from __future__ import annotations

# Defined by the model code, read from it on first use so that importing this module stays
# free of Keras and TensorFlow (the export CLI imports it before it needs either).
_MODEL_CODE_NAMES = ("GPU", "GPU_FP16", "NNAPI", "Target", "TARGETS", "FLOAT_MASK_PENALTY",
                     "INT8_MASK_PENALTY", "target_spec")


def __getattr__(name):
    """`TARGETS`, `Target`, `GPU`, `GPU_FP16`, `NNAPI`, ... from pipeline/models/student.py,
    and `TARGET_OF_VARIANT`: the target of each variant's file."""
    if name != "TARGET_OF_VARIANT" and name not in _MODEL_CODE_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from pipeline.models import student

    if name == "TARGET_OF_VARIANT":
        value = {"fp32": student.GPU, "fp16": student.GPU_FP16, "int8_dynamic": student.GPU,
                 "int8_full": student.NNAPI}
    else:
        value = getattr(student, name)
    globals()[name] = value  # looked up once
    return value


def _shaped_model_names() -> set:
    """Registered names of the models that take `target` (and pass it to their layers)."""
    import keras

    from pipeline.models import sequential_recommender, student
    return {keras.saving.get_registered_name(cls)
            for cls in (student.StudentBackbone, sequential_recommender.SequentialRecommender)}


def _retarget(serialized, target, names) -> int:
    """Sets `target` in every serialized config of a model in `names`; how many it set."""
    count = 0
    if isinstance(serialized, dict):
        if serialized.get("registered_name") in names and isinstance(serialized.get("config"), dict):
            serialized["config"]["target"] = target
            count += 1
        for value in serialized.values():
            count += _retarget(value, target, names)
    elif isinstance(serialized, list):
        for value in serialized:
            count += _retarget(value, target, names)
    return count


def shaped_for(model, target: str):
    """`model` rebuilt from its own config with `target`'s serving graph, with its weights.

    Works on a trained or loaded model (a `StudentBackbone` or `SequentialRecommender`, or a
    functional model around one, such as `build_classifier`'s); `model` itself is unchanged.
    The result computes the same function; trace it at batch 1 for the target's graph."""
    import keras

    from pipeline.models.student import target_spec
    target_spec(target)  # ValueError on an unknown name
    serialized = keras.saving.serialize_keras_object(model)
    serialized.pop("compile_config", None)  # a serving copy needs no optimizer or loss
    if not _retarget(serialized, target, _shaped_model_names()):
        raise ValueError(f"{model.name}: no part of it takes a serving target (expected a "
                         "pipeline StudentBackbone or SequentialRecommender)")
    shaped = keras.saving.deserialize_keras_object(serialized)
    source_paths = [w.path for w in model.weights]
    shaped_paths = [w.path for w in shaped.weights]
    if source_paths != shaped_paths:  # set_weights copies by position: check they line up
        raise ValueError(f"{model.name}: the rebuilt model's weights differ from the model's "
                         f"({len(shaped_paths)} vs {len(source_paths)})")
    shaped.set_weights(model.get_weights())
    return shaped
