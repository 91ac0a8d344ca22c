"""The shipped assistant dataset's actions, its generator, and the action format (all fast)."""

import collections
import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline.data.assistant_intents import generate
from pipeline.tasks.action.actions import format_action, parse_action, problems, validate
from pipeline.tasks.action.schema import SCHEMA, intent_of_label, label_of_intent

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "pipeline", "data", "assistant_intents")
LABELS = {label_of_intent(intent) for intent in SCHEMA}


def rows(split):
    with open(os.path.join(DATA, f"{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def key(text):
    return " ".join(text.lower().split())


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_row_has_a_valid_action_of_its_label(split):
    found = []
    for n, row in enumerate(rows(split), start=1):
        assert set(row) >= {"text", "label", "lang", "action"}, (split, n)
        assert row["label"] in LABELS and row["lang"] in ("en", "zh"), (split, n)
        action = validate(row["action"], row["text"])
        assert action["intent"] == intent_of_label(row["label"]), (split, n, row)
        assert format_action(action) == row["action"], (split, n)  # the one spelling
        found.append(action["intent"])
    assert set(found) == set(SCHEMA)


@pytest.mark.parametrize("split, minimum", [("train", 100), ("test", 25)])
def test_each_intent_and_language_has_enough_commands(split, minimum):
    counts = collections.Counter((r["label"], r["lang"]) for r in rows(split))
    assert set(counts) == {(label, lang) for label in LABELS for lang in ("en", "zh")}
    assert min(counts.values()) >= minimum, counts


def test_train_keeps_the_hand_written_commands():
    counts = collections.Counter((r["label"], r["lang"]) for r in rows("train")
                                 if r["origin"] == "hand")
    assert set(counts.values()) == {48}
    assert {r["origin"] for r in rows("train")} == {"hand", "template"}


def test_no_test_command_is_in_train():
    train = {key(r["text"]) for r in rows("train")}
    assert [r["text"] for r in rows("test") if key(r["text"]) in train] == []


def test_test_slot_values_do_not_come_from_the_generator():
    """Exact match on the test split measures generalisation, not filler recall. Apps are a
    closed set (微信, WhatsApp...), like an enum, so they may repeat."""
    fillers = generate.verbatim_fillers()
    assert {"Marta", "颐和园", "Wonderwall", "pick up the kids"} <= fillers  # it sees the lists
    shared = []
    for row in rows("test"):
        action = parse_action(row["action"])
        kinds = {s.name: s.kind for s in SCHEMA[action["intent"]]}
        shared += [(row["text"], name, value) for name, value in action["slots"].items()
                   if kinds[name] == "verbatim" and name != "app" and value in fillers]
    assert shared == []


def test_generator_check_passes_and_catches_a_change(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "pipeline.data.assistant_intents.generate",
                               *args], cwd=REPO, capture_output=True, text=True, timeout=120)

    assert run("--check").returncode == 0
    copy = tmp_path / "train.jsonl"
    shutil.copy(os.path.join(DATA, "train.jsonl"), copy)
    lines = copy.read_text(encoding="utf-8").splitlines(keepends=True)
    copy.write_text("".join(lines[:-1]), encoding="utf-8")  # one templated row lost
    r = run("--check", f"--train={copy}")
    assert r.returncode == 1 and "differs" in r.stderr
    assert run(f"--train={copy}").returncode == 0  # writing restores it
    assert copy.read_text(encoding="utf-8") == "".join(lines)
    r = run(f"--train={tmp_path / 'missing.jsonl'}")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "missing.jsonl" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_generator_is_seeded():
    hand = generate.read_hand_rows()
    first = generate.generate(hand, seed=0)
    assert generate.generate(hand, seed=0) == first
    other = generate.generate(hand, seed=1)
    assert other != first and len(other) == len(first)
    assert len({key(r["text"]) for r in first}) == len(first)  # no duplicate commands


@pytest.mark.parametrize("text, action", [
    ("hey wake me up at 6:30 tmrw??", "set_alarm(time=06:30, day=tomorrow)"),
    ("alarm for 10 pm tonight", "set_alarm(time=22:00, day=today)"),
    ("晚上七点设个闹铃", "set_alarm(time=19:00)"),
    ("设个十分钟的计时器", "set_timer(duration=600)"),
    ("set a timer for an hour and a half", "set_timer(duration=5400)"),
    ("计时器设为四分三十秒", "set_timer(duration=270)"),
    ("给妈妈发短信说我到家了", "send_message(contact=妈妈, text=我到家了)"),
    ("text back Rosa: sure, 7 works", "send_message(contact=Rosa, text=sure\\, 7 works)"),
    ("how do you say \"how are you\" in Cantonese", "translate(text=how are you, target=yue)"),
    ("提醒我明天下午三点开会", "reminder(text=开会, day=tomorrow, time=15:00)"),
    ("tell me a joke", "none()"),
])
def test_hand_written_rows_are_normalised(text, action):
    assert {r["text"]: r["action"] for r in rows("train")}[text] == action


@pytest.mark.parametrize("action, text", [
    ({"intent": "set_alarm", "slots": {"time": "06:30", "day": "tomorrow"}},
     "set_alarm(time=06:30, day=tomorrow)"),
    ({"intent": "send_message", "slots": {"contact": "妈妈", "app": "微信", "text": "我晚点到"}},
     "send_message(contact=妈妈, app=微信, text=我晚点到)"),
    ({"intent": "send_message", "slots": {"text": "a, b (c) = d \\ e", "contact": "Zoë"}},
     "send_message(contact=Zoë, text=a\\, b \\(c\\) \\= d \\\\ e)"),
    ({"intent": "translate", "slots": {"text": "¿cómo estás?", "target": "en"}},
     "translate(text=¿cómo estás?, target=en)"),
    ({"intent": "set_timer", "slots": {"duration": 600}}, "set_timer(duration=600)"),
    ({"intent": "none", "slots": {}}, "none()"),
])
def test_format_and_parse_round_trip(action, text):
    assert format_action(action) == text
    parsed = parse_action(text)
    assert parsed["intent"] == action["intent"] and parsed["slots"] == action["slots"]
    assert list(parsed["slots"]) == [s.name for s in SCHEMA[action["intent"]]
                                     if s.name in action["slots"]]


@pytest.mark.parametrize("text", [
    "", "none", "none( )", " none()", "none() ", "none()x", "foo()", "set_alarm(",
    "set_alarm(time=06:30", "set_alarm(time=)", "set_alarm(time= 06:30)",
    "set_alarm(time=06:30,day=today)", "set_alarm(time=06:30 , day=today)",
    "set_alarm(day=today, time=06:30)", "set_alarm(time=06:30, time=07:00)",
    "set_alarm(hour=6)", "send_message(contact=a(b))", "send_message(contact=a=b)",
    "send_message(contact=a\\b)", "send_message(contact=a\\)", "send_message(contact=a\nb)",
    "set_timer(duration=06)", "set_timer(duration=ten)", "none(text=x)",
])
def test_parse_errors_are_value_errors(text):
    with pytest.raises(ValueError):
        parse_action(text)


@pytest.mark.parametrize("action, command, needle", [
    ("set_alarm(day=today)", "wake me today", "required slot 'time'"),
    ("set_alarm(time=24:00)", "wake me at midnight", "HH:MM"),
    ("set_alarm(time=6:30)", "wake me at 6:30", "HH:MM"),
    ("set_alarm(time=06:30, day=tmrw)", "wake me at 6:30 tmrw", "not one of"),
    ("translate(text=hola, target=spanish)", "translate hola to spanish", "not one of"),
    ("navigate(destination=Paris, mode=car)", "drive to Paris", "not one of"),
    ("call_contact(contact=Bob)", "call bob", "not written in the command"),
])
def test_validate_names_what_is_wrong(action, command, needle):
    assert needle in " ".join(problems(action, command))
    with pytest.raises(ValueError, match="."):
        validate(action, command)


def test_format_refuses_what_it_cannot_write():
    for action in ({"intent": "set_timer", "slots": {"duration": "600"}},
                   {"intent": "set_timer", "slots": {"duration": 0}},
                   {"intent": "call_contact", "slots": {"contact": " Bob"}},
                   {"intent": "call_contact", "slots": {"contact": ""}},
                   {"intent": "call_contact", "slots": {"who": "Bob"}},
                   {"intent": "dance", "slots": {}}):
        with pytest.raises(ValueError):
            format_action(action)
