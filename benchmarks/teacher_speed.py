"""Teacher speed on this machine: fixed-length batches against length buckets.

  python benchmarks/teacher_speed.py --data_dir=../shared/datasets/sst2 [--steps=30]

Times MiniLM-L6-H384 (the "minilm" teacher) on SST-2 train sentences: training steps at the
fixed length (64) and in length buckets (`pipeline.stages.bucketed_dataset`), and inference
three ways: Keras at the fixed length, Keras in buckets (`predict_bucketed`, the path
`pipeline.stages.teacher.logits` uses), and a dynamic-range int8 .tflite of the teacher run
with XNNPACK at 2 threads, in the same buckets. Writes benchmarks/teacher_speed.{md,json}.
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def _train_rate(model, dataset_fn, steps, batch_size):
    import keras

    model.compile(optimizer=keras.optimizers.AdamW(5e-5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset_fn().take(3), steps_per_epoch=3, verbose=0)  # traces outside the timing
    started = time.perf_counter()
    model.fit(dataset_fn().skip(3), steps_per_epoch=steps, verbose=0)
    return steps * batch_size / (time.perf_counter() - started)


def _tflite_int8(model, folder):
    import tensorflow as tf

    spec = {k: tf.TensorSpec([None, None], tf.int32, name=k)
            for k in ("token_ids", "padding_mask", "segment_ids")}
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    path = os.path.join(folder, "teacher_int8_dynamic.tflite")
    with open(path, "wb") as f:
        f.write(converter.convert())
    return path


def _tflite_rate(path, x, batch_size):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from pipeline.stages import _cut, bucket_length, text_lengths

    interpreter = Interpreter(model_path=path, num_threads=2)
    inputs = {d["name"]: d["index"]
              for d in interpreter.get_input_details()}
    lengths = text_lengths(x)
    order = np.argsort(lengths, kind="stable")
    started = time.perf_counter()
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        batch = _cut(x, index, bucket_length(lengths[index]))
        for name, i in inputs.items():
            key = next(k for k in batch if k in name)
            interpreter.resize_tensor_input(i, batch[key].shape)
        interpreter.allocate_tensors()
        for name, i in inputs.items():
            key = next(k for k in batch if k in name)
            interpreter.set_tensor(i, batch[key])
        interpreter.invoke()
    return len(order) / (time.perf_counter() - started)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default=os.path.join(HERE, "..", "..", "shared", "datasets",
                                                      "sst2"))
    p.add_argument("--steps", type=int, default=30, help="timed training steps per setting")
    p.add_argument("--infer", type=int, default=2048, help="sentences timed for inference")
    p.add_argument("--batch_size", type=int, default=32)
    args = p.parse_args()

    import functools

    import keras
    import numpy as np

    from pipeline.data.readers import read_text
    from pipeline.models.teacher import build_teacher
    from pipeline.stages import bucketed_dataset, encode, predict_bucketed, repeating_dataset

    keras.utils.set_random_seed(0)
    rows = [line.split("\t") for line in read_text(os.path.join(args.data_dir, "train.tsv"))
            .strip().split("\n")[1:]]
    rng = np.random.default_rng(0)
    sample = [rows[i] for i in rng.permutation(len(rows))[:max(args.infer, 4096)]]
    texts, labels = [r[1] for r in sample], np.asarray([int(r[0]) for r in sample])
    classifier = build_teacher("minilm", 2, 64)
    x = encode(classifier.preprocessor, texts)
    lengths = x["padding_mask"].sum(1)
    model = keras.Model(classifier.inputs, classifier.outputs)
    b = args.batch_size
    result = {"batch_size": b, "sequence_length": 64, "cpu_count": os.cpu_count(),
              "median_pieces_with_cls_sep": float(np.median(lengths)),
              "p90_pieces_with_cls_sep": float(np.percentile(lengths, 90))}
    result["train_fixed_per_s"] = _train_rate(
        model, functools.partial(repeating_dataset, x, labels, b, 0), args.steps, b)
    result["train_bucketed_per_s"] = _train_rate(
        model, functools.partial(bucketed_dataset, x, labels, b, 0), args.steps, b)
    xi = {k: v[:args.infer] for k, v in x.items()}
    model.predict({k: v[:b] for k, v in xi.items()}, verbose=0)
    started = time.perf_counter()
    model.predict(xi, batch_size=64, verbose=0)
    result["infer_fixed_per_s"] = args.infer / (time.perf_counter() - started)
    predict_bucketed(model, {k: v[:256] for k, v in xi.items()})  # traces each bucket once
    started = time.perf_counter()
    predict_bucketed(model, xi)
    result["infer_bucketed_per_s"] = args.infer / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = _tflite_int8(model, folder)
            result["tflite_int8_mb"] = os.path.getsize(path) / 1e6
            result["infer_tflite_int8_bucketed_per_s"] = _tflite_rate(path, xi, 64)
        except Exception as e:  # reported, not fatal: the Keras rows still stand
            result["tflite_error"] = f"{type(e).__name__}: {e}"[:300]
    result = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
    with open(os.path.join(HERE, "teacher_speed.json"), "w") as f:
        json.dump(result, f, indent=2)
    gain_t = result["train_bucketed_per_s"] / result["train_fixed_per_s"]
    gain_i = result["infer_bucketed_per_s"] / result["infer_fixed_per_s"]
    lines = ["| path | sentences/s |", "| --- | ---: |",
             f"| train, fixed length 64 | {result['train_fixed_per_s']} |",
             f"| train, length buckets | {result['train_bucketed_per_s']} (x{gain_t:.1f}) |",
             f"| inference, Keras, fixed length 64 | {result['infer_fixed_per_s']} |",
             f"| inference, Keras, length buckets | {result['infer_bucketed_per_s']} "
             f"(x{gain_i:.1f}) |"]
    if "infer_tflite_int8_bucketed_per_s" in result:
        lines.append(f"| inference, int8 .tflite + XNNPACK 2 threads, buckets | "
                     f"{result['infer_tflite_int8_bucketed_per_s']} |")
    else:
        lines.append(f"| inference, int8 .tflite | failed: {result['tflite_error']} |")
    table = "\n".join(lines)
    with open(os.path.join(HERE, "teacher_speed.md"), "w") as f:
        f.write("# Teacher speed (MiniLM-L6-H384, SST-2 train sentences, this machine)\n\n"
                "Written by `python benchmarks/teacher_speed.py`; batch "
                f"{b}, {os.cpu_count()} CPU cores. Median length {result['median_pieces_with_cls_sep']}"
                f", p90 {result['p90_pieces_with_cls_sep']} pieces with [CLS] and [SEP].\n\n"
                + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
