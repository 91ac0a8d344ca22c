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

    def split_info(self) -> dict:
        return {"method": "protocol P (leave-last-out, time order, ties by item id)",
                "users": len(self.users), "catalogue": self.catalogue_size,
                "train_interactions": int(sum(len(t) for t in self.train)),
                "valid_targets_outside_catalogue": int(np.sum(self.valid_targets == OOV)),
                "test_targets_outside_catalogue": int(np.sum(self.test_targets == OOV))}


def _int_column(values, path, column):
    try:
        return np.asarray([int(float(v)) if "." in v else int(v) for v in values], dtype=np.int64)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise UserError(f"{path}: column '{column}' has a non-numeric value '{bad}'; "
                        "user and item ids and timestamps must be integers") from None


def _is_number(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def _rows(path, delimiter, header):
    """Non-blank rows of a delimited text file (UTF-8 or Latin-1); `header`: skip the first."""
    text = readers.read_text(path)
    if delimiter == "::":  # ml-1m: csv cannot split on a two-character delimiter
        rows = [line.split("::") for line in text.split("\n") if line.strip()]
    else:
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if r and any(r)]
    if not rows or (header and len(rows) < 2):
        raise UserError(f"{path}: the file is empty (no ratings)")
    return rows


def _columns(path, rows, wanted, aliases=None):
    """{role: column values} for a file with a header row, finding columns by name."""
    header = [h.strip().lower() for h in rows[0]]
    out = {}
    for role, name in wanted.items():
        names = (name.lower(),) + tuple((aliases or {}).get(role, ()))
        index = next((header.index(n) for n in names if n in header), None)
        if index is None:
            if role in ("rating", "title", "genres"):
                continue
            raise UserError(f"{path}: no '{name}' column (header is {rows[0]}); set "
                            f"--config.data.{role}_column")
        short = [n for n, r in enumerate(rows[1:], start=2) if len(r) <= index]
        if short:
            raise UserError(f"{path}:{short[0]}: missing the '{name}' column value")
        out[role] = [r[index].strip() for r in rows[1:]]
    return out


def _table(path, user_col, item_col, time_col, source=None):
    delimiter = "\t" if path.endswith((".tsv", ".txt")) else ","
    rows = _rows(path, delimiter, header=True)
    cols = _columns(path, rows, {"user": user_col, "item": item_col, "time": time_col,
                                 "rating": "rating"},
                    {"user": ("userid", "user_id", "user"), "item": ("movieid", "item_id", "item"),
                     "time": ("timestamp", "time")})
    ratings = (np.asarray([float(v) for v in cols["rating"]]) if "rating" in cols
               else np.full(len(cols["user"]), np.nan))
    return (_int_column(cols["user"], path, user_col), _int_column(cols["item"], path, item_col),
            _int_column(cols["time"], path, time_col), ratings)


def _fixed_rows(path, delimiter, names):
    """A headerless file (ml-100k u.data, ml-1m ratings.dat) whose columns are `names`."""
    rows = _rows(path, delimiter, header=False)
    short = [n for n, r in enumerate(rows, start=1) if len(r) < len(names)]
    if short:
        raise UserError(f"{path}:{short[0]}: expected {len(names)} columns "
                        f"({', '.join(names)}), found {len(rows[short[0] - 1])}")
    cols = [[r[i].strip() for r in rows] for i in range(len(names))]
    out = [_int_column(c, path, n) for c, n in zip(cols, names) if n != "rating"]
    rating = np.asarray([float(v) for v in cols[names.index("rating")]])
    return out[0], out[1], out[2], rating


def _movies(path, delimiter, header, id_col=0, title_col=1, genres_col=2):
    """{item id: (title, genres joined by '|')}; missing file -> {} (titles are for display)."""
    if not os.path.exists(path):
        return {}
    rows = _rows(path, delimiter, header)[1 if header else 0:]
    info = {}
    for r in rows:
        if len(r) <= title_col or not _is_number(r[id_col]):
            continue
        if path.endswith("u.item"):  # 19 genre flags after the title, date, video date, url
            names = ("unknown Action Adventure Animation Children's Comedy Crime Documentary "
                     "Drama Fantasy Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller "
                     "War Western").split()
            genres = "|".join(n for n, flag in zip(names, r[5:]) if flag.strip() == "1")
        else:
            genres = r[genres_col].strip() if len(r) > genres_col else ""
        info[int(r[id_col])] = (r[title_col].strip(), genres)
    return info


def _read_movielens(data_dir):
    join = lambda name: os.path.join(data_dir, name)  # noqa: E731  (a one-line local helper)
    if os.path.exists(join("ratings.csv")):
        return (*_table(join("ratings.csv"), "userId", "movieId", "timestamp"),
                _movies(join("movies.csv"), ",", header=True), join("ratings.csv"))
    if os.path.exists(join("u.data")):
        return (*_fixed_rows(join("u.data"), "\t", ("userId", "movieId", "rating", "timestamp")),
                _movies(join("u.item"), "|", header=False), join("u.data"))
    if os.path.exists(join("ratings.dat")):
        return (*_fixed_rows(join("ratings.dat"), "::", ("userId", "movieId", "rating", "timestamp")),
                _movies(join("movies.dat"), "::", header=False), join("ratings.dat"))
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
    info = (_movies(os.path.join(data_dir, data.items_file), ",", header=True)
            if data.items_file else {})
    return Interactions(*_table(path, data.user_column, data.item_column, data.time_column),
                        info, path)


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
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "movieId", "title", "genres"])
        w.writerow([PAD, "", "[PAD]", ""])
        w.writerow([OOV, "", "[OOV]", ""])
        for index in range(2, split.vocabulary_size):
            movie = int(split.item_ids[index])
            title, genres = split.item_info.get(movie, ("", ""))
            w.writerow([index, movie, title, genres])
    os.replace(tmp, path)


def read_items_file(path: str) -> np.ndarray:
    """Vocabulary id -> item id, from `write_items_file`'s output (-1 for padding and OOV)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return np.asarray([int(r["movieId"]) if r["movieId"] else -1 for r in rows], dtype=np.int64)
