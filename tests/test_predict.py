"""`python -m export.predict`: the same answers as Keras and as the interpreter fed by the
pipeline's own tokenization, one-line errors, and a run in a venv without TensorFlow."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tests import isolated_venv
from tests.conftest import REPO, assert_one_line_error, run

TEST_SPLIT = os.path.join(REPO, "pipeline", "data", "assistant_intents", "test.jsonl")


def intents_texts(every: int = 6):
    """Real commands of the shipped test split (English and Chinese), every `every`-th one."""
    with open(TEST_SPLIT, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [row["text"] for row in rows[::every]]


@pytest.fixture(scope="session")
def packed(small_export):
    """{variant: path} of small_export's files; export.convert packs vocab.txt and labels.txt
    into each (export/metadata/: a zip archive after the flatbuffer)."""
    export_dir, _ = small_export
    out = {}
    for variant in ("fp32", "int8_full"):
        path = export_dir / f"{variant}.tflite"
        with zipfile.ZipFile(path) as archive:
            assert {"vocab.txt", "labels.txt"} <= set(archive.namelist())
        out[variant] = str(path)
    return out


def keras_probabilities(workdir, texts):
    from pipeline import tokenizer, training
    from pipeline.stages import encode

    model = training.load_model(str(workdir / "model.keras"))
    length = json.loads((workdir / "config.json").read_text())["tokenizer"]["sequence_length"]
    preprocessor = tokenizer.make_preprocessor(tokenizer.make_tokenizer(str(workdir / "vocab.txt")),
                                               length)
    inputs = encode(preprocessor, texts)
    logits = model.predict(inputs, verbose=0)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    return inputs, probabilities / probabilities.sum(-1, keepdims=True)


def test_fp32_matches_keras_and_interpreter(small_workdir, packed):
    from export.runtime import Classifier
    from export.tflite.runner import Runner

    texts = intents_texts()
    assert any(ord(c) > 0x4E00 for t in texts for c in t)  # Chinese among them
    classifier = Classifier(packed["fp32"])
    ours = classifier.probabilities(texts)
    inputs, expected = keras_probabilities(small_workdir, texts)
    assert ours.shape == expected.shape == (len(texts), 11)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert (ours.argmax(-1) == expected.argmax(-1)).all()
    # Same interpreter, pipeline (keras-hub) tokenization: identical numbers.
    np.testing.assert_array_equal(ours, Runner(packed["fp32"]).run_all(inputs))
    labels = (small_workdir / "labels.txt").read_text(encoding="utf-8").split()
    assert classifier.labels == labels
    top = classifier.classify(texts[:3], top_k=3)
    for ranked, row in zip(top, ours[:3]):
        assert [label for label, _ in ranked] == [labels[i] for i in np.argsort(-row)[:3]]
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_int8_full_matches_interpreter_with_pipeline_tokenization(small_workdir, packed):
    from export.runtime import Classifier
    from export.tflite.runner import Runner

    texts = intents_texts()
    ours = Classifier(packed["int8_full"]).probabilities(texts)
    inputs, keras = keras_probabilities(small_workdir, texts)
    np.testing.assert_array_equal(ours, Runner(packed["int8_full"]).run_all(inputs))
    assert np.mean(ours.argmax(-1) == keras.argmax(-1)) >= 0.95
    np.testing.assert_allclose(ours.sum(-1), 1.0, atol=0.02)


def test_command_table_and_json(packed):
    from export.runtime import Classifier

    texts = ["wake me up at 6:30 tomorrow", "明天北京天气怎么样"]
    expected = Classifier(packed["fp32"]).classify(texts, top_k=2)
    r = run("export.predict", packed["fp32"], *texts, "--top_k=2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [res["text"] for res in out["results"]] == texts
    assert out["runtime"].startswith("ai-edge-litert")
    for res, ranked in zip(out["results"], expected):
        assert [(p["label"], p["score"]) for p in res["predictions"]] == \
            [(label, pytest.approx(score, abs=1e-7)) for label, score in ranked]
    r = run("export.predict", packed["fp32"], texts[0])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == json.dumps(texts[0]) and len(lines) == 1 + 3
    assert lines[1].split()[0] == expected[0][0][0]


def test_flags_before_between_or_after_the_texts(packed):
    """`--top_k`, `--json` anywhere among the texts (argparse's intermixed parsing); `--`
    ends the flags, for a text that starts with a dash."""
    texts = ["wake me up at 6:30 tomorrow", "明天北京天气怎么样"]
    want = json.loads(run("export.predict", packed["fp32"], *texts, "--top_k=1",
                          "--json").stdout)
    for args in ([packed["fp32"], "--top_k=1", "--json", *texts],
                 ["--json", packed["fp32"], texts[0], "--top_k", "1", texts[1]],
                 ["--top_k=1", "--json", packed["fp32"], *texts]):
        r = run("export.predict", *args)
        assert r.returncode == 0, r.stderr[-2000:]
        assert json.loads(r.stdout) == want
    r = run("export.predict", packed["fp32"], "--json", "--", "-5 degrees", "--top_k=1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert [res["text"] for res in json.loads(r.stdout)["results"]] == ["-5 degrees", "--top_k=1"]


def test_text_that_is_not_utf8_is_one_line(packed):
    """Undecodable argv bytes reach Python as lone surrogates: one line naming the argument."""
    latin1 = os.fsdecode(b"caf\xe9 au lait")  # b"\xe9" alone is not UTF-8
    r = run("export.predict", packed["fp32"], "call mom", latin1)
    assert_one_line_error(r, "argument 3", "not valid UTF-8")
    assert "UnicodeEncodeError" not in r.stderr and r.stdout == ""


def test_imports_no_tensorflow_keras_or_pipeline(packed):
    code = (f"import runpy, sys; sys.argv = ['predict', {packed['fp32']!r}, 'call mom'];"
            "runpy.run_module('export.predict', run_name='__main__');"
            "print(sorted(m for m in ('tensorflow', 'keras', 'keras_hub', 'pipeline', 'absl')"
            " if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "[]"


def _without_packed_files(path, dst):
    """The flatbuffer alone: the bytes before the appended zip archive."""
    with zipfile.ZipFile(path) as archive:
        start = min(info.header_offset for info in archive.infolist())
    with open(path, "rb") as f:
        data = f.read()
    assert data[start:start + 4] == b"PK\x03\x04"
    dst.write_bytes(data[:start])
    return str(dst)


def test_bad_input_one_line_exit_2(packed, tmp_path):
    model = packed["fp32"]
    with open(model, "rb") as f:
        data = f.read()
    missing = str(tmp_path / "nope.tflite")
    assert_one_line_error(run("export.predict", missing, "hi"), missing, "no such file")
    text_file = tmp_path / "notes.tflite"
    text_file.write_text("not a model at all\n")
    assert_one_line_error(run("export.predict", str(text_file), "hi"), str(text_file),
                          "not a TFLite model")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(data[:len(data) // 2])
    assert_one_line_error(run("export.predict", str(truncated), "hi"), str(truncated),
                          "truncated or corrupt")
    cut_zip = tmp_path / "cut_zip.tflite"
    cut_zip.write_bytes(data[:-10])
    assert_one_line_error(run("export.predict", str(cut_zip), "hi"), str(cut_zip),
                          "packed files are truncated or corrupt")
    bare = _without_packed_files(model, tmp_path / "bare.tflite")
    assert_one_line_error(run("export.predict", bare, "hi"), f"no vocabulary packed in {bare}",
                          "python -m export.convert")
    assert_one_line_error(run("export.predict", model), model, "no text given")
    assert_one_line_error(run("export.predict", model, "hi", "--top_k=0"), "--top_k=0")
    assert_one_line_error(run("export.predict"), "model")


def _same_top_labels_in_venv(python, packed, runtime_prefix):
    """`python -m export.predict` run by `python` gives the main env's top labels."""
    from export.runtime import Classifier

    texts = intents_texts(every=24)
    for variant in ("fp32", "int8_full"):
        r = subprocess.run([python, "-m", "export.predict", packed[variant], *texts, "--json"],
                           cwd=REPO, env=isolated_venv.env(), capture_output=True, text=True,
                           timeout=300, check=False)
        assert r.returncode == 0, r.stderr[-2000:]
        out = json.loads(r.stdout)
        assert out["runtime"].startswith(runtime_prefix)
        expected = Classifier(packed[variant]).classify(texts, top_k=1)
        assert [res["predictions"][0]["label"] for res in out["results"]] == \
            [ranked[0][0] for ranked in expected]


def test_runs_in_a_venv_with_only_litert_and_numpy(packed):
    python = isolated_venv.python_with("litert-only", ["ai-edge-litert==2.3.*", "numpy"])
    no_tf = subprocess.run([python, "-c", "import tensorflow"], capture_output=True, text=True,
                           check=False)
    assert no_tf.returncode != 0 and "No module named 'tensorflow'" in no_tf.stderr
    _same_top_labels_in_venv(python, packed, "ai-edge-litert 2.3")


def test_falls_back_to_tflite_runtime(packed):
    """The fallback runtime: tflite-runtime 2.14 (numpy<2), no ai-edge-litert in the venv."""
    python = isolated_venv.python_with("tflite-runtime", ["tflite-runtime==2.14.*", "numpy<2"])
    _same_top_labels_in_venv(python, packed, "tflite-runtime 2.14")
