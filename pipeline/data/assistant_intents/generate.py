"""Templated training commands for the shipped assistant dataset, seeded and deterministic.

    python -m pipeline.data.assistant_intents.generate [--seed 0] [--per-group 100] [--check]

`train.jsonl` keeps its hand-written rows (`"origin": "hand"`, in their order) and gets, per
intent and language, templated rows (`"origin": "template"`) until the group holds
`--per-group` commands. Every row is `{"text", "label", "lang", "action", "origin"}`, the action
in the format of `pipeline.tasks.action.actions` and checked against its text. The test split
is written by hand, apart from this file: its phrasings and slot values must come from neither
the templates nor the filler lists of `templates.py` (tests/test_action_data.py checks the
values).

`--check` writes nothing and exits 1 when train.jsonl differs from what would be written.
"""

import argparse
import json
import os
import random
import string
import sys

from pipeline.data.assistant_intents.templates import (
    ALARM_HOURS,
    EN,
    EN_DAYS,
    EN_WEATHER_DAYS,
    REMINDER_HOURS,
    SLOT_OF,
    ZH,
    ZH_DAYS,
    ZH_WEATHER_DAYS,
    T,
    alarm_rule,
    en_delay,
    en_duration,
    en_time,
    reminder_rule,
    zh_delay,
    zh_duration,
    zh_time,
)
from pipeline.tasks.action.actions import format_action, validate
from pipeline.tasks.action.schema import intent_of_label

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(HERE, "train.jsonl")
LANGS = ("en", "zh")


def fill(label: str, lang: str, pattern: str, fixed: dict, rng) -> tuple[str, dict]:
    """One command of a template and its slots."""
    words, slots = EN if lang == "en" else ZH, dict(fixed)
    song, artist = rng.choice(words["song_artist"])
    rule = reminder_rule if label == "reminder" else alarm_rule
    days = (EN_WEATHER_DAYS if lang == "en" else ZH_WEATHER_DAYS) if label == "weather" else (
        EN_DAYS if lang == "en" else ZH_DAYS)
    parts = {}
    for name in sorted(_placeholders(pattern), key=lambda n: n == "from_lang"):  # lang first
        if name == "time":
            hours = REMINDER_HOURS if label == "reminder" else ALARM_HOURS
            parts[name] = (en_time if lang == "en" else zh_time)(rng, rule, hours)
        elif name == "day":
            parts[name] = rng.choice(days)
        elif name in ("duration", "duration_adj"):
            parts[name] = (en_duration(rng, name == "duration_adj") if lang == "en"
                           else zh_duration(rng))
        elif name == "delay":
            parts[name] = (en_delay if lang == "en" else zh_delay)(rng)
        elif name in ("song", "artist"):
            parts[name] = (song, song) if name == "song" else (artist, artist)
        elif name == "from_lang":
            parts[name] = rng.choice([x for x in words["lang"] if x[1] != parts["lang"][1]])
        else:
            parts[name] = rng.choice(words[name])
    text = pattern.format(**{k: v[0] for k, v in parts.items()})
    for name, (_, value) in parts.items():
        if SLOT_OF.get(name):
            slots[SLOT_OF[name]] = value
    return text, slots


def _placeholders(pattern: str) -> list:
    return [name for _, name, _, _ in string.Formatter().parse(pattern) if name]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def read_hand_rows(path: str = TRAIN) -> list:
    """The hand-written rows of `path` (every row not marked `"origin": "template"`)."""
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [dict(r, origin="hand") for r in rows if r.get("origin") != "template"]


def generate(hand: list, seed: int = 0, per_group: int = 100) -> list:
    """`hand` followed by templated rows: per (label, lang) as many as make `per_group`,
    each text new (case- and space-insensitive) and its action valid for it."""
    seen = {_key(r["text"]) for r in hand}
    rows = list(hand)
    for (label, lang), templates in T.items():
        rng = random.Random(f"{seed}:{label}:{lang}")
        need = per_group - sum(r["label"] == label and r["lang"] == lang for r in hand)
        for _ in range(need * 200):
            if need <= 0:
                break
            pattern, fixed = rng.choice(templates)
            text, slots = fill(label, lang, pattern, fixed, rng)
            if _key(text) in seen:
                continue
            action = format_action({"intent": intent_of_label(label), "slots": slots})
            validate(action, text)  # a broken template stops the generator here
            seen.add(_key(text))
            rows.append({"text": text, "label": label, "lang": lang, "action": action,
                         "origin": "template"})
            need -= 1
        if need > 0:
            raise RuntimeError(f"{label}/{lang}: the templates give too few distinct commands")
    return rows


def verbatim_fillers() -> set:
    """Every verbatim slot value the templates can write (the test split must avoid them)."""
    values = set()
    for words in (EN, ZH):
        for name, items in words.items():
            if name == "song_artist":
                values.update(v for pair in items for v in pair)
            elif SLOT_OF.get(name) and name != "lang":
                values.update(value for _, value in items)
    return values


def render(rows: list) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write(path: str, text: str) -> None:
    """Temp file in the same folder, fsync, rename: a reader never sees half a file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None) -> int:
    """Write train.jsonl (or, with --check, compare it); returns the exit status."""
    parser = _Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seeds the templates' choices")
    parser.add_argument("--per-group", type=int, default=100,
                        help="commands per intent and language, hand-written ones included")
    parser.add_argument("--train", default=TRAIN, help="the train.jsonl to write or check")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file differs from what would be written")
    args = parser.parse_args(argv)
    try:
        hand = read_hand_rows(args.train)
    except FileNotFoundError:
        parser.error(f"{args.train}: file not found (--train)")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        parser.error(f"{args.train}: not valid JSON lines ({e})")
    text = render(generate(hand, args.seed, args.per_group))
    if args.check:
        with open(args.train, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{args.train} differs from what generate.py writes with --seed "
                      f"{args.seed}; run python -m pipeline.data.assistant_intents.generate",
                      file=sys.stderr)
                return 1
        return 0
    write(args.train, text)
    print(f"wrote {args.train}: {text.count(chr(10))} rows")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as every command of the project
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
