"""The text loader on files the tests write (every format and quirk) and on the real data."""

import json
import os

import ml_collections
import pytest

from pipeline.data import load_text_dataset, stratified_split
from pipeline.errors import UserError
from pipeline.tasks.text_classification.config import default_config
from tests.conftest import shared_dataset


def data_config(name, folder, **overrides) -> ml_collections.ConfigDict:
    c = default_config().data
    c.name, c.dir = name, str(folder)
    for k, v in overrides.items():
        c[k] = v
    return c


def write(path, text, encoding="utf-8"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text.encode(encoding))


def test_sst2_tsv_crlf_and_other_header(tmp_path):
    write(tmp_path / "train.tsv", "label\tsentence\r\n1\ta gem of a film\r\n\r\n0\tdull and long\r\n")
    write(tmp_path / "dev.tsv", "label\tcontent\n0\tnot good\n1\tlovely\n")
    ds = load_text_dataset(data_config("sst2", tmp_path))
    assert ds.label_names == ["negative", "positive"]
    assert ds.train.texts == ["a gem of a film", "dull and long"]  # no '\r', blank line skipped
    assert ds.train.labels == [1, 0]
    assert ds.test.texts == ["not good", "lovely"] and ds.test.labels == [0, 1]


def test_class_folders_latin1_and_stratified_split(tmp_path):
    for cls in ("sport", "tech"):
        for i in range(10):
            write(tmp_path / cls / f"{i:03d}.txt", f"{cls} title {i}\n\nbody text {i}\n")
    write(tmp_path / "sport" / "199.txt", "Bj\xf6rk at the caf\xe9\nbody\n", encoding="latin-1")
    ds = load_text_dataset(data_config("bbc", tmp_path, test_fraction=0.2), seed=3)
    assert ds.label_names == ["sport", "tech"]
    assert len(ds.train.texts) + len(ds.test.texts) == 21
    assert ds.test.labels.count(0) == 2 and ds.test.labels.count(1) == 2  # stratified
    assert any("Björk at the café" in t for t in ds.train.texts + ds.test.texts)
    assert ds.split_info["method"] == "stratified"
    assert len(ds.split_info["test_sources"]) == 4
    again = load_text_dataset(data_config("bbc", tmp_path, test_fraction=0.2), seed=3)
    assert again.test.texts == ds.test.texts  # seeded: same split every time
    other = load_text_dataset(data_config("bbc", tmp_path, test_fraction=0.2), seed=4)
    assert other.test.texts != ds.test.texts


def test_thucnews_titles_with_class_file(tmp_path):
    write(tmp_path / "class.txt", "finance\nsports\n")
    write(tmp_path / "dev.txt", "股市今天大涨\t0\n国足赢了\t1\n\n")
    write(tmp_path / "test.txt", "央行降息\t0\n")
    ds = load_text_dataset(data_config("thucnews", tmp_path, train_file="dev.txt", test_file="test.txt"))
    assert ds.label_names == ["finance", "sports"]
    assert ds.train.texts == ["股市今天大涨", "国足赢了"] and ds.test.labels == [0]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_generic_tables_with_named_columns(tmp_path, fmt):
    rows = [("turn it up, please", "music"), ("what's the weather", "weather"), ("play jazz", "music")]
    if fmt == "jsonl":
        body = "\n".join(json.dumps({"Utterance": t, "Intent": l}) for t, l in rows) + "\n\n"
    else:
        sep = "," if fmt == "csv" else "\t"
        quote = (lambda s: f'"{s}"') if fmt == "csv" else (lambda s: s)
        body = f"id{sep}Utterance{sep}Intent\r\n" + "".join(
            f"{i}{sep}{quote(t)}{sep}{l}\r\n" for i, (t, l) in enumerate(rows))
    write(tmp_path / f"train.{fmt}", body)
    ds = load_text_dataset(data_config("table", tmp_path, train_file=f"train.{fmt}",
                                       text_column="utterance", label_column="intent"))
    assert ds.label_names == ["music", "weather"]
    all_texts = ds.train.texts + ds.test.texts
    assert sorted(all_texts) == sorted(t for t, _ in rows)  # quoted comma kept, CRLF gone
    assert len(ds.test.texts) == 1  # no test file: one of the two "music" rows held out


def test_shipped_assistant_intents():
    ds = load_text_dataset(data_config("assistant_intents", "", train_file="train.jsonl",
                                       test_file="test.jsonl"))
    assert len(ds.label_names) == 11 and "out_of_scope" in ds.label_names
    assert len(ds.train.texts) == 2200 and len(ds.test.texts) == 550
    assert any("\u4e00" <= ch <= "\u9fff" for t in ds.train.texts for ch in t)  # Chinese present
    assert not set(ds.train.texts) & set(ds.test.texts)


def test_max_train_examples_is_a_stratified_subset(tmp_path):
    write(tmp_path / "t.csv", "text,label\n" + "".join(f"x{i},{'ab'[i % 2]}\n" for i in range(100)))
    ds = load_text_dataset(data_config("table", tmp_path, train_file="t.csv", test_file="t.csv",
                                       max_train_examples=20))
    assert len(ds.train.labels) == 20 and sum(ds.train.labels) == 10


def test_stratified_split_keeps_every_index_once():
    labels = [0] * 7 + [1] * 13
    keep, held = stratified_split(labels, 0.3, seed=1)
    assert sorted(keep + held) == list(range(20))
    assert sum(labels[i] == 0 for i in held) == 2 and sum(labels[i] == 1 for i in held) == 4


@pytest.mark.parametrize("case,message", [
    ("missing_dir", "data folder not found"),
    ("missing_file", "file not found"),
    ("empty", "no rows (only the header)"),
    ("single_class", "single class"),
    ("unknown_label", "not in the label set"),
    ("bad_sst2_label", "is not 0 or 1"),
])
def test_bad_data_is_one_clear_user_error(tmp_path, case, message):
    cfg = data_config("table", tmp_path, train_file="train.csv", test_file="test.csv")
    good = "text,label\na,x\nb,y\n"
    if case == "missing_dir":
        cfg.dir = str(tmp_path / "nope")
    elif case == "missing_file":
        write(tmp_path / "train.csv", good)
    elif case == "empty":
        write(tmp_path / "train.csv", good)
        write(tmp_path / "test.csv", "text,label\n\n")
    elif case == "single_class":
        write(tmp_path / "train.csv", "text,label\na,x\nb,x\n")
        write(tmp_path / "test.csv", good)
    elif case == "unknown_label":
        write(tmp_path / "train.csv", good)
        write(tmp_path / "test.csv", "text,label\nc,z\n")
    elif case == "bad_sst2_label":
        cfg = data_config("sst2", tmp_path)
        write(tmp_path / "train.tsv", "label\tsentence\n1\tok\n2\tbad\n")
        write(tmp_path / "dev.tsv", "label\tsentence\n1\tok\n")
    with pytest.raises(UserError) as err:
        load_text_dataset(cfg)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    if case not in ("missing_dir", "single_class"):
        assert str(tmp_path) in str(err.value)  # names the file


def test_data_dir_from_environment(tmp_path, monkeypatch):
    write(tmp_path / "mysst" / "train.tsv", "label\tsentence\n1\tgood\n0\tbad\n")
    write(tmp_path / "mysst" / "dev.tsv", "label\tsentence\n1\tfine\n")
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    cfg = data_config("sst2", "", subdir="mysst")
    assert load_text_dataset(cfg).test.texts == ["fine"]


def test_real_sst2():
    ds = load_text_dataset(data_config("sst2", shared_dataset("sst2")))
    assert (len(ds.train.texts), len(ds.test.texts)) == (67349, 872)
    assert not any("\r" in t for t in ds.train.texts[:1000])


def test_real_bbc_news():
    ds = load_text_dataset(data_config("bbc", shared_dataset("bbc")), seed=0)
    assert len(ds.train.texts) + len(ds.test.texts) == 2225
    assert ds.label_names == ["business", "entertainment", "politics", "sport", "tech"]
    assert len(ds.test.texts) == 445 or abs(len(ds.test.texts) - 445) <= 3


def test_real_thucnews():
    ds = load_text_dataset(data_config("thucnews", shared_dataset("thucnews"),
                                       train_file="dev.txt", test_file="test.txt"))
    assert (len(ds.train.texts), len(ds.test.texts)) == (10000, 10000)
    assert len(ds.label_names) == 10 and ds.label_names[0] == "finance"


def test_latin1_file_is_read_with_a_warning_and_a_stray_byte_in_utf8_is_an_error(tmp_path, capsys):
    write(tmp_path / "a" / "1.txt", "caf\xe9 cr\xe8me\nbr\xfbl\xe9e\n", encoding="latin-1")
    write(tmp_path / "a" / "0.txt", "first\n")
    write(tmp_path / "b" / "0.txt", "plain text\n")
    write(tmp_path / "b" / "1.txt", "more text\n")
    write(tmp_path / ".hidden" / "1.txt", "not a class\n")
    (tmp_path / "empty_class").mkdir()
    ds = load_text_dataset(data_config("bbc", tmp_path, test_fraction=0.5))
    assert ds.label_names == ["a", "b"]  # hidden and empty folders are not classes
    assert "café crème brûlée" in ds.train.texts + ds.test.texts
    warnings = [l for l in capsys.readouterr().err.splitlines() if l.startswith("warning:")]
    assert any("1.txt is not UTF-8 (line 1: byte 0xe9); read as Latin-1" in l for l in warnings)
    assert any("empty_class: no .txt documents" in l for l in warnings)
    with open(tmp_path / "a" / "2.txt", "wb") as f:
        f.write("caf\u00e9 ok\n".encode() + b"bad \xe9 byte\n")
    with pytest.raises(UserError, match=r"2\.txt:2: byte 0xe9 is not UTF-8"):
        load_text_dataset(data_config("bbc", tmp_path, test_fraction=0.5))


@pytest.mark.parametrize("column,needle", [("text_column", "no column 'utterance'"),
                                           ("label_column", "no column 'utterance'")])
def test_a_column_named_in_the_config_must_exist(tmp_path, column, needle):
    """Only a column left at its default falls back to a common name (here `sentence`)."""
    write(tmp_path / "t.csv", "sentence,label\na,x\nb,y\n")
    cfg = data_config("table", tmp_path, train_file="t.csv", test_file="t.csv")
    assert load_text_dataset(cfg).train.texts == ["a", "b"]
    cfg[column] = "utterance"
    with pytest.raises(UserError, match=needle) as e:
        load_text_dataset(cfg)
    assert "columns: sentence, label" in str(e.value)
