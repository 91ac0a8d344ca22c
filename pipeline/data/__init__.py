"""One loader for text-classification datasets: TFDS online, local copies offline.

`load_text_dataset(config.data, seed)` returns a `TextDataset`. Local files are found in
`config.data.dir`, else in `$PIPELINE_DATA_DIR/<config.data.subdir>`; when neither exists and the
config names a TFDS dataset (`data.tfds_name`), it is read from the TFDS catalog (downloads).

Formats (`config.data.name`):
  assistant_intents  the project's own English + Chinese voice-assistant commands (shipped)
  sst2               GLUE SST-2 TSV files (train.tsv, dev.tsv)
  bbc                one document per file in <dir>/<class>/*.txt; no test split
  thucnews           THUCNews `title<TAB>label` files + class.txt
  table              any CSV / TSV / JSONL with named text and label columns

`preload(config)` reads what a config names (text or interactions) before a command loads
TensorFlow, so that a bad file stops it in a second; the loader then hands over that result.
"""

import collections
import dataclasses
import json
import os
import random

from pipeline.data import readers
from pipeline.errors import UserError

DATA_DIR_ENV = "PIPELINE_DATA_DIR"
ASSISTANT_INTENTS_DIR = os.path.join(os.path.dirname(__file__), "assistant_intents")
FORMATS = ("assistant_intents", "sst2", "bbc", "thucnews", "table")


@dataclasses.dataclass
class Split:
    texts: list
    labels: list  # int indices into TextDataset.label_names
    sources: list


@dataclasses.dataclass
class TextDataset:
    train: Split
    test: Split
    label_names: list
    # How the evaluation split was made: {"method": "given" | "stratified", ...}.
    split_info: dict


def resolve_data_dir(data) -> str:
    if data.name == "assistant_intents" and not data.dir:
        return ASSISTANT_INTENTS_DIR
    if data.dir:
        return data.dir
    root = os.environ.get(DATA_DIR_ENV, "")
    if root and data.subdir and os.path.isdir(os.path.join(root, data.subdir)):
        return os.path.join(root, data.subdir)
    return ""


def _read(data, data_dir):
    name = data.name
    if name not in FORMATS:
        raise UserError(f"--config.data.name='{name}' is not one of {', '.join(FORMATS)}")
    if not data_dir:
        if data.tfds_name:
            return readers.read_tfds(data.tfds_name)
        raise UserError(f"dataset '{name}': no local copy found; set --config.data.dir "
                        f"or ${DATA_DIR_ENV} (a folder containing '{data.subdir or name}')")
    files = {k: v for k, v in (("train_file", data.train_file), ("test_file", data.test_file)) if v}
    if name == "sst2":
        return readers.read_sst2(data_dir, **files)
    if name == "thucnews":
        return readers.read_thucnews(data_dir, **files)
    if name == "bbc":
        return readers.read_class_folders(data_dir)
    # "table" and "assistant_intents" (whose config names train.jsonl and test.jsonl)
    return readers.read_table_dir(data_dir, data.train_file, data.test_file,
                                  data.text_column, data.label_column)


def stratified_split(labels: list, fraction: float, seed: int) -> tuple[list, list]:
    """Indices (keep, held_out): `fraction` of each class held out (at least one example of
    every class that has two or more), seeded, order kept."""
    by_class = collections.defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    rng = random.Random(seed)
    held = set()
    for label in sorted(by_class):
        idx = by_class[label][:]
        rng.shuffle(idx)
        count = int(round(len(idx) * fraction))
        if fraction > 0 and len(idx) >= 2:
            count = min(len(idx) - 1, max(1, count))
        held.update(idx[:count])
    keep = [i for i in range(len(labels)) if i not in held]
    return keep, sorted(held)


def _check(rows, label_names, what, where):
    if not rows:
        raise UserError(f"{where}: the {what} split is empty; check the file and "
                        "--config.data settings")
    known = set(label_names)
    for ex in rows:
        if ex.label not in known:
            raise UserError(f"{ex.source}: label '{ex.label}' is not in the label set "
                            f"({', '.join(label_names[:12])}); fix the file or the label column")
    files = {ex.source.rsplit(":", 1)[0] for ex in rows if ":" in ex.source}
    if len(files) == 1:  # name the file the split came from, not just its folder
        where = files.pop()
    if what == "train" and len({ex.label for ex in rows}) < 2:
        raise UserError(f"{where}: the train split has a single class ('{rows[0].label}'); "
                        "a classifier needs at least two")


def _to_split(rows, label_names):
    index = {name: i for i, name in enumerate(label_names)}
    return Split([ex.text for ex in rows], [index[ex.label] for ex in rows], [ex.source for ex in rows])


def _subset(rows, limit, seed):
    if not limit or limit >= len(rows):
        return rows
    _, keep = stratified_split([ex.label for ex in rows], limit / len(rows), seed)
    return [rows[i] for i in keep]


# What `preload` read, by `_key`; the next load of the same data takes it (once).
_preloaded = {}


def _key(kind: str, data, *extra) -> str:
    return json.dumps([kind, data.to_dict(), os.environ.get(DATA_DIR_ENV, ""), *extra],
                      sort_keys=True, default=str)


def take_preloaded(kind: str, data, *extra):
    """The result `preload` stored for this data, removed from the store; None if none."""
    return _preloaded.pop(_key(kind, data, *extra), None)


def check_extra_text_files(file_list: str) -> None:
    """Each file of `data.extra_text_files` exists and reads as text; UserError naming it."""
    for path in filter(None, (p.strip() for p in file_list.split(","))):
        if not os.path.isfile(path):
            what = "is a folder, expected a file" if os.path.isdir(path) else "file not found"
            raise UserError(f"--config.data.extra_text_files: {path}: {what}")
        readers.read_text(path)


def preload(config) -> None:
    """Reads the data `config` names and checks it (UserError naming the file), keeping the
    result for the task's own load: called before TensorFlow is imported."""
    data = config.data
    if data.name in FORMATS:
        _preloaded[_key("text", data, config.seed)] = load_text_dataset(data, config.seed)
        if "extra_text_files" in data:
            check_extra_text_files(data.extra_text_files)
        return
    from pipeline.data import movielens  # numpy only
    if data.name in movielens.FORMATS:
        interactions = movielens.load_interactions(data)
        if "recs" in config:  # protocol P's own refusals (too few interactions per user)
            movielens.protocol_split(interactions, config.recs)
        _preloaded[_key("interactions", data)] = interactions


def load_text_dataset(data, seed: int = 0) -> TextDataset:
    """The train and test splits `data` (config.data) names; see the module docstring."""
    found = take_preloaded("text", data, seed)
    if found is not None:
        return found
    data_dir = resolve_data_dir(data)
    train, test, label_names = _read(data, data_dir)
    where = data_dir or f"tfds:{data.tfds_name}"
    split_info = {"method": "given"}
    if test is None:
        _check(train, label_names, "train", where)
        keep, held = stratified_split([ex.label for ex in train], data.test_fraction, seed)
        split_info = {"method": "stratified", "seed": seed, "test_fraction": data.test_fraction,
                      "test_sources": [train[i].source for i in held]}
        train, test = [train[i] for i in keep], [train[i] for i in held]
    _check(train, label_names, "train", where)
    _check(test, label_names, "test", where)
    validation_fraction = getattr(data, "validation_fraction", 0.0)  # older config.json: none
    if validation_fraction:
        # Choices (recipe steps, epochs) are made on a seeded part of train, never on the test
        # split: the run trains on the rest and reports on the held part as its "test".
        keep, held = stratified_split([ex.label for ex in train], validation_fraction, seed + 1)
        split_info = {"method": "validation", "seed": seed + 1,
                      "validation_fraction": validation_fraction,
                      "note": "evaluated on a held-out part of train; the test split is unused"}
        train, test = [train[i] for i in keep], [train[i] for i in held]
    train = _subset(train, data.max_train_examples, seed)
    test = _subset(test, data.max_test_examples, seed)
    return TextDataset(_to_split(train, label_names), _to_split(test, label_names), list(label_names), split_info)
