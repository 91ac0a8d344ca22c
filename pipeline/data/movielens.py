"""MovieLens (and any user/item/timestamp table) as next-item sequences, split by protocol P.

    data = load_interactions(config.data)          # ratings + movie titles, any format below
    split = protocol_split(data, config.recs)      # leave-last-out, catalogue, vocabulary

Formats (`config.data.name`):
  movielens     a GroupLens folder, recognised by its files:
                  ml-latest-small / ml-latest  ratings.csv, movies.csv (UTF-8, header)
                  ml-100k                      u.data (tab-separated), u.item (Latin-1, `|`)
                  ml-1m                        ratings.dat, movies.dat (`::`, Latin-1)
                online (no local copy): TFDS `data.tfds_name`, e.g. movielens/latest-small-ratings
  interactions  a generic CSV/TSV `data.train_file` with user, item and timestamp columns
                (`data.user_column`, `data.item_column`, `data.time_column`); optional
                `data.items_file` with item id, title and genres columns.

Protocol P (../shared/benchmarks/README.md): every rating is an interaction (unless
`recs.min_rating` > 0); each user's interactions in time order, ties by item id; users with fewer
than `recs.min_user_interactions` dropped; last = test target, second-last = validation target,
the rest = training part; catalogue = items in any training part. Vocabulary ids: 0 = padding,
1 = out-of-vocabulary, 2.. = catalogue items in ascending item id (so "ties to the lower movie
id" is "ties to the lower index").
"""

import csv
import dataclasses
import io
import os

import numpy as np

from export import contract
from pipeline.data import readers, resolve_data_dir
from pipeline.errors import UserError

PAD, OOV = 0, 1
FORMATS = ("movielens", "interactions")


@dataclasses.dataclass
class Interactions:
    """All ratings as parallel int64 arrays, plus item metadata {item_id: (title, genres)}."""
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    ratings: np.ndarray  # float; NaN where the format has none
    item_info: dict
    source: str  # the ratings file (or tfds:<name>), for messages


@dataclasses.dataclass
class SequenceSplit:
    """Protocol P applied: per-user sequences of vocabulary ids and the vocabulary itself."""
    item_ids: np.ndarray  # vocabulary id -> original item id (-1 for padding and OOV)
    train: list  # per user: int32 array of vocabulary ids (the training part)
    valid_targets: np.ndarray  # per user: vocabulary id of the validation item (OOV if unseen)
    test_targets: np.ndarray  # per user: vocabulary id of the test item (OOV if unseen)
    users: np.ndarray  # original user ids, in the order of the lists above
    item_info: dict

    @property
    def vocabulary_size(self) -> int:
        return len(self.item_ids)

    @property
    def catalogue_size(self) -> int:
        return len(self.item_ids) - 2

    def test_histories(self) -> list:
        """Training part + validation item: what the model sees when predicting the test item."""
        return [np.append(t, v).astype(np.int32) for t, v in zip(self.train, self.valid_targets)]

    def validation_cases(self, positions: int = 1) -> tuple:
        """(histories, targets) of validation: per user, the validation item and up to
        `positions` - 1 training-part items just before it, each predicted from the items before
        it (newest last). `positions=1` is protocol P's validation (one case per user); more
        cases make a less noisy validation. Every user keeps at least one training item; the
        test item and its history (`test_histories`) are never touched.
        """
        histories, targets = [], []
        for full, held in self._held_out(positions):
            for p in range(len(full) - held, len(full)):
                histories.append(full[:p])
                targets.append(full[p])
        return histories, np.asarray(targets, dtype=np.int32)

    def fit_sequences(self, positions: int = 1) -> list:
        """What a model (and a validation baseline) is fitted on: the training parts less the
        items `validation_cases(positions)` holds out, so no validation target is ever a
        training target or input (`positions=1`: the training parts themselves)."""
        return [full[:len(full) - held] for full, held in self._held_out(positions)]

    def _held_out(self, positions: int):
        """Per user: (training part + validation item, how many of its last items validate)."""
        if positions < 1:
            raise ValueError(f"positions={positions}: at least the validation item is held out")
        for train, valid in zip(self.train, self.valid_targets):
            yield np.append(train, valid).astype(np.int32), min(positions, len(train))

    def split_info(self) -> dict:
        return {"method": "protocol P (leave-last-out, time order, ties by item id)",
                "users": len(self.users), "catalogue": self.catalogue_size,
                "train_interactions": int(sum(len(t) for t in self.train)),
                "valid_targets_outside_catalogue": int(np.sum(self.valid_targets == OOV)),
                "test_targets_outside_catalogue": int(np.sum(self.test_targets == OOV))}


def _number(value: str, integer: bool):
    """`value` as an int (integral, e.g. "5" or "5.0") or a finite float; None if it is not."""
    try:
        number = float(value)
    except ValueError:
        return None
    if not np.isfinite(number) or (integer and number != int(number)):
        return None
    return int(number) if integer else number


def _parse_column(values, lines, path, column, integer=True) -> np.ndarray:
    """The column as int64 (ids, timestamps) or float (ratings); UserError naming the line."""
    parsed = [_number(v, integer) for v in values]
    for value, number, line in zip(values, parsed, lines):
        if number is None:
            kind = "non-numeric" if _number(value, False) is None else "non-integer"
            what = ("user and item ids and timestamps must be integers" if integer
                    else "ratings must be numbers")
            raise UserError(f"{path}:{line}: column '{column}' has a {kind} value '{value}'; "
                            f"{what}")
    return np.asarray(parsed, dtype=np.int64 if integer else np.float64)


def _rows(path, delimiter, header, latin1=False):
    """(line numbers, non-blank rows) of a delimited text file; `header`: the first row is one.
    `latin1`: a format documented as Latin-1 (no warning for it)."""
    text = readers.read_text(path, latin1=latin1)
    if delimiter == "::":  # ml-1m: csv cannot split on a two-character delimiter
        numbered = [(n, line.split("::")) for n, line in enumerate(text.split("\n"), start=1)
                    if line.strip()]
    else:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        numbered, start = [], 1
        try:
            for r in reader:
                if r and any(c.strip() for c in r):
                    numbered.append((start, r))
                start = reader.line_num + 1
        except csv.Error as e:  # e.g. an unterminated quote running past the field limit
            raise UserError(f"{path}:{start}: {e} (an unterminated quote?)") from None
    if not numbered or (header and len(numbered) < 2):
        raise UserError(f"{path}: the file is empty (no ratings)")
    return [n for n, _ in numbered], [r for _, r in numbered]


# Common column names; they stand in for a column left at its default (or fixed by the format).
ALIASES = {"user": ("userid", "user_id", "user"), "item": ("movieid", "item_id", "item"),
           "time": ("timestamp", "time")}
DEFAULTS = {"user": "user", "item": "item", "time": "timestamp"}


def _columns(path, lines, rows, wanted, fixed=False):
    """{role: (column values, line numbers)} for a file with a header row, by column name."""
    header = [h.strip().lower() for h in rows[0]]
    out = {}
    for role, name in wanted.items():
        aliases = ALIASES.get(role, ()) if fixed or name == DEFAULTS.get(role) else ()
        index = readers.find_column(header, name, aliases)
        if index is None:
            if role in ("rating", "title", "genres"):
                continue
            raise UserError(f"{path}: no '{name}' column (columns: "
                            f"{', '.join(h.strip() for h in rows[0])}); set "
                            f"--config.data.{role}_column")
        short = [n for n, r in zip(lines[1:], rows[1:]) if len(r) <= index]
        if short:
            raise UserError(f"{path}:{short[0]}: missing the '{name}' column value")
        out[role] = [r[index].strip() for r in rows[1:]]
    return out


def _table(path, user_col, item_col, time_col, fixed=False):
    delimiter = "\t" if path.endswith((".tsv", ".txt")) else ","
    lines, rows = _rows(path, delimiter, header=True)
    cols = _columns(path, lines, rows, {"user": user_col, "item": item_col, "time": time_col,
                                        "rating": "rating"}, fixed)
    lines = lines[1:]
    ratings = (_parse_column(cols["rating"], lines, path, "rating", integer=False)
               if "rating" in cols else np.full(len(cols["user"]), np.nan))
    return (_parse_column(cols["user"], lines, path, user_col),
            _parse_column(cols["item"], lines, path, item_col),
            _parse_column(cols["time"], lines, path, time_col), ratings)


def _fixed_rows(path, delimiter, names):
    """A headerless file (ml-100k u.data, ml-1m ratings.dat) whose columns are `names`."""
    lines, rows = _rows(path, delimiter, header=False)
    short = [(n, r) for n, r in zip(lines, rows) if len(r) < len(names)]
    if short:
        raise UserError(f"{path}:{short[0][0]}: expected {len(names)} columns "
                        f"({', '.join(names)}), found {len(short[0][1])}")
    cols = {n: [r[i].strip() for r in rows] for i, n in enumerate(names)}
    ids = [_parse_column(cols[n], lines, path, n) for n in ("userId", "movieId", "timestamp")]
    rating = _parse_column(cols["rating"], lines, path, "rating", integer=False)
    return ids[0], ids[1], ids[2], rating


U_ITEM_GENRES = ("unknown Action Adventure Animation Children's Comedy Crime Documentary Drama "
                 "Fantasy Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller War "
                 "Western").split()


def _movies(path, delimiter, header, id_col=0, title_col=1, genres_col=2, latin1=False,
            named_by=""):
    """{item id: (title, genres joined by '|')}. The file must exist: without it items.csv and
    the app would show no titles, which is not what a user who has the file wants."""
    if not os.path.isfile(path):
        why = (f"named by {named_by}" if named_by else
               "the movie titles are read from it (a MovieLens folder has it beside the ratings)")
        raise UserError(f"{path}: file not found; {why}")
    rows = _rows(path, delimiter, header, latin1=latin1)[1][1 if header else 0:]
    info = {}
    for r in rows:
        if len(r) <= title_col or _number(r[id_col], True) is None:
            continue
        if path.endswith("u.item"):  # 19 genre flags after the title, date, video date, url
            genres = "|".join(n for n, flag in zip(U_ITEM_GENRES, r[5:]) if flag.strip() == "1")
        else:
            genres = r[genres_col].strip() if len(r) > genres_col else ""
        info[_number(r[id_col], True)] = (r[title_col].strip(), genres)
    return info


def _read_movielens(data_dir):
    join = lambda name: os.path.join(data_dir, name)  # noqa: E731  (a one-line local helper)
    fixed = ("userId", "movieId", "rating", "timestamp")
    if os.path.exists(join("ratings.csv")):
        return (*_table(join("ratings.csv"), "userId", "movieId", "timestamp", fixed=True),
                _movies(join("movies.csv"), ",", header=True), join("ratings.csv"))
    if os.path.exists(join("u.data")):
        return (*_fixed_rows(join("u.data"), "\t", fixed),
                _movies(join("u.item"), "|", header=False, latin1=True), join("u.data"))
    if os.path.exists(join("ratings.dat")):
        return (*_fixed_rows(join("ratings.dat"), "::", fixed),
                _movies(join("movies.dat"), "::", header=False, latin1=True), join("ratings.dat"))
    raise UserError(f"{data_dir}: no MovieLens ratings file (ratings.csv, u.data or ratings.dat)")


def _read_tfds(name):
    """TFDS MovieLens ratings configs (needs tensorflow-datasets and a network connection)."""
    try:
        import tensorflow_datasets as tfds
        ds = tfds.load(name, split="train")
    except Exception as e:
        raise UserError(f"TFDS '{name}': could not load ({type(e).__name__}); offline, point "
                        "--config.data.dir at a MovieLens folder") from None
    users, items, times, ratings, info = [], [], [], [], {}
    for ex in tfds.as_numpy(ds):
        movie = int(ex["movie_id"])
        users.append(int(ex["user_id"]))
        items.append(movie)
        times.append(int(ex["timestamp"]))
        ratings.append(float(ex["user_rating"]))
        info.setdefault(movie, (ex["movie_title"].decode("utf-8"), ""))
    arr = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731  (a one-line local helper)
    return arr(users), arr(items), arr(times), np.asarray(ratings), info, f"tfds:{name}"


def load_interactions(data) -> Interactions:
    """Reads the ratings and item titles that `config.data` names (see the module docstring)."""
    from pipeline.data import take_preloaded
    found = take_preloaded("interactions", data)
    if found is not None:
        return found
    if data.name not in FORMATS:
        raise UserError(f"--config.data.name='{data.name}' is not one of {', '.join(FORMATS)} "
                        "(the next_item task's formats)")
    data_dir = resolve_data_dir(data)
    if data_dir and not os.path.isdir(data_dir):
        raise UserError(f"{data_dir}: data folder not found; check --config.data.dir")
    if not data_dir:
        if data.name == "movielens" and data.tfds_name:
            return Interactions(*_read_tfds(data.tfds_name))
        raise UserError(f"dataset '{data.name}': no local copy found; set --config.data.dir "
                        f"or $PIPELINE_DATA_DIR (a folder containing '{data.subdir or data.name}')")
    if data.name == "movielens":
        return Interactions(*_read_movielens(data_dir))
    if not data.train_file:
        raise UserError("--config.data.train_file is required for data.name='interactions'")
    path = os.path.join(data_dir, data.train_file)
    ratings = _table(path, data.user_column, data.item_column, data.time_column)
    info = (_movies(os.path.join(data_dir, data.items_file), ",", header=True,
                    named_by="--config.data.items_file") if data.items_file else {})
    return Interactions(*ratings, info, path)


def protocol_split(data: Interactions, recs) -> SequenceSplit:
    """Protocol P: time order (ties by item id), leave-last-out, catalogue from training parts."""
    keep = np.ones(len(data.users), dtype=bool)
    if recs.min_rating > 0:
        keep &= ~(data.ratings < recs.min_rating)
    users, items, times = data.users[keep], data.items[keep], data.timestamps[keep]
    order = np.lexsort((items, times, users))  # by user, then time, then item id
    users, items = users[order], items[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sequences = [items[s:e] for s, e in zip(starts, np.r_[starts[1:], len(users)])]
    min_len = max(3, recs.min_user_interactions)
    kept = [i for i, s in enumerate(sequences) if len(s) >= min_len]
    if not kept:
        raise UserError(f"{data.source}: no user has {min_len} or more interactions; "
                        "protocol P needs a training part, a validation and a test item per user")
    sequences = [sequences[i] for i in kept]
    catalogue = np.unique(np.concatenate([s[:-2] for s in sequences]))
    item_ids = np.r_[-1, -1, catalogue].astype(np.int64)

    def to_vocab(values):
        pos = np.searchsorted(catalogue, values)
        pos = np.minimum(pos, len(catalogue) - 1)
        return np.where(catalogue[pos] == values, pos + 2, OOV).astype(np.int32)

    return SequenceSplit(
        item_ids=item_ids, train=[to_vocab(s[:-2]) for s in sequences],
        valid_targets=to_vocab(np.asarray([s[-2] for s in sequences])),
        test_targets=to_vocab(np.asarray([s[-1] for s in sequences])),
        users=users[starts][kept], item_info=data.item_info)


def write_items_file(split: SequenceSplit, path: str) -> None:
    """`index,movieId,title,genres` for every vocabulary id (written atomically).

    Row 0 is padding and row 1 out-of-vocabulary (movieId empty): the model's score vector has
    one entry per row, and an app shows titles from it.
    """
    with contract.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "movieId", "title", "genres"])
        w.writerow([PAD, "", "[PAD]", ""])
        w.writerow([OOV, "", "[OOV]", ""])
        for index in range(2, split.vocabulary_size):
            movie = int(split.item_ids[index])
            title, genres = split.item_info.get(movie, ("", ""))
            w.writerow([index, movie, title, genres])


def read_items_file(path: str) -> np.ndarray:
    """Vocabulary id -> item id, from `write_items_file`'s output (-1 for padding and OOV)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        return np.asarray([int(r["movieId"]) if r["movieId"] else -1 for r in rows],
                          dtype=np.int64)
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path}: not an items file written by pipeline.train "
                        f"({type(e).__name__}: {e}); retrain or restore it") from None
