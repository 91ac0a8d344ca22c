"""One small reader per on-disk format; each knows its files and their quirks.

Every reader returns `(train, test, label_names)` where `train` and `test` are lists of
`Example(text, label, source)`; `test` is None when the format has no test split.
`label` is a label name (str); `source` says where the row came from (file:line).

Every problem with a file is a `UserError` naming it (and the line, where there is one): a
column named in the config that the header lacks, a row without a text or a label, a quote
left open (which would merge rows), a byte that is not UTF-8 in an otherwise UTF-8 file.
"""

import csv
import dataclasses
import io
import json
import os
import re
import sys

from pipeline.errors import UserError


@dataclasses.dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str


# A valid UTF-8 sequence of two or more bytes: a file with one of these is meant to be UTF-8.
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_warned = set()


def warn(message: str) -> None:
    """One `warning:` line on stderr (data problems that do not stop the run)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def read_text(path: str, latin1: bool = False) -> str:
    """A text file as UTF-8 (BOM allowed); CRLF becomes LF.

    A file that is not UTF-8 is read as Latin-1 with one warning line naming it, unless it holds
    valid UTF-8 sequences too: then its stray byte would turn into a wrong character silently,
    and it is a UserError naming the line. `latin1=True` is for formats documented as Latin-1
    (MovieLens' u.item, movies.dat): no warning.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found; check --config.data.dir") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, byte = raw.count(b"\n", 0, e.start) + 1, raw[e.start]
        if not latin1 and _UTF8_MULTIBYTE.search(raw):
            raise UserError(f"{path}:{line}: byte 0x{byte:02x} is not UTF-8, although the rest of "
                            "the file is; fix that character (a file must be in one encoding)") from None
        if not latin1 and path not in _warned:
            _warned.add(path)
            warn(f"{path} is not UTF-8 (line {line}: byte 0x{byte:02x}); read as Latin-1")
        text = raw.decode("latin-1")  # e.g. BBC News sport/199.txt
    return text.replace("\r\n", "\n").replace("\r", "\n")


TEXT_ALIASES = ("text", "sentence", "content", "title", "utterance", "query")
LABEL_ALIASES = ("label", "labels", "category", "class", "intent")
DEFAULT_TEXT, DEFAULT_LABEL = "text", "label"  # the config's defaults: common names accepted


def find_column(names: list, wanted: str, aliases: tuple = ()):
    """Index of `wanted` in `names` (case-insensitive), else of the first of `aliases` there;
    None when absent."""
    lowered = [str(n).strip().lower() for n in names]
    return next((lowered.index(n) for n in (wanted.lower(), *aliases) if n in lowered), None)


def _aliases(wanted: str, default: str, aliases: tuple, fixed: bool) -> tuple:
    """Common names stand in for a column left at its default name (or one a format fixes);
    a name the user set must be there."""
    return aliases if fixed or wanted.lower() == default else ()


def _missing_column(where: str, wanted: str, role: str, names, what="column",
                    fixed=False) -> UserError:
    present = ", ".join(str(n).strip() for n in names)
    fix = "" if fixed else f"; set --config.data.{role}_column"
    return UserError(f"{where}: no {what} '{wanted}' ({what}s: {present}){fix}")


def _example(text, label, source: str) -> Example:
    """One labelled row; UserError naming it when its text or label is missing."""
    for name, value in (("text", text), ("label", label)):
        if value is None:
            raise UserError(f"{source}: the {name} is null")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise UserError(f"{source}: the {name} is {type(value).__name__}, not a string")
    text, label = str(text), str(label).strip()
    if not label:
        raise UserError(f"{source}: empty label; every row needs a label (or remove the row)")
    if not text.strip():
        raise UserError(f"{source}: empty text; every row needs a text (or remove the row)")
    return Example(text, label, source)


def _read_jsonl(path: str, content: str, text_column: str, label_column: str, fixed) -> list:
    rows = []
    for n, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path}:{n}: not a JSON object (each line must be one object with "
                            "the text and label fields)")
        keys = list(obj)
        found = []
        for wanted, role, default, aliases in (
                (text_column, "text", DEFAULT_TEXT, TEXT_ALIASES),
                (label_column, "label", DEFAULT_LABEL, LABEL_ALIASES)):
            index = find_column(keys, wanted, _aliases(wanted, default, aliases, fixed))
            if index is None:
                raise _missing_column(f"{path}:{n}", wanted, role, keys, "field", fixed)
            found.append(obj[keys[index]])
        rows.append(_example(*found, f"{path}:{n}"))
    return rows


def _csv_rows(path: str, content: str, delimiter: str) -> list:
    """(line number, fields) of each non-blank row. A quoted field may not span lines: that is
    how an unterminated quote shows (it swallows the rows after it)."""
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(content), delimiter=delimiter, quoting=quoting)
    rows, start = [], 1
    try:
        for fields in reader:
            if any("\n" in field for field in fields):
                end = ("the end of the file" if reader.line_num == start
                       else f"line {reader.line_num}, taking in the rows between")
                raise UserError(f"{path}:{start}: unterminated quote: the quoted field that starts "
                                f"on this line runs to {end}; close it (a text must be on one "
                                "line)")
            if any(field.strip() for field in fields):
                rows.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as e:  # e.g. a field larger than the csv module's limit
        raise UserError(f"{path}:{start}: {e} (an unterminated quote?)") from None
    return rows


def read_table(path: str, text_column: str = DEFAULT_TEXT, label_column: str = DEFAULT_LABEL,
               fixed: bool = False) -> list[Example]:
    """CSV, TSV (by extension .tsv/.txt) or JSONL with named text and label columns.

    A column named in the config must exist; a column left at its default name ("text",
    "label") may be any common name (TEXT_ALIASES, LABEL_ALIASES), as may the columns of a
    format that fixes them (`fixed`, e.g. SST-2's `sentence`).
    """
    content = read_text(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in (".jsonl", ".json"):
        rows = _read_jsonl(path, content, text_column, label_column, fixed)
        if not rows:
            raise UserError(f"{path}: the file is empty")
        return rows
    delimiter = "\t" if ext in (".tsv", ".txt") else ","
    lines = _csv_rows(path, content, delimiter)
    if not lines:
        raise UserError(f"{path}: the file is empty")
    if len(lines) < 2:
        raise UserError(f"{path}: no rows (only the header)")
    header = lines[0][1]
    found = []
    for wanted, role, default, aliases in ((text_column, "text", DEFAULT_TEXT, TEXT_ALIASES),
                                           (label_column, "label", DEFAULT_LABEL, LABEL_ALIASES)):
        index = find_column(header, wanted, _aliases(wanted, default, aliases, fixed))
        if index is None:
            raise _missing_column(path, wanted, role, header, fixed=fixed)
        found.append(index)
    ti, li = found
    hint = "; quote a text that contains ','" if delimiter == "," else ""
    rows = []
    for n, r in lines[1:]:
        # Extra non-empty fields: an unquoted delimiter inside a text, which would shift columns.
        if len(r) < len(header) or any(f.strip() for f in r[len(header):]):
            raise UserError(f"{path}:{n}: expected {len(header)} columns ({', '.join(header)}), "
                            f"found {len(r)}{hint}")
        rows.append(_example(r[ti], r[li], f"{path}:{n}"))
    return rows


def _require_dir(path: str) -> None:
    if not path or not os.path.isdir(path):
        raise UserError(f"{path or '(empty)'}: data folder not found; set --config.data.dir or $PIPELINE_DATA_DIR")


def read_sst2(data_dir: str, train_file: str = "train.tsv", test_file: str = "dev.tsv"):
    """GLUE SST-2 TSV: `label<TAB>sentence` with a header (`sentence` or `content`)."""
    _require_dir(data_dir)
    names = ["negative", "positive"]

    def load(name):
        rows = read_table(os.path.join(data_dir, name), "sentence", "label", fixed=True)
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
    if not names:
        raise UserError(f"{class_path}: the file is empty (it must list the class names)")

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
            out.append(_example(title, names[int(label)], f"{path}:{n}"))
        if not out:
            raise UserError(f"{path}: the file is empty")
        return out

    return load(train_file), load(test_file), names


def read_class_folders(data_dir: str):
    """One document per file in `<dir>/<class>/*.txt` (BBC News layout); no test split.
    Hidden folders and folders without .txt files are not classes (the latter with a warning)."""
    _require_dir(data_dir)
    names, rows = [], []
    for name in sorted(os.listdir(data_dir)):
        folder = os.path.join(data_dir, name)
        if name.startswith(".") or not os.path.isdir(folder):
            continue
        found = []
        for fname in sorted(os.listdir(folder)):
            if not fname.endswith(".txt"):
                continue
            text = read_text(os.path.join(folder, fname)).strip()
            if text:
                found.append(Example(" ".join(text.split()), name, f"{name}/{fname}"))
        if not found:
            warn(f"{folder}: no .txt documents; not a class")
            continue
        names.append(name)
        rows += found
    if not rows:
        raise UserError(f"{data_dir}: no documents; expected one folder per class holding .txt "
                        "files (<dir>/<class>/*.txt)")
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
