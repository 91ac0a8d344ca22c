"""The training half of the bad-input and fault matrix: `pipeline.train` and `pipeline.evaluate`.

Each case runs the command as a user would (tests/badinput.py) and asserts the promise: exit 2
and one `error:` line naming the flag or file, no traceback, and nothing under the case's folder
changed or created. Cases fail before training (seconds) except the `slow` ones, which train
`configs/assistant_intents.py:tiny` for a few steps (faults: a full disk, Ctrl-C) and check
that a rerun resumes and finishes.

Root bypasses file permissions, so "workdir not writable" is tested with a read-only bind mount
(skipped where `mount` is not allowed); a full disk with a small tmpfs (likewise), and a write
that fails through `RLIMIT_FSIZE` (EFBIG), which needs no mount.
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from tests.badinput import REPO, Snapshot, expect_success, expect_user_error, run_command
from tests.test_movielens_data import write_1m, write_100k, write_latest

INTENTS = "--config=configs/assistant_intents.py:tiny"
# Bounds the work of a case whose bad input is (wrongly) accepted: no teacher, 3 steps.
TEXT_LIMITS = ("--config.train.max_steps=3", "--config.stages.teacher=False",
               "--config.stages.distill=False", "--config.stages.pretrain=False",
               "--config.model.init_embeddings_from_teacher=False")
CONFIGS = {
    "intents": (INTENTS, *TEXT_LIMITS),
    "table": (INTENTS, *TEXT_LIMITS, "--config.data.name=table", "--config.data.dir={t}/data",
              "--config.data.train_file=train.csv", "--config.data.test_file=test.csv"),
    "sst2": ("--config=configs/sst2.py:tiny", *TEXT_LIMITS, "--config.data.dir={t}/data"),
    "thuc": ("--config=configs/thucnews_zh.py:tiny", *TEXT_LIMITS, "--config.data.dir={t}/data"),
    "bbc": ("--config=configs/bbc_news.py:tiny", *TEXT_LIMITS, "--config.data.dir={t}/data"),
    "ml": ("--config=configs/movielens.py:tiny", "--config.train.max_steps=3",
           "--config.data.dir={t}/data"),
    "inter": ("--config=configs/movielens.py:tiny", "--config.train.max_steps=3",
              "--config.data.name=interactions", "--config.data.dir={t}/data",
              "--config.data.train_file=events.csv"),
}
GOOD_CSV = "text,label\nturn it up,music\nplay jazz,music\nis it raining,weather\nsunny today,weather\n"
GOOD_TEST = "text,label\nplay rock,music\nwill it snow,weather\n"
INTENT_LABELS = sorted({json.loads(line)["label"] for line in pathlib.Path(
    REPO, "pipeline", "data", "assistant_intents", "train.jsonl").read_text("utf-8").splitlines()})
ENV = {"PYTHONDONTWRITEBYTECODE": "1"}  # a config file in the case folder leaves no .pyc
CASES = []


def case(case_id, config, files, args, *needles, command="pipeline.train", marks=()):
    """One row of the matrix: `files` ({path under the case folder: text or bytes}, or a setup
    function of the folder) are written first; `args` follow the config's; `{t}` in args and
    needles is the case folder."""
    CASES.append(pytest.param(command, config, files, args, needles, id=case_id, marks=marks))


def fill(text: str, t) -> str:
    return text.replace("{t}", str(t))


def new_paths(folder, before: set) -> list:
    return sorted(p for p in _all_paths(folder) if p not in before)


def _all_paths(folder) -> set:
    out = set()
    for root, dirs, files in os.walk(folder):
        out.update(os.path.join(root, n) for n in dirs + files)
    return out


@pytest.fixture
def mounts():
    """Mounts made by a case's setup, unmounted afterwards (lazily: nothing may hold them)."""
    made = []
    yield made
    for path in reversed(made):
        subprocess.run(["umount", "-l", path], capture_output=True)


def mount(made: list, *args) -> None:
    target = args[-1]
    os.makedirs(target, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", *args], capture_output=True).returncode:
        pytest.skip("needs root and permission to mount (a tmpfs or a read-only bind mount)")
    made.append(target)


# --- the command line -------------------------------------------------------------------------
def config_file(body):
    return {"cfg.py": body}


case("cli-no-config", None, {}, ["--workdir={t}/w"], "--config is required")
case("cli-no-workdir", None, {}, [INTENTS], "--workdir is required")
case("cli-empty-workdir", None, {}, [INTENTS, "--workdir="], "--workdir is required")
case("cli-unknown-flag", "intents", {}, ["--workdir={t}/w", "--epochs=3"], "epochs")
case("cli-stray-positional-argument", "intents", {}, ["--workdir={t}/w", "epochs=3"],
     "epochs=3", "unexpected argument")
case("config-missing-file", None, {}, ["--config={t}/nothere.py", "--workdir={t}/w"],
     "{t}/nothere.py", "no such config file")
case("config-empty-path", None, {}, ["--config=", "--workdir={t}/w"], "--config")
case("config-is-a-folder", None, {"sub/x": ""}, ["--config={t}/sub", "--workdir={t}/w"], "{t}/sub")
case("config-syntax-error", None, config_file("def get_config(:\n"),
     ["--config={t}/cfg.py", "--workdir={t}/w"], "{t}/cfg.py", "SyntaxError", "line 1")
case("config-get-config-raises", None, config_file(
     "def get_config():\n    raise ValueError('no such preset')\n"),
     ["--config={t}/cfg.py", "--workdir={t}/w"], "{t}/cfg.py", "ValueError", "no such preset")
case("config-no-get-config", None, config_file("X = 1\n"),
     ["--config={t}/cfg.py", "--workdir={t}/w"], "{t}/cfg.py", "get_config")
case("config-returns-a-dict", None, config_file("def get_config():\n    return {'seed': 1}\n"),
     ["--config={t}/cfg.py", "--workdir={t}/w"], "{t}/cfg.py", "ConfigDict")
case("config-import-error", None, config_file("import no_such_module_xyz\n"),
     ["--config={t}/cfg.py", "--workdir={t}/w"], "{t}/cfg.py", "no_such_module_xyz")
case("config-unknown-argument", None, {},
     ["--config=configs/assistant_intents.py:huge", "--workdir={t}/w"], "huge", "tiny")
case("config-not-python", None, {}, ["--config=README.md", "--workdir={t}/w"], "README.md")
case("override-wrong-type-int", "intents", {}, ["--config.train.epochs=three"],
     "--config.train.epochs", "three")
case("override-wrong-type-bool", "intents", {}, ["--config.stages.pretrain=maybe"],
     "--config.stages.pretrain", "maybe")
case("override-float-for-int", "intents", {}, ["--config.train.batch_size=3.5"],
     "--config.train.batch_size", "3.5")
case("override-missing-value", "intents", {}, ["--config.train.epochs"], "--config.train.epochs")
case("override-unknown-key", "intents", {}, ["--config.train.epoch=3"], "--config.train.epoch")
case("override-unknown-section", "intents", {}, ["--config.recs.top_k=3"], "--config.recs")
case("override-unknown-task", "intents", {}, ["--config.task=ranking"], "--config.task", "ranking")
for override, needle in [  # a sample of ranges through the CLI (tests/test_configs.py: all)
        ("train.epochs=-1", "integer >= 1"), ("train.max_steps=-5", "integer >= 0"),
        ("data.test_fraction=1.5", "(0, 1)"), ("train.learning_rate=nan", "(0, 1]"),
        ("train.learning_rate=0", "(0, 1]"), ("tokenizer.sequence_length=1", ">= 3"),
        ("tokenizer.vocabulary_size=5", ">= 100"), ("train.batch_size=0", ">= 1"),
        ("model.dropout=1.5", "[0, 1)"), ("model.num_heads=3", "divide"),
        ("seed=-1", "integer in"), ("model.activation=swish", "relu"),
        ("data.name=imdb", "table"), ("stages.finetune=False", "no stage"),
        ("stages.distill=True", "teacher"), ("train.checkpoint_every_steps=0", ">= 1"),
        ("pretrain.mask_rate=0", "(0, 1)"), ("data.text_column=", "non-empty")]:
    case(f"range-{override}", "intents", {}, [f"--config.{override}"],
         f"--config.{override.split('=')[0]}=", needle)
for override, needle in [("recs.min_user_interactions=2", ">= 3"), ("recs.num_seeds=0", ">= 1")]:
    case(f"range-movielens-{override}", "ml", lambda t: write_latest(t / "data"),
         [f"--config.{override}"], f"--config.{override.split('=')[0]}=", needle)


# --- the workdir ------------------------------------------------------------------------------
def trained_with_other_config(t):
    os.makedirs(t / "w")
    (t / "w" / "config.json").write_text(json.dumps({"task": "text_classification", "seed": 7}))


def read_only_workdir(t, made):
    os.makedirs(t / "ro" / "w")
    (t / "ro" / "w" / "keep.txt").write_text("kept")
    mount(made, "--bind", "-o", "ro", str(t / "ro"), str(t / "ro"))


read_only_workdir.needs_mounts = True


def chmod_read_only_workdir(t):
    if os.geteuid() == 0:
        pytest.skip("root bypasses chmod (os.access says writable, and it is): "
                    "workdir-read-only-mount tests a workdir root cannot write")
    os.makedirs(t / "w")
    os.chmod(t / "w", 0o555)


case("workdir-is-a-file", "intents", {"w": "not a folder"}, ["--workdir={t}/w"],
     "--workdir={t}/w", "not a folder")
case("workdir-parent-is-a-file", "intents", {"f": "x"}, ["--workdir={t}/f/w"], "--workdir={t}/f/w")
case("workdir-under-proc", "intents", {}, ["--workdir=/proc/pipeline-test-workdir"],
     "--workdir=/proc/pipeline-test-workdir", "cannot create")
case("workdir-a-proc-file", "intents", {}, ["--workdir=/proc/self/status"], "not a folder")
case("workdir-read-only-mount", "intents", read_only_workdir, ["--workdir={t}/ro/w"],
     "--workdir={t}/ro/w", "read-only")
case("workdir-chmod-read-only", "intents", chmod_read_only_workdir, ["--workdir={t}/w"],
     "--workdir={t}/w", "no permission")
case("workdir-other-config", "intents", trained_with_other_config, ["--workdir={t}/w"],
     "{t}/w/config.json", "different config")
case("workdir-config-json-corrupt", "intents", {"w/config.json": "{trunc"}, ["--workdir={t}/w"],
     "{t}/w/config.json", "unreadable")


# --- text data --------------------------------------------------------------------------------
def table(train=GOOD_CSV, test=GOOD_TEST, train_name="train.csv", test_name="test.csv"):
    files = {f"data/{train_name}": train}
    if test is not None:
        files[f"data/{test_name}"] = test
    return files


JSONL = '{"text": "play jazz", "label": "music"}\n{"text": "rain?", "label": "weather"}\n'
JSONL_ARGS = ["--config.data.train_file=train.jsonl", "--config.data.test_file=train.jsonl"]
STRAY = b"text,label\nplay jazz,music\ncaf\xc3\xa9 au lait \xff please,music\nrain,weather\n"
case("data-dir-missing", "table", {}, ["--config.data.dir={t}/nope"], "{t}/nope",
     "data folder not found")
case("data-dir-is-a-file", "table", {"data": "x"}, [], "{t}/data", "data folder not found")
case("table-train-file-missing", "table", table(test=GOOD_TEST, train_name="other.csv"), [],
     "{t}/data/train.csv", "not found")
case("table-test-file-missing", "table", table(test=None), [], "{t}/data/test.csv", "not found")
case("table-no-train-file-set", "table", table(), ["--config.data.train_file="],
     "--config.data.train_file")
case("table-train-file-is-a-folder", "table", {"data/train.csv/x": "", "data/test.csv": GOOD_TEST},
     [], "{t}/data/train.csv", "folder")
case("table-empty-file", "table", table(train=""), [], "{t}/data/train.csv", "empty")
case("table-header-only", "table", table(train="text,label\n"), [], "{t}/data/train.csv",
     "no rows")
case("table-blank-lines-only", "table", table(train="\n\n  \n"), [], "{t}/data/train.csv", "empty")
case("table-test-header-only", "table", table(test="text,label\r\n"), [], "{t}/data/test.csv",
     "no rows")
case("table-typo-text-column-csv", "table", table(), ["--config.data.text_column=txt"],
     "{t}/data/train.csv", "'txt'", "text, label")
case("table-typo-label-column-csv", "table", table(), ["--config.data.label_column=lable"],
     "{t}/data/train.csv", "'lable'", "text, label")
case("table-typo-label-column-tsv", "table", table(
     train=GOOD_CSV.replace(",", "\t"), test=GOOD_TEST.replace(",", "\t"), train_name="train.tsv",
     test_name="test.tsv"), ["--config.data.train_file=train.tsv", "--config.data.test_file=test.tsv",
                             "--config.data.label_column=intent"],
     "{t}/data/train.tsv", "'intent'", "text, label")
case("table-typo-text-column-jsonl", "table", {"data/train.jsonl": JSONL},
     [*JSONL_ARGS, "--config.data.text_column=utterance"], "{t}/data/train.jsonl:1",
     "'utterance'", "text, label")
case("table-empty-label", "table", table(train=GOOD_CSV + "what now,\n"), [],
     "{t}/data/train.csv:6", "empty label")
case("table-blank-label-jsonl", "table", {"data/train.jsonl": JSONL + '{"text": "hm", "label": " "}\n'},
     JSONL_ARGS, "{t}/data/train.jsonl:3", "empty label")
case("table-null-label-jsonl", "table", {"data/train.jsonl": JSONL + '{"text": "hm", "label": null}\n'},
     JSONL_ARGS, "{t}/data/train.jsonl:3", "label")
case("table-null-text-jsonl", "table", {"data/train.jsonl": '{"text": null, "label": "a"}\n' + JSONL},
     JSONL_ARGS, "{t}/data/train.jsonl:1", "text")
case("table-jsonl-array-line", "table", {"data/train.jsonl": JSONL + "[1, 2]\n"}, JSONL_ARGS,
     "{t}/data/train.jsonl:3", "JSON object")
case("table-jsonl-number-line", "table", {"data/train.jsonl": JSONL + "5\n"}, JSONL_ARGS,
     "{t}/data/train.jsonl:3", "JSON object")
case("table-jsonl-invalid", "table", {"data/train.jsonl": JSONL + '{"text": "x", \n'}, JSONL_ARGS,
     "{t}/data/train.jsonl:3", "not valid JSON")
case("table-unterminated-quote-merges-rows", "table", table(
     train='text,label\n"turn it up,music\nplay jazz,music\nwhat\'s "the" weather,weather\n'), [],
     "{t}/data/train.csv:2", "quote")
case("table-unterminated-quote-at-end", "table", table(train=GOOD_CSV + '"sunny,weather\n'), [],
     "{t}/data/train.csv:6", "quote")
case("table-unterminated-quote-huge-field", "table", table(
     train='text,label\n"hello,music\n' + "word, " * 40000 + "\nrain,weather\n"), [],
     "{t}/data/train.csv:2", "quote")
case("table-stray-byte-in-utf8", "table", table(train=STRAY), [], "{t}/data/train.csv:3", "0xff",
     "UTF-8")
case("table-too-few-columns", "table", table(train=GOOD_CSV + "lonely\n"), [],
     "{t}/data/train.csv:6", "2 columns")
case("table-unquoted-comma-shifts-columns", "table", table(train=GOOD_CSV + "louder, please,music\n"),
     [], "{t}/data/train.csv:6", "found 3", "quote")
case("table-single-class", "table", table(train="text,label\na,x\nb,x\n"), [], "single class")
case("table-label-outside-label-set", "table", table(test="text,label\nc,dance\n"), [],
     "{t}/data/test.csv:2", "dance", "not in the label set")
case("table-extra-text-file-missing", "table", table(),
     ["--config.data.extra_text_files={t}/nope.txt"], "--config.data.extra_text_files",
     "{t}/nope.txt")
case("table-extra-text-file-is-a-folder", "table", {**table(), "more/x": ""},
     ["--config.data.extra_text_files={t}/more"], "--config.data.extra_text_files", "{t}/more")
case("table-extra-text-file-stray-byte", "table", {**table(), "more.txt": STRAY},
     ["--config.data.extra_text_files={t}/more.txt"], "{t}/more.txt:3", "0xff")
SST2 = "label\tsentence\n1\ta gem\n0\tdull\n"
case("sst2-dev-missing", "sst2", {"data/train.tsv": SST2}, [], "{t}/data/dev.tsv", "not found")
case("sst2-label-2", "sst2", {"data/train.tsv": SST2 + "2\tmeh\n", "data/dev.tsv": SST2}, [],
     "{t}/data/train.tsv:4", "not 0 or 1")
case("sst2-empty-label", "sst2", {"data/train.tsv": SST2 + "\tmeh\n", "data/dev.tsv": SST2}, [],
     "{t}/data/train.tsv:4")
case("sst2-header-only", "sst2", {"data/train.tsv": "label\tsentence\n", "data/dev.tsv": SST2}, [],
     "{t}/data/train.tsv", "no rows")
case("sst2-no-sentence-column", "sst2", {"data/train.tsv": SST2.replace("sentence", "review"),
                                         "data/dev.tsv": SST2}, [],
     "{t}/data/train.tsv", "label, review")
THUC = "股市今天大涨\t0\n国足赢了\t1\n"
case("thucnews-class-file-missing", "thuc", {"data/dev.txt": THUC, "data/test.txt": THUC}, [],
     "{t}/data/class.txt", "not found")
case("thucnews-class-file-empty", "thuc", {"data/class.txt": "\n", "data/dev.txt": THUC,
                                            "data/test.txt": THUC}, [], "{t}/data/class.txt", "empty")
case("thucnews-label-out-of-range", "thuc", {"data/class.txt": "finance\nsports\n",
                                              "data/dev.txt": THUC + "降息\t7\n", "data/test.txt": THUC},
     [], "{t}/data/dev.txt:3", "'7'")
case("thucnews-no-tab", "thuc", {"data/class.txt": "finance\nsports\n",
                                 "data/dev.txt": "股市 0\n" + THUC, "data/test.txt": THUC}, [],
     "{t}/data/dev.txt:1", "TAB")
case("thucnews-empty-label", "thuc", {"data/class.txt": "finance\nsports\n",
                                      "data/dev.txt": THUC + "降息\t\n", "data/test.txt": THUC},
     [], "{t}/data/dev.txt:3")
case("bbc-no-class-folders", "bbc", {"data/readme.txt": "x"}, [], "{t}/data", "no documents")
case("bbc-single-class", "bbc", {f"data/sport/{i}.txt": f"match {i}" for i in range(4)}, [],
     "single class")
case("bbc-stray-byte", "bbc", {**{f"data/{c}/{i}.txt": f"{c} {i}" for c in ("a", "b")
                                  for i in range(3)}, "data/a/9.txt": STRAY}, [],
     "{t}/data/a/9.txt:3", "0xff")
case("bbc-not-found-under-data-dir-env", None, {"env/other/x": ""},
     ["--config=configs/bbc_news.py:tiny", "--workdir={t}/w"], "no local copy",
     "PIPELINE_DATA_DIR")
case("intents-dir-without-files", "intents", {"data/other.jsonl": JSONL},
     ["--config.data.dir={t}/data"], "{t}/data/train.jsonl", "not found")
case("intents-invalid-json", "intents", {"data/train.jsonl": JSONL + "{oops\n",
                                         "data/test.jsonl": JSONL},
     ["--config.data.dir={t}/data"], "{t}/data/train.jsonl:3", "not valid JSON")


# --- MovieLens and interactions ---------------------------------------------------------------
def latest_without(name):
    def setup(t):
        write_latest(t / "data")
        os.remove(t / "data" / name)
    return setup


def latest_with_ratings(text):
    def setup(t):
        write_latest(t / "data")
        (t / "data" / "ratings.csv").write_text(text)
    return setup


def format_without(writer, name):
    def setup(t):
        writer(t / "data")
        os.remove(t / "data" / name)
    return setup


def with_line(writer, name, line):
    def setup(t):
        writer(t / "data")
        with open(t / "data" / name, "a", encoding="utf-8") as f:
            f.write(line)
    return setup


RATINGS_HEAD = "userId,movieId,rating,timestamp\n"
EVENTS = "user,item,timestamp\n" + "".join(f"{u},{i},{i}\n" for u in (1, 2) for i in range(1, 7))
case("ml-no-ratings-file", "ml", {"data/README.txt": "x"}, [], "{t}/data", "ratings")
case("ml-latest-without-movies-csv", "ml", latest_without("movies.csv"), [],
     "{t}/data/movies.csv", "not found")
case("ml-100k-without-u-item", "ml", format_without(write_100k, "u.item"), [],
     "{t}/data/u.item", "not found")
case("ml-1m-without-movies-dat", "ml", format_without(write_1m, "movies.dat"), [],
     "{t}/data/movies.dat", "not found")
case("ml-ratings-non-numeric-id", "ml", with_line(write_latest, "ratings.csv", "1,abc,4.0,9\n"), [],
     "{t}/data/ratings.csv", "'abc'")
case("ml-ratings-non-numeric-rating", "ml", with_line(write_latest, "ratings.csv", "1,5,good,9\n"),
     [], "{t}/data/ratings.csv", "'good'")
case("ml-ratings-fractional-item-id", "ml", with_line(write_latest, "ratings.csv", "1,5.5,4,9\n"),
     [], "{t}/data/ratings.csv", "'5.5'")
case("ml-ratings-nan-timestamp", "ml", with_line(write_latest, "ratings.csv", "1,5,4.0,nan\n"),
     [], "{t}/data/ratings.csv", "'nan'")
case("ml-ratings-short-row", "ml", with_line(write_latest, "ratings.csv", "1,5\n"), [],
     "{t}/data/ratings.csv:17")
case("ml-ratings-header-only", "ml", latest_with_ratings(RATINGS_HEAD), [], "{t}/data/ratings.csv",
     "empty")
case("ml-ratings-no-timestamp-column", "ml", latest_with_ratings("userId,movieId,rating\n1,5,4\n"),
     [], "{t}/data/ratings.csv", "timestamp")
case("ml-100k-short-row", "ml", with_line(write_100k, "u.data", "1\t5\n"), [],
     "{t}/data/u.data:16", "4 columns")
case("ml-1m-bad-rating", "ml", with_line(write_1m, "ratings.dat", "1::5::five::9\n"), [],
     "{t}/data/ratings.dat", "'five'")
case("ml-too-few-interactions", "ml", latest_with_ratings(RATINGS_HEAD + "1,5,4,1\n2,7,3,2\n"),
     [], "{t}/data/ratings.csv", "no user has")
case("interactions-no-train-file-set", "inter", {"data/events.csv": EVENTS},
     ["--config.data.train_file="], "--config.data.train_file")
case("interactions-train-file-missing", "inter", {"data/other.csv": EVENTS}, [],
     "{t}/data/events.csv", "not found")
case("interactions-typo-user-column", "inter", {"data/events.csv": EVENTS},
     ["--config.data.user_column=visitor"], "{t}/data/events.csv", "'visitor'", "user, item")
case("interactions-items-file-missing", "inter", {"data/events.csv": EVENTS},
     ["--config.data.items_file=items.csv"], "{t}/data/items.csv", "not found")


# --- evaluate ---------------------------------------------------------------------------------
def _resolved(path, arg, **data):
    """config.json as pipeline.train writes it, for `configs/<path>:<arg>`."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("cfg", os.path.join(REPO, "configs", path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(arg)
    config.data.update(data)
    return json.loads(config.to_json_best_effort())


def fake_zip(path, inner=None):
    """A .keras-shaped zip; its config.json is `inner` (default: an empty object)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", "{}" if inner is None else inner)
        z.writestr("metadata.json", "{}")


def classifier_workdir(**change):
    """A workdir as pipeline.train leaves it (model.keras a stand-in: cases stop before it is
    read), with `change`: {file: text, bytes, None to delete, or a function of the path}."""
    def setup(t):
        w = t / "w"
        w.mkdir()
        (w / "config.json").write_text(json.dumps(_resolved("assistant_intents.py", "tiny")))
        (w / "labels.txt").write_text("".join(f"{name}\n" for name in INTENT_LABELS))
        (w / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nplay\nset\n")
        fake_zip(w / "model.keras")
        for name, value in change.items():
            path = w / name
            if value is None:
                os.remove(path)
            elif callable(value):
                value(path)
            else:
                path.write_bytes(value if isinstance(value, bytes) else value.encode())
    return setup


def recommender_workdir(without=""):
    """A recommender workdir whose seed model is missing (and `without`, if given)."""
    def setup(t):
        write_latest(t / "data")
        w = t / "w"
        w.mkdir()
        (w / "config.json").write_text(json.dumps(
            _resolved("movielens.py", "tiny", dir=str(t / "data"))))
        (w / "items.csv").write_text("index,movieId,title,genres\n0,,[PAD],\n1,,[OOV],\n")
        fake_zip(w / "model.keras")
        if without:
            os.remove(w / without)
    return setup


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def eval_case(case_id, files, args, *needles, marks=()):
    case(case_id, None, files, args, *needles, command="pipeline.evaluate", marks=marks)


W = "--workdir={t}/w"
eval_case("eval-no-workdir-flag", {}, [], "--workdir is required")
eval_case("eval-unknown-flag", classifier_workdir(), [W, "--data-dir=x"], "data-dir")
eval_case("eval-workdir-missing", {}, [W], "{t}/w", "no such workdir")
eval_case("eval-workdir-is-a-file", {"w": "x"}, [W], "{t}/w")
eval_case("eval-config-json-missing", classifier_workdir(**{"config.json": None}), [W],
          "{t}/w/config.json", "not found")
eval_case("eval-config-json-not-json", classifier_workdir(**{"config.json": "{\"task\": "}), [W],
          "{t}/w/config.json")
eval_case("eval-config-json-a-list", classifier_workdir(**{"config.json": "[1, 2]"}), [W],
          "{t}/w/config.json")
eval_case("eval-config-json-unknown-task", classifier_workdir(**{"config.json": lambda p: p.write_text(
    p.read_text().replace('"text_classification"', '"ranking"'))}), [W], "{t}/w/config.json", "ranking")
eval_case("eval-config-json-out-of-range", classifier_workdir(**{"config.json": lambda p: p.write_text(
    p.read_text().replace('"sequence_length": 32', '"sequence_length": 1'))}), [W],
    "{t}/w/config.json", "tokenizer.sequence_length")
eval_case("eval-model-missing", classifier_workdir(**{"model.keras": None}), [W],
          "{t}/w/model.keras", "not found")
eval_case("eval-model-truncated", classifier_workdir(**{"model.keras": truncate}), [W],
          "{t}/w/model.keras", "truncated")
eval_case("eval-model-not-a-zip", classifier_workdir(**{"model.keras": "weights"}), [W],
          "{t}/w/model.keras", "truncated or corrupt")
eval_case("eval-model-zip-without-config", classifier_workdir(**{"model.keras": lambda p: (
    zipfile.ZipFile(p, "w").close())}), [W], "{t}/w/model.keras", "not a Keras model")
eval_case("eval-labels-missing", classifier_workdir(**{"labels.txt": None}), [W],
          "{t}/w/labels.txt", "not found")
eval_case("eval-vocab-missing", classifier_workdir(**{"vocab.txt": None}), [W],
          "{t}/w/vocab.txt", "not found")
eval_case("eval-data-dir-missing", classifier_workdir(), [W, "--data_dir={t}/nope"], "{t}/nope")
eval_case("eval-recommender-items-missing", recommender_workdir("items.csv"), [W],
          "{t}/w/items.csv", "not found")
SLOW = (pytest.mark.slow,)  # these load TensorFlow before they can tell (about 15 s each)
eval_case("eval-model-zip-bad-content", classifier_workdir(**{"model.keras": lambda p: fake_zip(
    p, "not json")}), [W], "{t}/w/model.keras", "cannot load", marks=SLOW)
eval_case("eval-labels-differ", classifier_workdir(**{"labels.txt": "music\nweather\n"}), [W],
          "{t}/w/labels.txt", "differ", marks=SLOW)
eval_case("eval-labels-not-utf8", classifier_workdir(**{"labels.txt": b"caf\xe9\n"}), [W],
          "{t}/w/labels.txt", marks=SLOW)
eval_case("eval-vocab-empty", classifier_workdir(**{"vocab.txt": ""}), [W], "{t}/w/vocab.txt",
          marks=SLOW)
eval_case("eval-recommender-seed-model-missing", recommender_workdir(), [W],
          "{t}/w/next_item_seed0/model.keras", "not found", marks=SLOW)


@pytest.mark.parametrize("command,config,files,args,needles", CASES)
def test_bad_input_is_one_line_and_changes_nothing(tmp_path, mounts, command, config, files,
                                                   args, needles):
    if callable(files):
        files(tmp_path, mounts) if getattr(files, "needs_mounts", False) else files(tmp_path)
    else:
        for name, content in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    full = [*(CONFIGS[config] + ("--workdir={t}/w",) if config else ()), *args]
    env = {**ENV, "PIPELINE_DATA_DIR": str(tmp_path / "env")}
    snapshot, before = Snapshot(tmp_path), _all_paths(tmp_path)
    result = run_command(command, *(fill(a, tmp_path) for a in full), env=env, timeout=300)
    line = expect_user_error(result, *(fill(n, tmp_path) for n in needles))
    assert "File not found" not in line, line  # what Keras says of a truncated .keras file
    snapshot.assert_unchanged()
    assert not new_paths(tmp_path, before), new_paths(tmp_path, before)


# --- faults: a full disk, a file-size limit, Ctrl-C; then a rerun resumes -----------------------
FAULT_ARGS = (INTENTS, "--config.train.max_steps=6", "--config.train.checkpoint_every_steps=3")


def assert_nothing_half_written(workdir):
    """No temporary file is left, and every model, JSON and CSV file reads whole."""
    for root, dirs, files in os.walk(workdir):
        for name in dirs + files:
            assert ".tmp" not in name, os.path.join(root, name)
        for name in files:
            path = os.path.join(root, name)
            if name.endswith(".keras"):
                with zipfile.ZipFile(path) as z:
                    assert z.testzip() is None, path
            elif name.endswith(".json"):
                with open(path, encoding="utf-8") as f:
                    json.load(f)


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


# tmpfs sizes that run out at each kind of write of FAULT_ARGS' run (checkpoints 1.8 MB,
# models 1.9 MB); `left` is what the failed run must have kept, `resumed` what the rerun says.
DISK_FULL = {
    "at-the-first-checkpoint": ("64k", ["vocab.txt"], "finetune: training"),
    "at-a-later-checkpoint": ("2600k", ["finetune/checkpoint/step-000000003"],
                              "finetune: resuming from the checkpoint"),
    "writing-the-stage-model": ("5400k", ["finetune/checkpoint/step-000000006"],
                                "(training finished)"),
    "writing-the-final-model": ("6600k", ["finetune/model.keras"], ""),
}


@pytest.mark.slow
@pytest.mark.parametrize("when", DISK_FULL)
def test_full_disk_is_one_line_and_a_rerun_resumes(tmp_path, mounts, when):
    size, left, resumed = DISK_FULL[when]
    disk = tmp_path / "disk"
    mount(mounts, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk))
    args = [*FAULT_ARGS, f"--workdir={disk}/w"]
    result = run_command("pipeline.train", *args, env=ENV)
    expect_user_error(result, f"--workdir={disk}/w", "No space left on device")
    assert_nothing_half_written(disk / "w")
    for name in left:
        assert (disk / "w" / name).exists(), (when, name, sorted(_all_paths(disk)))
    assert not (disk / "w" / "model.keras").exists()
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    result = run_command("pipeline.train", *args, env=ENV)
    expect_success(result)
    assert resumed in result.stdout, result.stdout[-2000:]
    assert (disk / "w" / "metrics.json").exists()
    assert_nothing_half_written(disk / "w")


@pytest.mark.slow
def test_file_size_limit_is_one_line_and_a_rerun_resumes(tmp_path):
    """Where no tmpfs can be mounted: RLIMIT_FSIZE makes the checkpoint write fail (EFBIG)."""
    args = [*FAULT_ARGS, f"--workdir={tmp_path}/w"]
    result = run_command("pipeline.train", *args, env=ENV, preexec_fn=_limit_file_size(1 << 20))
    expect_user_error(result, f"--workdir={tmp_path}/w", "File too large")
    assert_nothing_half_written(tmp_path / "w")
    result = run_command("pipeline.train", *args, env=ENV)
    expect_success(result)
    assert (tmp_path / "w" / "metrics.json").exists()


@pytest.mark.slow
def test_ctrl_c_during_training_is_one_line_and_a_rerun_resumes(tmp_path):
    workdir = tmp_path / "w"
    args = [INTENTS, "--config.train.max_steps=400", "--config.train.checkpoint_every_steps=5",
            f"--workdir={workdir}"]
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.train", *args], cwd=REPO, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **ENV})
    deadline = time.time() + 240
    checkpoints = workdir / "finetune" / "checkpoint"
    while proc.poll() is None and time.time() < deadline and not (
            checkpoints.is_dir() and any(n.startswith("step-") for n in os.listdir(checkpoints))):
        time.sleep(0.2)
    assert proc.poll() is None, "training ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert proc.returncode == 130, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "interrupted" in errors[0], stderr[-3000:]
    assert_nothing_half_written(workdir)
    result = run_command("pipeline.train", *args, env=ENV)
    expect_success(result)
    assert "finetune: resuming from the checkpoint" in result.stdout
