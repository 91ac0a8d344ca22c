"""One small reader per on-disk format; each knows its files and their quirks.

Every reader returns `(train, test, label_names)` where `train` and `test` are lists of
`Example(text, label, source)`; `test` is None when the format has no test split.
`label` is a label name (str); `source` says where the row came from (file:line).
"""

import csv
import dataclasses
import io
import json
import os

from pipeline.errors import UserError


@dataclasses.dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str


def read_text(path: str) -> str:
    """Reads a text file as UTF-8 (BOM allowed), falling back to Latin-1; CRLF becomes LF."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found; check --config.data.dir") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # e.g. BBC News sport/199.txt
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _find_column(header: list[str], wanted: str, aliases: tuple[str, ...], path: str) -> int:
    names = [h.strip().lower() for h in header]
    for name in (wanted.lower(),) + aliases:
        if name in names:
            return names.index(name)
    raise UserError(
        f"{path}: no column named '{wanted}' (header is {header}); "
        "set --config.data.text_column / --config.data.label_column"
    )


TEXT_ALIASES = ("text", "sentence", "content", "title", "utterance", "query")
LABEL_ALIASES = ("label", "labels", "category", "class", "intent")


def read_table(path: str, text_column: str = "text", label_column: str = "label") -> list[Example]:
    """CSV, TSV (by extension .tsv/.txt) or JSONL with named text and label columns."""
    content = read_text(path)
    ext = os.path.splitext(path)[1].lower()
    rows = []
    if ext in (".jsonl", ".json"):
        for n, line in enumerate(content.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            keys = {k.lower(): k for k in obj}
            tk = next((keys[k] for k in (text_column.lower(),) + TEXT_ALIASES if k in keys), None)
            lk = next((keys[k] for k in (label_column.lower(),) + LABEL_ALIASES if k in keys), None)
            if tk is None or lk is None:
                raise UserError(f"{path}:{n}: needs '{text_column}' and '{label_column}' fields")
            rows.append(Example(str(obj[tk]), str(obj[lk]).strip(), f"{path}:{n}"))
        return rows
    delimiter = "\t" if ext in (".tsv", ".txt") else ","
    reader = csv.reader(io.StringIO(content), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE)
    lines = [(n, r) for n, r in enumerate(reader, start=1) if r and any(c.strip() for c in r)]
    if not lines:
        return rows
    header = lines[0][1]
    ti = _find_column(header, text_column, TEXT_ALIASES, path)
    li = _find_column(header, label_column, LABEL_ALIASES, path)
    for n, r in lines[1:]:
        if len(r) <= max(ti, li):
            raise UserError(f"{path}:{n}: expected {len(header)} columns, found {len(r)}")
        rows.append(Example(r[ti], r[li].strip(), f"{path}:{n}"))
    return rows


def _require_dir(path: str) -> None:
    if not path or not os.path.isdir(path):
        raise UserError(f"{path or '(empty)'}: data folder not found; set --config.data.dir or $PIPELINE_DATA_DIR")


def read_sst2(data_dir: str, train_file: str = "train.tsv", test_file: str = "dev.tsv"):
    """GLUE SST-2 TSV: `label<TAB>sentence` with a header (`sentence` or `content`)."""
    _require_dir(data_dir)
    names = ["negative", "positive"]

    def load(name):
        rows = read_table(os.path.join(data_dir, name), "sentence", "label")
        out = []
        for ex in rows:
            if ex.label not in ("0", "1"):
                raise UserError(f"{ex.source}: label '{ex.label}' is not 0 or 1")
            out.append(Example(ex.text, names[int(ex.label)], ex.source))
        return out

    return load(train_file), load(test_file), names


def read_thucnews(data_dir: str, train_file: str = "dev.txt", test_file: str = "test.txt"):
    """THUCNews titles: `title<TAB>label-index` lines, no header; names in class.txt."""
    _require_dir(data_dir)
    class_path = os.path.join(data_dir, "class.txt")
    names = [name.strip() for name in read_text(class_path).split("\n") if name.strip()]

    def load(name):
        path = os.path.join(data_dir, name)
        out = []
        for n, line in enumerate(read_text(path).split("\n"), start=1):
            if not line.strip():
                continue
            title, sep, label = line.rpartition("\t")
            if not sep:
                raise UserError(f"{path}:{n}: expected 'title<TAB>label'")
            label = label.strip()
            if not label.isdigit() or int(label) >= len(names):
                raise UserError(f"{path}:{n}: label '{label}' is not an index into {class_path} ({len(names)} classes)")
            out.append(Example(title, names[int(label)], f"{path}:{n}"))
        return out

    return load(train_file), load(test_file), names


def read_class_folders(data_dir: str):
    """One document per file in `<dir>/<class>/*.txt` (BBC News layout); no test split."""
    _require_dir(data_dir)
    names = sorted(d for d in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, d)))
    rows = []
    for name in names:
        folder = os.path.join(data_dir, name)
        for fname in sorted(os.listdir(folder)):
            if not fname.endswith(".txt"):
                continue
            text = read_text(os.path.join(folder, fname)).strip()
            if text:
                rows.append(Example(" ".join(text.split()), name, f"{name}/{fname}"))
    return rows, None, names


def read_table_dir(data_dir: str, train_file: str, test_file: str, text_column: str, label_column: str):
    """Generic CSV/TSV/JSONL files with named text and label columns; test file optional."""
    _require_dir(data_dir)
    if not train_file:
        raise UserError(f"{data_dir}: set --config.data.train_file to the training file's name")
    train = read_table(os.path.join(data_dir, train_file), text_column, label_column)
    test = read_table(os.path.join(data_dir, test_file), text_column, label_column) if test_file else None
    return train, test, sorted({ex.label for ex in train})


def read_tfds(name: str):
    """A TFDS catalog dataset with `train` and `validation`/`test` splits (downloads)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name)
        builder.download_and_prepare()
    except Exception as e:  # network or catalog errors are the user's to fix
        raise UserError(f"TFDS '{name}': could not download ({type(e).__name__}); "
                        "offline, point --config.data.dir at a local copy") from None
    info = builder.info
    label_names = list(info.features["label"].names)
    text_key = next(k for k in info.features if k in TEXT_ALIASES)
    test_split = "validation" if "validation" in info.splits else "test"

    def load(split):
        out = []
        for i, ex in enumerate(tfds.as_numpy(builder.as_dataset(split=split))):
            label = int(ex["label"])
            if label < 0:  # GLUE test splits are unlabeled
                continue
            out.append(Example(ex[text_key].decode("utf-8"), label_names[label], f"tfds:{name}/{split}:{i}"))
        return out

    return load("train"), load(test_split), label_names
