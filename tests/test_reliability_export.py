"""The export half of the bad-input and fault matrix: every export command, every way to break it.

Each case copies the shared small export (conftest `small_export`) into its own folder, breaks
one thing, runs one command the way a user would and asserts the project's promise through
tests/badinput.py: a user mistake is exit 2 with exactly one `error:` line naming the file or
flag, a failing check is exit 1 with its FAIL line, never a traceback, and nothing that existed
changed or half-written (`Snapshot` of the whole case folder). The slow cases at the end kill
`export.convert` at several points and fill its disk: the previous export stays intact or
absent, `export.check` never passes a partial one, and a rerun completes and cleans up.

Case paths are relative to the case folder: `work/` (a workdir with its export), `assets/` (an
app's assets with an older bundle), `afile.txt` (a plain file), and, for read-only cases,
`ro/` (a read-only bind mount of the case folder).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest

from tests.badinput import (
    REPO,
    Snapshot,
    expect_check_failure,
    expect_success,
    expect_user_error,
    run_command,
)

E = "work/export"
DEAD_PID = 4194304  # above PID_MAX_LIMIT: never a live process
# Arguments, with {root} the case folder.
EXP, FP32 = "{root}/work/export", "{root}/work/export/fp32.tflite"
WORK, TO = "--workdir={root}/work", "--to={root}/assets"
CHECK = (EXP, "--require=nnapi=30,parity,metadata,size")
BENCH = ("--invokes=2", "--warmup=0", "--threads=1")


# ---------------------------------------------------------------------------------------------
# Ways to break a copy (each returns a function of the case folder)
# ---------------------------------------------------------------------------------------------
def put(rel: str, data) -> Callable:
    def mutate(root):
        path = root / rel
        path.unlink(missing_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return mutate


def manifest(change: Callable) -> Callable:
    """`change(m)` edits the manifest dict in place, or returns what to write instead."""
    def mutate(root):
        path = root / E / "manifest.json"
        m = json.loads(path.read_text(encoding="utf-8"))
        new = change(m)
        path.write_text(json.dumps(m if new is None else new), encoding="utf-8")
    return mutate


def entry(name: str, change: Callable) -> Callable:
    def edit(m):
        change(m["files"][name])
    return manifest(edit)


def truncate(rel: str) -> Callable:
    def mutate(root):
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[:len(data) // 2])
    return mutate


def flip(rel: str) -> Callable:
    """Same size, one byte in the middle changed (only the sha256 can tell)."""
    def mutate(root):
        data = bytearray((root / rel).read_bytes())
        data[len(data) // 2] ^= 0x5A
        (root / rel).write_bytes(bytes(data))
    return mutate


def same_size_text(rel: str) -> Callable:
    def mutate(root):
        size = (root / rel).stat().st_size
        (root / rel).write_bytes((b"this is not a model " * size)[:size])
    return mutate


def delete(rel: str) -> Callable:
    def mutate(root):
        path = root / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return mutate


def mkdir(rel: str) -> Callable:
    return lambda root: (root / rel).mkdir()


def copy(src: str, dst: str) -> Callable:
    return lambda root: shutil.copy(root / src, root / dst)


def both(*mutators: Callable) -> Callable:
    def mutate(root):
        for m in mutators:
            m(root)
    return mutate


def _set(d: dict, key: str, value):
    d[key] = value


def _parity(name: str, key: str, value) -> Callable:
    return entry(name, lambda e: _set(e["checks"]["parity"], key, value))


def _shapes(length: int, entries: bool = True) -> Callable:
    """Every input shape [1, length] (header, sequence_length and, optionally, entries)."""
    def change(m):
        m["sequence_length"] = length
        for spec in m["inputs"] + ([i for e in m["files"].values() for i in e["inputs"]]
                                   if entries else []):
            spec["shape"] = [1, length]
    return manifest(change)


def _classes(count: int) -> Callable:
    """A manifest of a `count`-label model, consistent in itself."""
    def change(m):
        m["labels"], m["num_classes"] = m["labels"][:count], count
        m["output"]["shape"] = [1, count]
        for e in m["files"].values():
            e["outputs"][0]["shape"] = [1, count]
    return manifest(change)


def _drop_variant(variant: str, keep_file: bool = False) -> Callable:
    def change(m):
        del m["files"][f"{variant}.tflite"]
    steps = [manifest(change)] + ([] if keep_file else [delete(f"{E}/{variant}.tflite")])
    return both(*steps)


def _other_npz(root):
    np.savez(root / E / "check_inputs.npz", token_ids=np.zeros((3, 32), np.int32))


def _garbage_npz_listed(root):
    (root / E / "check_inputs.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    from export.contract import sha256_file
    manifest(lambda m: _set(m["check_inputs"], "sha256",
                            sha256_file(str(root / E / "check_inputs.npz"))))(root)


def _strip_packed_files(root):
    """The flatbuffer without the zip of associated files appended to it."""
    data = (root / E / "fp32.tflite").read_bytes()
    (root / "bare.tflite").write_bytes(data[:data.find(b"PK\x03\x04")])


def _golden(change: Callable) -> Callable:
    def mutate(root):
        path = root / E / "golden.json"
        golden = json.loads(path.read_text(encoding="utf-8"))
        new = change(golden)
        path.write_text(json.dumps(golden if new is None else new), encoding="utf-8")
    return mutate


# ---------------------------------------------------------------------------------------------
# The matrix: (command, args, mutation, exit code, needles on the error/FAIL line)
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    command: str
    args: tuple
    mutate: Callable | None = None
    exit: int = 2
    needles: tuple = ()
    read_only: bool = False  # needs the read-only bind mount `ro/`


def C(command, id_, args, mutate=None, exit=2, *needles, read_only=False):
    return pytest.param(Case(f"export.{command}", tuple(args), mutate, exit, needles, read_only),
                        id=f"{command}-{id_}")


MF = "manifest.json"
CASES = [
    # -- export.check: the manifest ---------------------------------------------------------
    C("check", "manifest-not-json", CHECK, put(f"{E}/{MF}", "{not json"), 2, MF, "readable"),
    C("check", "manifest-empty-file", CHECK, put(f"{E}/{MF}", ""), 2, MF),
    C("check", "manifest-half-written", CHECK, truncate(f"{E}/{MF}"), 2, MF),
    C("check", "manifest-not-utf8", CHECK, put(f"{E}/{MF}", b'{"files": "\xff\xfe"}'), 2, MF),
    C("check", "manifest-a-list", CHECK, put(f"{E}/{MF}", "[1, 2]"), 2, MF, "JSON object"),
    C("check", "manifest-null", CHECK, put(f"{E}/{MF}", "null"), 2, MF, "JSON object"),
    C("check", "manifest-missing", CHECK, delete(f"{E}/{MF}"), 2, MF, "not found"),
    C("check", "manifest-a-folder", CHECK, both(delete(f"{E}/{MF}"), mkdir(f"{E}/{MF}")), 2, MF),
    C("check", "files-a-list", CHECK, manifest(lambda m: _set(m, "files", [])), 2, "files"),
    C("check", "files-empty", CHECK, manifest(lambda m: _set(m, "files", {})), 2, "no exported"),
    C("check", "entry-a-string", CHECK, manifest(lambda m: _set(m["files"], "fp32.tflite", "x")),
      2, "files['fp32.tflite']", "an object"),
    C("check", "entry-sha256-a-number", CHECK, entry("fp16.tflite", lambda e: _set(e, "sha256", 7)),
      2, "sha256"),
    C("check", "entry-bytes-a-string", CHECK,
      entry("fp16.tflite", lambda e: _set(e, "bytes", str(e["bytes"]))), 2, "bytes"),
    C("check", "entry-bytes-negative", CHECK, entry("fp16.tflite", lambda e: _set(e, "bytes", -1)),
      2, "bytes"),
    C("check", "entry-checks-a-list", CHECK, entry("fp16.tflite", lambda e: _set(e, "checks", [])),
      2, "checks"),
    C("check", "entry-parity-a-string", CHECK,
      entry("fp16.tflite", lambda e: _set(e["checks"], "parity", "ok")), 2, "checks.parity"),
    C("check", "parity-figure-high", CHECK, _parity("fp32.tflite", "top1_agreement", "high"), 2,
      "top1_agreement", "high"),
    C("check", "parity-figure-bool", CHECK, _parity("fp32.tflite", "top1_agreement", True), 2,
      "top1_agreement"),
    C("check", "parity-figure-null", CHECK, _parity("fp16.tflite", "top1_agreement", None), 2,
      "top1_agreement"),
    C("check", "parity-drop-a-string", CHECK,
      _parity("int8_full.tflite", "accuracy_drop_points", "none"), 2, "accuracy_drop_points"),
    C("check", "budget-big", CHECK,
      manifest(lambda m: _set(m["size_budget_bytes"], "int8_full", "big")), 2,
      "size_budget_bytes.int8_full", "big"),
    C("check", "budget-negative", CHECK,
      manifest(lambda m: _set(m["size_budget_bytes"], "int8_full", -5)), 2, "size_budget_bytes"),
    C("check", "budgets-a-list", CHECK, manifest(lambda m: _set(m, "size_budget_bytes", [1])), 2,
      "size_budget_bytes"),
    C("check", "entry-without-checks", CHECK, entry("fp32.tflite", lambda e: e.pop("checks")), 1,
      "FAIL parity", "fp32.tflite", "no parity result"),
    C("check", "parity-result-empty", CHECK,
      entry("fp16.tflite", lambda e: _set(e["checks"], "parity", {})), 1, "FAIL parity"),
    C("check", "parity-too-low", CHECK, _parity("fp32.tflite", "top1_agreement", 0.5), 1,
      "FAIL parity", "fp32.tflite"),
    C("check", "parity-nan", CHECK, _parity("fp16.tflite", "top1_agreement", float("nan")), 1,
      "FAIL parity", "fp16.tflite"),
    C("check", "size-over-budget", CHECK,
      manifest(lambda m: _set(m["size_budget_bytes"], "int8_full", 1000)), 1, "FAIL size"),
    C("check", "inputs-1x64-vs-file-1x32", CHECK, _shapes(64), 2, MF, "[1, 64]", "[1, 32]"),
    C("check", "sequence-length-64-vs-file-32", CHECK,
      manifest(lambda m: _set(m, "sequence_length", 64)), 2, "sequence_length", "32"),
    C("check", "header-inputs-1x64-only", CHECK, _shapes(64, entries=False), 2, "[1, 64]"),
    C("check", "entry-inputs-1x64-only", CHECK,
      entry("fp16.tflite", lambda e: _set(e["inputs"][0], "shape", [1, 64])), 2,
      "fp16.tflite", "[1, 64]"),
    C("check", "inputs-renamed", CHECK,
      manifest(lambda m: _set(m["inputs"][0], "name", "input_ids")), 2, "input_ids"),
    C("check", "labels-5-vs-file-11", CHECK,
      manifest(lambda m: _set(m, "labels", m["labels"][:5])), 2, "labels", "11"),
    C("check", "manifest-of-a-5-label-model", CHECK, _classes(5), 2, "5", "11"),
    C("check", "output-dtype-int8", CHECK,
      manifest(lambda m: _set(m["output"], "dtype", "int8")), 2, "int8", "float32"),
    C("check", "task-unknown", CHECK, manifest(lambda m: _set(m, "task", "translation")), 2,
      "task", "translation"),
    C("check", "task-a-number", CHECK, manifest(lambda m: _set(m, "task", 7)), 2, "task"),
    C("check", "variants-a-string", CHECK, manifest(lambda m: _set(m, "variants", "fp32")), 2,
      "variants"),
    C("check", "variants-unknown", CHECK, manifest(lambda m: m["variants"].append("fp64")), 2,
      "fp64"),
    C("check", "sequence-length-a-string", CHECK,
      manifest(lambda m: _set(m, "sequence_length", "32")), 2, "sequence_length"),
    C("check", "labels-file-a-number", CHECK, manifest(lambda m: _set(m, "labels_file", 5)), 2,
      "labels_file"),
    C("check", "vocabulary-file-outside", CHECK,
      manifest(lambda m: _set(m["tokenizer"], "vocabulary_file", "../vocab.txt")), 2,
      "vocabulary_file", "../vocab.txt"),
    C("check", "entry-name-outside", CHECK,
      manifest(lambda m: _set(m["files"], "../fp32.tflite", m["files"]["fp32.tflite"])), 2,
      "../fp32.tflite"),
    C("check", "check-inputs-entry-a-string", CHECK,
      manifest(lambda m: _set(m, "check_inputs", "check_inputs.npz")), 2, "check_inputs"),
    # -- export.check: the files --------------------------------------------------------------
    C("check", "model-missing", CHECK, delete(f"{E}/fp16.tflite"), 1,
      "FAIL complete", "fp16.tflite", "missing"),
    C("check", "model-missing-files-flag", (*CHECK, "--files=fp16.tflite"),
      delete(f"{E}/fp16.tflite"), 1, "FAIL complete", "fp16.tflite"),
    C("check", "model-is-a-folder", CHECK,
      both(delete(f"{E}/fp16.tflite"), mkdir(f"{E}/fp16.tflite")), 1, "fp16.tflite"),
    C("check", "model-truncated", CHECK, truncate(f"{E}/fp16.tflite"), 2, "fp16.tflite",
      "truncated"),
    C("check", "model-same-size-changed", CHECK, flip(f"{E}/fp16.tflite"), 2, "fp16.tflite",
      "sha256"),
    C("check", "model-not-tflite", CHECK, same_size_text(f"{E}/int8_full.tflite"), 2,
      "int8_full.tflite", "not a TFLite"),
    C("check", "model-empty", CHECK, put(f"{E}/fp32.tflite", b""), 2, "fp32.tflite"),
    C("check", "unlisted-extra-tflite", CHECK, copy(f"{E}/fp32.tflite", f"{E}/extra.tflite"), 1,
      "FAIL complete", "extra.tflite", "not listed"),
    C("check", "requested-variant-without-file", CHECK, _drop_variant("int8_dynamic"), 1,
      "FAIL complete", "int8_dynamic", "requested"),
    C("check", "entry-gone-file-left", CHECK, _drop_variant("fp16", keep_file=True), 1,
      "FAIL complete", "fp16.tflite", "not listed"),
    C("check", "check-inputs-missing", CHECK, delete(f"{E}/check_inputs.npz"), 1,
      "FAIL complete", "check_inputs.npz"),
    C("check", "check-inputs-corrupt", CHECK, _garbage_npz_listed, 2, "check_inputs.npz", "npz"),
    C("check", "check-inputs-changed", CHECK, _other_npz, 2, "check_inputs.npz", "sha256"),
    C("check", "check-inputs-truncated", CHECK, truncate(f"{E}/check_inputs.npz"), 2,
      "check_inputs.npz"),
    C("check", "vocab-missing", CHECK, delete(f"{E}/vocab.txt"), 1, "FAIL complete", "vocab.txt"),
    C("check", "vocab-changed", CHECK, put(f"{E}/vocab.txt", "[PAD]\n"), 2, "vocab.txt"),
    C("check", "labels-changed", CHECK, put(f"{E}/labels.txt", "a\nb\n"), 1, "labels.txt"),
    # -- export.check: flags and folders ------------------------------------------------------
    C("check", "require-unknown", (CHECK[0], "--require=speed"), None, 2, "--require", "speed"),
    C("check", "require-nnapi-x", (CHECK[0], "--require=nnapi=x"), None, 2, "nnapi=30"),
    C("check", "require-nnapi-no-level", (CHECK[0], "--require=nnapi"), None, 2, "nnapi=30"),
    C("check", "require-nnapi-level-0", (CHECK[0], "--require=nnapi=0"), None, 2, "nnapi=0"),
    C("check", "require-parity-with-value", (CHECK[0], "--require=parity=1"), None, 2,
      "takes no value"),
    C("check", "files-unknown", (*CHECK, "--files=nope.tflite"), None, 2, "nope.tflite"),
    C("check", "files-not-a-model", (*CHECK, "--files=vocab.txt"), None, 2, "vocab.txt"),
    C("check", "unknown-flag", (*CHECK, "--frobnicate"), None, 2, "--frobnicate"),
    C("check", "no-folder", (), None, 2, "export_dir"),
    C("check", "folder-missing", ("{root}/nowhere",), None, 2, "nowhere", "no such"),
    C("check", "folder-is-a-file", ("{root}/afile.txt",), None, 2, "afile.txt", "is a file"),
    C("check", "folder-empty", ("{root}/assets/empty",), None, 2, MF, "not found"),
    C("check", "workdir-given", ("{root}/work",), None, 2, MF, "work/export"),
    # -- export.predict -----------------------------------------------------------------------
    C("predict", "model-missing", ("{root}/nowhere.tflite", "hi"), None, 2, "nowhere.tflite"),
    C("predict", "model-a-folder", (EXP, "hi"), None, 2, "export", "folder"),
    C("predict", "not-tflite", ("{root}/work/export/vocab.txt", "hi"), None, 2, "vocab.txt",
      "not a TFLite"),
    C("predict", "truncated", ("{root}/work/export/fp16.tflite", "hi"),
      truncate(f"{E}/fp16.tflite"), 2, "fp16.tflite"),
    C("predict", "empty-file", (FP32, "hi"), put(f"{E}/fp32.tflite", b""), 2, "fp32.tflite"),
    C("predict", "no-packed-vocabulary", ("{root}/bare.tflite", "hi"), _strip_packed_files, 2,
      "bare.tflite", "packed"),
    C("predict", "texts-missing", (FP32,), None, 2, "no text"),
    C("predict", "top-k-0", (FP32, "hi", "--top_k=0"), None, 2, "--top_k=0"),
    C("predict", "top-k-negative", (FP32, "hi", "--top_k=-2"), None, 2, "--top_k=-2"),
    C("predict", "top-k-not-a-number", (FP32, "hi", "--top_k=three"), None, 2, "--top_k"),
    C("predict", "liked-bad-ids", (FP32, "--liked=1,x"), None, 2, "--liked=1,x"),
    C("predict", "liked-on-a-classifier", (FP32, "--liked=1,260"), None, 2, "fp32.tflite"),
    C("predict", "liked-and-texts", (FP32, "--liked=1", "hi"), None, 2, "--liked"),
    C("predict", "num-threads-0", (FP32, "hi", "--num_threads=0"), None, 2, "--num_threads=0"),
    C("predict", "unknown-flag", (FP32, "hi", "--frobnicate"), None, 2, "--frobnicate"),
    C("predict", "no-arguments", (), None, 2, "model"),
    C("predict", "text-not-utf8", (FP32, os.fsdecode(b"caf\xe9")), None, 2, "UTF-8"),
    # -- export.golden ------------------------------------------------------------------------
    C("golden", "no-folder", (), None, 2, "usage"),
    C("golden", "two-folders", (EXP, "{root}/work"), None, 2, "usage"),
    C("golden", "folder-missing", ("{root}/nowhere",), None, 2, "nowhere"),
    C("golden", "folder-is-a-file", ("{root}/afile.txt",), None, 2, "afile.txt"),
    C("golden", "manifest-not-json", (EXP,), put(f"{E}/{MF}", "{"), 2, MF),
    C("golden", "no-fp32-file", (EXP,), both(
        _drop_variant("fp32"), manifest(lambda m: m["variants"].remove("fp32"))), 2, "fp32"),
    C("golden", "fp32-changed", (EXP,), flip(f"{E}/fp32.tflite"), 2, "fp32.tflite", "sha256"),
    C("golden", "inputs-1x64", (EXP,), _shapes(64), 2, "[1, 64]"),
    C("golden", "seed-not-a-number", (EXP, "--seed=abc"), None, 2, "seed"),
    C("golden", "rules-to-and-folder", (EXP, "--rules_to={root}/r.json"), None, 2, "--rules_to"),
    C("golden", "rules-to-no-such-folder", ("--rules_to={root}/nowhere/r.json",), None, 2,
      "--rules_to"),
    C("golden", "rules-to-a-folder", ("--rules_to={root}/assets",), None, 2, "--rules_to"),
    C("golden", "export-read-only", ("{root}/ro/work/export",), None, 2, "golden.json",
      read_only=True),
    # -- export.bundle ------------------------------------------------------------------------
    C("bundle", "no-workdir", (TO,), None, 2, "--workdir"),
    C("bundle", "no-to", (WORK,), None, 2, "--to"),
    C("bundle", "to-a-file", (WORK, "--to={root}/afile.txt"), None, 2, "--to", "not a folder"),
    C("bundle", "to-under-a-file", (WORK, "--to={root}/afile.txt/x"), None, 2, "--to"),
    C("bundle", "name-escape", (WORK, TO, "--name=../escape"), None, 2, "--name=../escape"),
    C("bundle", "name-hidden", (WORK, TO, "--name=.x"), None, 2, "--name"),
    C("bundle", "name-nested", (WORK, TO, "--name=a/b"), None, 2, "--name"),
    C("bundle", "variants-unknown", (WORK, TO, "--variants=int4"), None, 2, "int4"),
    C("bundle", "workdir-missing", ("--workdir={root}/nowhere", TO), None, 2, "nowhere"),
    C("bundle", "workdir-not-exported", (WORK, TO), delete(E), 2, "export"),
    C("bundle", "golden-missing", (WORK, TO), delete(f"{E}/golden.json"), 2, "golden.json"),
    C("bundle", "golden-not-json", (WORK, TO), put(f"{E}/golden.json", "{"), 2, "golden.json"),
    C("bundle", "golden-a-list", (WORK, TO), put(f"{E}/golden.json", "[]"), 2, "golden.json"),
    C("bundle", "golden-of-another-model", (WORK, TO),
      _golden(lambda g: _set(g["classifier"], "model_sha256", "0" * 64)), 2, "golden.json"),
    C("bundle", "vocab-changed", (WORK, TO), put(f"{E}/vocab.txt", "[PAD]\n"), 2, "vocab.txt"),
    C("bundle", "labels-missing", (WORK, TO), delete(f"{E}/labels.txt"), 2, "labels.txt"),
    C("bundle", "model-changed", (WORK, TO), flip(f"{E}/int8_full.tflite"), 2, "int8_full.tflite"),
    C("bundle", "incomplete-export", (WORK, TO),
      _drop_variant("fp16"), 2, "fp16", "incomplete", "nothing was bundled"),
    C("bundle", "inputs-1x64", (WORK, TO), _shapes(64), 2, "[1, 64]"),
    C("bundle", "unknown-flag", (WORK, TO, "--frob"), None, 2, "frob"),
    C("bundle", "to-read-only", (WORK, "--to={root}/ro/assets"), None, 2, "--to", read_only=True),
    # -- export.benchmark ---------------------------------------------------------------------
    C("benchmark", "invokes-0", (EXP, "--invokes=0"), None, 2, "--invokes=0"),
    C("benchmark", "invokes-negative", (EXP, "--invokes=-3"), None, 2, "--invokes=-3"),
    C("benchmark", "invokes-not-a-number", (EXP, "--invokes=many"), None, 2, "invokes"),
    C("benchmark", "warmup-negative", (EXP, "--warmup=-1"), None, 2, "--warmup"),
    C("benchmark", "threads-0", (EXP, "--threads=0"), None, 2, "--threads"),
    C("benchmark", "threads-not-numbers", (EXP, "--threads=x"), None, 2, "--threads"),
    C("benchmark", "no-folder", BENCH, None, 2, "usage"),
    C("benchmark", "folder-missing", ("{root}/nowhere", *BENCH), None, 2, "nowhere"),
    C("benchmark", "folder-is-a-file", ("{root}/afile.txt", *BENCH), None, 2, "afile.txt"),
    C("benchmark", "json-out-no-folder", (EXP, *BENCH, "--json_out={root}/nowhere/b.json"), None, 2,
      "--json_out"),
    C("benchmark", "json-out-a-folder", (EXP, *BENCH, "--json_out={root}/assets"),
      None, 2, "--json_out"),
    C("benchmark", "model-truncated", (EXP, *BENCH),
      truncate(f"{E}/int8_dynamic.tflite"), 2, "int8_dynamic.tflite"),
    C("benchmark", "model-changed", (EXP, *BENCH), flip(f"{E}/fp32.tflite"), 2,
      "fp32.tflite", "sha256"),
    C("benchmark", "inputs-1x64", (EXP, *BENCH), _shapes(64), 2, "[1, 64]"),
    C("benchmark", "manifest-a-list", (EXP, *BENCH), put(f"{E}/{MF}", "[]"), 2, MF),
    C("benchmark", "export-read-only", ("{root}/ro/work/export", *BENCH), None, 2,
      "benchmark.json", read_only=True),
    # -- export.convert, failing before it converts -------------------------------------------
    C("convert", "variants-unknown", (WORK, "--variants=fp32,int4"), None, 2, "--variants", "int4"),
    C("convert", "variants-empty", (WORK, "--variants="), None, 2, "--variants"),
    C("convert", "representative-0", (WORK, "--representative_examples=0"),
      None, 2, "--representative_examples=0"),
    C("convert", "representative-negative", (WORK, "--representative_examples=-7"), None, 2,
      "--representative_examples=-7"),
    C("convert", "representative-not-a-number", (WORK, "--representative_examples=x"), None, 2,
      "representative_examples"),
    C("convert", "no-workdir", (), None, 2, "--workdir"),
    C("convert", "workdir-missing", ("--workdir={root}/nowhere",), None, 2, "nowhere"),
    C("convert", "workdir-is-a-file", ("--workdir={root}/afile.txt",), None, 2, "afile.txt"),
    C("convert", "no-model-keras", (WORK,), delete("work/model.keras"), 2, "model.keras"),
    C("convert", "no-config-json", (WORK,), delete("work/config.json"), 2, "config.json"),
    C("convert", "config-not-json", (WORK,), put("work/config.json", "{"), 2, "config.json"),
    C("convert", "config-unknown-task", (WORK,),
      lambda root: put("work/config.json", (root / "work/config.json").read_text().replace(
          '"text_classification"', '"translation"'))(root), 2, "task", "translation"),
    C("convert", "model-truncated", (WORK,), truncate("work/model.keras"), 2, "model.keras"),
    C("convert", "model-not-a-zip", (WORK,), put("work/model.keras", "hello"), 2, "model.keras"),
    C("convert", "no-vocab", (WORK,), delete("work/vocab.txt"), 2, "vocab.txt"),
    C("convert", "no-labels", (WORK,), delete("work/labels.txt"), 2, "labels.txt"),
    C("convert", "export-is-a-file", (WORK,), both(delete(E), put(E, "not a folder")), 2, "export"),
    C("convert", "data-dir-missing", (WORK, "--data_dir={root}/nowhere"), None, 2, "nowhere"),
    C("convert", "unknown-flag", (WORK, "--frobnicate=1"), None, 2, "frobnicate"),
    C("convert", "workdir-read-only", ("--workdir={root}/ro/work",), None, 2, "work",
      read_only=True),
]


# ---------------------------------------------------------------------------------------------
# Running a case
# ---------------------------------------------------------------------------------------------
def make_case_folder(root, workdir, export_dir) -> None:
    """`root/work` (the workdir's top-level files and its export), `root/assets` with an older
    bundle and an empty folder, `root/afile.txt`."""
    (root / "work").mkdir(parents=True)
    for path in workdir.iterdir():
        if path.is_file():
            shutil.copy2(path, root / "work" / path.name)
    shutil.copytree(export_dir, root / E)
    (root / "assets/classifier").mkdir(parents=True)
    (root / "assets/classifier/old-bundle.txt").write_text("an older bundle\n")
    (root / "assets/empty").mkdir()
    (root / "afile.txt").write_text("a plain file\n")


@contextlib.contextmanager
def read_only_view(root):
    """`root/ro`: the case folder bind-mounted read-only (chmod does not stop root)."""
    target = root / "ro"
    target.mkdir()
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(root), str(target)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        target.rmdir()
        pytest.skip(f"cannot make a read-only bind mount here ({mounted.stderr.strip()}): the "
                    "read-only folder cases are not testable on this machine")
    try:
        probe = target / "probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)
        target.rmdir()


def expect(result, case: Case) -> None:
    if case.exit == 2:
        expect_user_error(result, *case.needles)
    else:
        expect_check_failure(result, *case.needles)
        assert not [l for l in result.stderr.splitlines() if l.startswith("error:")], \
            result.stderr[-2000:]
        if case.command == "export.check":
            fails = [l for l in result.stdout.splitlines() if l.startswith("FAIL ")]
            assert fails and all(n in "\n".join(fails) for n in case.needles), result.stdout


@pytest.fixture
def case_root(tmp_path, small_workdir, small_export):
    make_case_folder(tmp_path, small_workdir, small_export[0])
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case: Case, case_root):
    if case.mutate:
        case.mutate(case_root)
    args = [a.format(root=case_root) for a in case.args]
    with read_only_view(case_root) if case.read_only else contextlib.nullcontext():
        snap = Snapshot(case_root, ignore=(".manifest.lock", "probe"))
        result = run_command(case.command, *args, timeout=300)
        expect(result, case)
        snap.assert_unchanged()


def test_the_matrix_is_large_and_its_ids_distinct():
    ids = [p.id for p in CASES]
    assert len(ids) >= 80 and len(set(ids)) == len(ids)
    assert {i.split("-")[0] for i in ids} == {"check", "predict", "golden", "bundle",
                                               "benchmark", "convert"}


def test_temp_files_of_a_dead_writer_are_cleaned_by_the_next(case_root):
    """A writer killed mid-write leaves `.golden.json.tmp-<pid>`; the next writer removes it
    (a live process's temp file is left alone)."""
    export_dir = case_root / E
    dead = export_dir / f".golden.json.tmp-{DEAD_PID}"
    live = export_dir / f".golden.json.tmp-{os.getpid()}"
    dead.write_text('{"half": ')
    live.write_text('{"half": ')
    expect_success(run_command("export.golden", str(export_dir)))
    assert not dead.exists() and live.exists()
    json.loads((export_dir / "golden.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Faults during export.convert (slow: each converts)
# ---------------------------------------------------------------------------------------------
CONVERT = ("--representative_examples=20",)
# Fault injection for the instants no poll can catch: runs export.convert with the swap's
# renames wrapped so that the process SIGKILLs itself at the named point.
_DRIVER = """
import os, shutil, signal, sys
from export.contract import files as contract_files
point = sys.argv.pop(1)
if point == "mid-two-step-swap":  # a file system without an atomic exchange
    def no_exchange(a, b):
        raise OSError(22, "exchange unsupported (simulated)")
    contract_files._exchange = no_exchange
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        if ".export.old-" in str(dst):  # the old export set aside, the new not yet in
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
elif point == "after-swap":  # the new export in place, the old one about to be removed
    real_rmtree = shutil.rmtree
    def rmtree(path, *a, **k):
        if os.path.isfile(os.path.join(path, "manifest.json")):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_rmtree(path, *a, **k)
    shutil.rmtree = rmtree
sys.argv[0] = "export.convert"
from export import convert
from pipeline import cli
convert.define_flags()
cli.run(convert.main)
"""


def leftovers(workdir) -> list:
    return sorted(p.name for p in workdir.iterdir() if p.name.startswith(".export."))


def assert_complete(workdir) -> None:
    """A rerun of convert completes, cleans every leftover, and the gate passes it."""
    expect_success(run_command("export.convert", f"--workdir={workdir}", *CONVERT))
    assert leftovers(workdir) == []
    expect_success(run_command("export.check", str(workdir / "export"),
                               "--require=nnapi=30,parity,metadata,size"))


def assert_intact_or_absent(workdir, snap: Snapshot) -> None:
    if (workdir / "export").exists():
        snap.assert_unchanged()
        expect_success(run_command("export.check", str(workdir / "export"),
                                   "--require=parity,metadata,size"))
    else:
        expect_user_error(run_command("export.check", str(workdir / "export")), "export")


KILL_POINTS = [
    pytest.param("vocab.txt", id="staging-started"),
    pytest.param("fp32.tflite", id="1st-variant-written"),
    pytest.param("fp16.tflite", id="2nd-variant-written"),
    pytest.param("int8_dynamic.tflite", id="3rd-variant-written"),
    pytest.param("manifest.json", id="manifest-written-before-swap"),
]


@pytest.mark.slow
@pytest.mark.parametrize("staged_file", KILL_POINTS)
def test_kill_9_during_convert(staged_file, case_root):
    workdir = case_root / "work"
    snap = Snapshot(workdir / "export")
    log = open(case_root / "convert.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "export.convert", f"--workdir={workdir}",
                             *CONVERT], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    target = workdir / f".export.tmp-{proc.pid}" / staged_file
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    log.close()
    assert target.exists(), (case_root / "convert.log").read_text()[-3000:]
    assert leftovers(workdir)  # the staging folder of the dead run
    if staged_file != "manifest.json":  # the gate refuses the part the dead run left
        expect_user_error(run_command("export.check", str(target.parent)), "manifest.json")
    assert_intact_or_absent(workdir, snap)
    assert_complete(workdir)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["mid-two-step-swap", "after-swap"])
def test_kill_9_during_the_final_swap(point, case_root):
    workdir = case_root / "work"
    snap = Snapshot(workdir / "export")
    r = subprocess.run([sys.executable, "-c", _DRIVER, point, f"--workdir={workdir}", *CONVERT],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    if point == "after-swap":  # the new export is in place, the old one not yet removed
        expect_success(run_command("export.check", str(workdir / "export"),
                                   "--require=parity,metadata,size"))
    else:
        assert_intact_or_absent(workdir, snap)
    assert leftovers(workdir)
    assert_complete(workdir)


def _ignore_sigxfsz_and_limit(limit: int) -> Callable:
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def _used_bytes(folder) -> int:
    stat = os.statvfs(folder)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


@pytest.mark.slow
@pytest.mark.parametrize("headroom", [40_000, 900_000], ids=["before-any-variant",
                                                             "at-the-2nd-variant"])
def test_disk_full_during_convert(headroom, tmp_path, small_workdir, small_export):
    """A tmpfs holding the workdir and its export, shrunk to `headroom` bytes to spare."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({mounted.stderr.strip()}); the ulimit case covers it")
    try:
        make_case_folder(disk, small_workdir, small_export[0])
        workdir = disk / "work"
        subprocess.run(["mount", "-o", f"remount,size={_used_bytes(disk) + headroom}",
                        str(disk)], check=True)
        snap = Snapshot(disk)
        r = run_command("export.convert", f"--workdir={workdir}", *CONVERT)
        line = expect_user_error(r, "No space left on device")
        assert str(disk) in line, line
        snap.assert_unchanged()
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        assert_complete(workdir)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.slow
def test_file_size_limit_during_convert(case_root):
    """`ulimit -f` (SIGXFSZ ignored, so writes fail with EFBIG) below the fp32 file's size."""
    workdir = case_root / "work"
    snap = Snapshot(case_root)
    r = run_command("export.convert", f"--workdir={workdir}", *CONVERT,
                    preexec_fn=_ignore_sigxfsz_and_limit(300_000))
    expect_user_error(r, "File too large")
    snap.assert_unchanged()
    assert_complete(workdir)
