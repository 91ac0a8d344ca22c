"""The action task's export: convert -> three two-signature files, the tokenizer and check
commands beside them, golden vectors; the gate; `export.predict --act`; the TF-free runtime.

All on the `:tiny` action model (conftest `action_export`, about 30 s once). The GPU test runs
LiteRT's real GPU backend where a Vulkan adapter is (lavapipe here:
eval "$(../shared/tools/lavapipe-gpu/setup.sh)") and skips otherwise.
"""

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, assert_one_line_error, run


def _manifest(export_dir):
    return json.loads((export_dir / "manifest.json").read_text())


def test_convert_writes_three_two_signature_files_with_parity_against_keras(action_export):
    export_dir, stdout = action_export
    manifest = _manifest(export_dir)
    assert manifest["task"] == "action"
    assert manifest["variants"] == ["fp32", "fp16", "int8_dynamic"]
    assert sorted(manifest["files"]) == ["fp16.tflite", "fp32.tflite", "int8_dynamic.tflite"]
    assert manifest["signatures"]["prefill"]["inputs"]["tokens"]["shape"] == [1, 32]
    assert manifest["signatures"]["decode"]["inputs"]["token"]["shape"] == [1, 1]
    assert manifest["special_ids"] == {"pad": 0, "bos": 1, "eos": 2, "sep": 3}
    for name in ("vocabulary.json", "merges.txt", "check_commands.json", "golden.json"):
        assert (export_dir / name).is_file(), name
    sizes = {n: e["bytes"] for n, e in manifest["files"].items()}
    # Both smaller; int8 against fp16 is not fixed at 23 k parameters, where the two-signature
    # graph (~40 kB) outweighs the weights (the shipped model's: README)
    assert max(sizes["int8_dynamic.tflite"], sizes["fp16.tflite"]) < 0.8 * sizes["fp32.tflite"]
    for name, entry in manifest["files"].items():
        assert set(entry["signatures"]) == {"prefill", "decode"}, name
        assert set(entry["checks"]["nnapi"]["signatures"]) == {"prefill", "decode"}
        parity = entry["checks"]["parity"]
        assert parity["examples"] == 40 and parity["split"] == "test"
    # fp32 greedy decoding is Keras's, token for token, on every test command
    assert manifest["files"]["fp32.tflite"]["checks"]["parity"]["tokens_identical"] == 1.0
    assert "fp32.tflite" in stdout and "tokens identical to Keras 100.00%" in stdout


def test_the_gate_passes_and_fails_a_changed_tokenizer(action_export, tmp_path):
    export_dir, _ = action_export
    r = run("export.check", str(export_dir), "--require=parity,metadata,size,nnapi=30")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "PASS parity   fp32.tflite          greedy tokens identical 100.0000%" in r.stdout
    assert r.stdout.count("PASS metadata") == 3
    assert "prefill:" in r.stdout and "decode:" in r.stdout  # NNAPI per signature, reported
    changed = tmp_path / "export"
    shutil.copytree(export_dir, changed)
    (changed / "merges.txt").write_text("a b\n", encoding="utf-8")
    assert_one_line_error(run("export.check", str(changed), "--require=parity"),
                          "merges.txt", "sha256 differs")
    (changed / "merges.txt").unlink()
    r = run("export.check", str(changed), "--require=parity")
    assert r.returncode == 1 and "FAIL complete" in r.stdout


def test_gpu_runs_both_signatures_fully_with_the_cpu_actions(action_export):
    from export.checks import gpu
    ok, why = gpu.gpu_available()
    if not ok:
        pytest.skip(f"no GPU backend here ({why})")
    export_dir, _ = action_export
    r = run("export.check", str(export_dir), "--require=gpu")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = [line for line in r.stdout.splitlines() if line.startswith("PASS gpu")]
    assert len(lines) == 4  # fp32 and fp16, enforce_f32 and default precision
    assert all("both signatures fully accelerated" in line for line in lines)
    checks = _manifest(export_dir)["files"]["fp16.tflite"]["checks"]
    assert checks["gpu"]["same_action"] >= 0.99 and checks["gpu_f32"]["fully_accelerated"]


def test_gpu_line_names_the_precision_a_phone_must_ask_for(action_export, tmp_path,
                                                            monkeypatch):
    """Where the GPU agrees with the CPU in float32 but not at default (float16) precision
    (SmolLM2 on software Vulkan: 38 of 40 commands), the failing line says what a phone must
    request. The GPU run itself is replaced here (the real one agrees on this tiny model at
    both precisions: test above); the CPU actions and the gate are real."""
    from export.checks import gate as gate_lib
    from export.checks import gpu
    from pipeline.tasks.action import export_spec
    export_dir = tmp_path / "export"
    shutil.copytree(action_export[0], export_dir)
    commands = json.loads((export_dir / "check_commands.json").read_text())["commands"]

    def fake_gpu(path, commands_file, enforce_f32, timeout):
        ids, texts = export_spec._file_actions(path, commands, 64)
        if not enforce_f32:  # float16 flips the action of every other command
            texts = [t if i % 2 else t + " " for i, t in enumerate(texts)]
        return {"fully_accelerated": True, "runtime": "fake", "results": [
            {"action": t, "generated_ids": i} for t, i in zip(texts, ids)]}, None

    monkeypatch.setattr(gpu, "gpu_available", lambda: (True, "stand-in"))
    monkeypatch.setattr(export_spec, "_gpu_actions", fake_gpu)
    lines = []
    gate = gate_lib.Gate(str(export_dir), {"gpu": None}, files=["fp32.tflite"],
                         out=lines.append)
    export_spec.check_gpu(gate, ["fp32.tflite"])
    passed = [line for line in lines if line.startswith("PASS gpu")]
    failed = [line for line in lines if line.startswith("FAIL gpu")]
    assert len(passed) == 1 and "enforce_f32" in passed[0], lines
    assert len(failed) == 1 and "default precision" in failed[0], lines
    assert "a phone must ask the GPU for float32" in failed[0], failed


def test_int8_full_is_refused_with_one_line(action_workdir):
    r = run("export.convert", f"--workdir={action_workdir}", "--variants=int8_full")
    assert_one_line_error(r, "--variants=int8_full", "fp32, fp16, int8_dynamic")


def test_golden_vectors_are_what_the_runtime_decodes(action_export):
    from export.runtime.assistant import Assistant
    export_dir, _ = action_export
    golden = json.loads((export_dir / "golden.json").read_text())
    assert {"action_tokenizer", "action", "action_parser"} <= set(golden)
    cases = golden["action"]["cases"]
    assert len(cases) == 40
    assistant = Assistant(str(export_dir / "int8_dynamic.tflite"))  # same tokenizer folder
    for case in golden["action_tokenizer"]["cases"]:
        assert assistant.tok.encode(case["text"]) == case["ids"]
        assert case["decoded"] == case["text"]  # byte-level: every text comes back exactly
    fp32 = Assistant(str(export_dir / "fp32.tflite"))
    for case in cases[:5]:
        assert fp32.act(case["command"])["generated_ids"] == case["constrained_ids"]
        assert fp32.act(case["command"], constrained=False)["generated_ids"] == \
            case["generated_ids"]
    assert any(c.get("error") for c in golden["action_parser"]["cases"])


def test_predict_act_prints_streams_and_refuses_with_one_line(action_export):
    export_dir, _ = action_export
    path = str(export_dir / "int8_dynamic.tflite")
    r = run("export.predict", path, "--act", "--json", "wake me up at 6:30", "给妈妈打电话")
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout)["actions"]
    assert [x["command"] for x in results] == ["wake me up at 6:30", "给妈妈打电话"]
    assert all(x["parsed"] is not None for x in results)  # constrained: it always parses
    streamed = run("export.predict", path, "--act", "--stream", "wake me up at 6:30")
    assert streamed.returncode == 0
    assert streamed.stdout.splitlines()[1].strip() == results[0]["action"]
    assert_one_line_error(run("export.predict", path, "call mom"), "add --act")
    assert_one_line_error(run("export.predict", path, "--act", ""), "empty command")
    assert_one_line_error(run("export.predict", path, "--act", "--stream", "--json", "x"),
                          "--stream")
    assert_one_line_error(run("export.predict", path, "--act", "x" * 2000), "tokens")


def test_the_runtime_needs_no_tensorflow(action_export):
    export_dir, _ = action_export
    code = ("import sys; from export.runtime.assistant import Assistant; "
            f"a = Assistant({str(export_dir / 'fp32.tflite')!r}); a.act('call mom'); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["False", "False"]


def test_export_benchmark_refuses_and_export_golden_rewrites_it(action_export, tmp_path):
    export_dir, _ = action_export
    assert_one_line_error(run("export.benchmark", str(export_dir)), "benchmarks/generation.py")
    copy = tmp_path / "export"
    shutil.copytree(export_dir, copy)
    (copy / "golden.json").unlink()
    r = run("export.golden", str(copy))  # no dataset: the check commands beside the files
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((copy / "golden.json").read_text()) == \
        json.loads((export_dir / "golden.json").read_text())
