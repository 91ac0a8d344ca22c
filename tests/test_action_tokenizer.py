"""The action task's byte-level BPE tokenizer and its grammar-constrained decoder."""

import glob
import json
import os
import random
import unicodedata

import numpy as np
import pytest

from pipeline.errors import UserError
from pipeline.tasks.action import actions, grammar, schema
from pipeline.tasks.action import tokenizer as tk
from tests.conftest import REPO

DATA = sorted(glob.glob(os.path.join(REPO, "pipeline", "data", "assistant_intents", "*.jsonl")))
ROWS = [json.loads(line) for path in DATA for line in open(path, encoding="utf-8")]
COMMANDS = [row["text"] for row in ROWS]
TEXTS = COMMANDS + [row["action"] for row in ROWS if "action" in row]  # what stage.py trains on
HARD = ["", " ", "  two leading, trailing  ", "Ana Lucía", "Zoë and Chloé", "Ångström",
        unicodedata.normalize("NFD", "naïve café"), "给妈妈发微信说我晚点到", "６：３０ 三点半",
        "family 👨‍👩‍👧 flag 🇨🇳 skin 👍🏽", "tab\there\nnew line\r\n", "\u00a0nbsp\u3000ideographic",
        "I'll don't 'quoted' x'sam O'Neil ''s", "<|eos|> <|pad|>", "a\\b,c(d)e=f", "\x00\x7f",
        "06:30 86400 ٣ १२", "ǅungla ﬁne ß"]
PALETTE = list("ab XyzÉé'sStlmdrev,()=\\\t\n\u00a0\u3000\u202f\u000b0123456789我妈微信😀👍🏽"
               "\u0301\u200d-.:!?\"“”٣ſK")


def adversarial(n, seed=0, palette=PALETTE):
    rng = random.Random(seed)
    return ["".join(rng.choice(palette) for _ in range(rng.randint(1, 30))) for _ in range(n)]


@pytest.fixture(scope="module")
def tok():
    return tk.train(TEXTS, 3000)


# -- tokenizer -------------------------------------------------------------------------------

def test_round_trip_is_exact_on_every_shipped_command_and_adversarial_text(tok):
    for text in COMMANDS + HARD + adversarial(2000):
        ids = tok.encode(text)
        assert tok.decode(ids) == text, text
        assert all(i >= len(tk.SPECIAL_TOKENS) for i in ids)  # never a special token
    # Tokens are not just bytes: shipped words are whole tokens.
    assert len(tok.encode("call Ana Lucía")) < len("call Ana Lucía".encode())


def test_digits_are_single_tokens_and_pieces_follow_the_documented_rules(tok):
    for i in tok.encode("set_alarm(time=06:30) 86400s ７"):
        data = tok.token_bytes(i)
        assert sum(c in b"0123456789" for c in data) <= 1 and (
            len(data) == 1 or not any(c in b"0123456789" for c in data))
    assert tk.pretokenize("wake me at 6:30, 'S") == [
        "wake", " ", "me", " ", "at", " ", "6", ":", "3", "0", ",", " ", "'", "S"]
    assert tk.pretokenize("I'll x'sam  'the\t ") == [
        "I", "'", "ll", " ", "x", "'", "sam", "  ", "'", "the", "\t", " "]
    assert tk.pretokenize("给妈妈发 ok") == ["给", "妈", "妈", "发", " ", "ok"]
    # The CJK ranges are exact: each code point inside is alone, letters outside still run.
    assert tk.pretokenize("ab\u3400\u4dbf\u9fff\uf900\U00020000cd") == [
        "ab", "\u3400", "\u4dbf", "\u9fff", "\uf900", "\U00020000", "cd"]
    assert tk.pretokenize("ひらカナ") == ["ひ", "ら", "カ", "ナ"]
    assert tk.pretokenize("ㄅㄆ 안녕 ｶﾀ Lucía") == ["ㄅㄆ", " ", "안녕", " ", "ｶﾀ", " ", "Lucía"]


def test_a_copied_value_has_the_same_tokens_in_the_command_and_the_action(tok):
    """Why the pre-tokenisation is what it is: the action's value tokens occur in the command."""
    def inside(part, whole):
        return any(whole[i:i + len(part)] == part for i in range(len(whole) - len(part) + 1))

    for command, value in [("Call Priya", "Priya"), ("make a call to Ana Lucía", "Ana Lucía"),
                           ("给妈妈发微信说我晚点到", "妈妈"), ("给妈妈发微信说我晚点到", "我晚点到")]:
        assert inside(tok.encode(value), tok.encode(command)), value
    copied = found = 0
    for row in ROWS:
        if "action" not in row or actions.problems(row["action"], row["text"]):
            continue
        for value in actions.parse_action(row["action"])["slots"].values():
            if isinstance(value, str) and value and value in row["text"]:
                copied += 1
                found += inside(tok.encode(value), tok.encode(row["text"]))
    # All but a value that is also part of a longer word ("he" in "the").
    assert copied > 1000 and found >= 0.995 * copied, (found, copied)


def test_special_tokens_and_example_layout(tok):
    assert [tok.vocabulary[t] for t in tk.SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.sep_id) == (0, 1, 2, 3)
    ids = tok.encode_example("wake me", "set_alarm(time=06:30)")
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id and ids.count(tok.sep_id) == 1
    assert tok.decode(ids) == "wake meset_alarm(time=06:30)"  # specials skipped
    assert tok.encode_example("wake me") == [tok.bos_id, *tok.encode("wake me"), tok.sep_id]
    assert tok.token_bytes(tok.eos_id) == b"" and len(tok.vocab_bytes()) == tok.vocabulary_size


def test_training_is_deterministic_order_free_and_reaches_the_size(tok, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    tok.save(str(a))
    tk.train(TEXTS, 3000).save(str(b))
    shuffled = list(TEXTS)
    random.Random(1).shuffle(shuffled)
    tk.train(shuffled, 3000).save(str(c))
    for name in (tk.VOCAB_FILENAME, tk.MERGES_FILENAME):
        assert (a / name).read_bytes() == (b / name).read_bytes() == (c / name).read_bytes()
    loaded = tk.BPETokenizer.load(str(a))
    assert loaded.vocabulary_size == tok.vocabulary_size == 3000
    assert loaded.vocabulary == tok.vocabulary and loaded.merges == tok.merges
    assert [loaded.encode(t) for t in COMMANDS] == [tok.encode(t) for t in COMMANDS]
    assert not [p for p in os.listdir(a) if p not in (tk.VOCAB_FILENAME, tk.MERGES_FILENAME)]
    # A seeded subsample: same seed, same tokenizer; another seed, another one.
    one, two = (tk.train(COMMANDS, 800, max_texts=300, seed=s).merges for s in (0, 1))
    assert one == tk.train(COMMANDS, 800, max_texts=300, seed=0).merges and one != two


def test_load_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(UserError, match="vocabulary.json: not found"):
        tk.BPETokenizer.load(str(tmp_path))
    (tmp_path / tk.VOCAB_FILENAME).write_text('{"a": 0}', encoding="utf-8")
    (tmp_path / tk.MERGES_FILENAME).write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="not a tokenizer this module wrote"):
        tk.BPETokenizer.load(str(tmp_path))
    (tmp_path / tk.VOCAB_FILENAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="vocabulary.json: unreadable"):
        tk.BPETokenizer.load(str(tmp_path))


# -- grammar -----------------------------------------------------------------------------------

# A small schema of every value kind, with enum values that need escaping.
FIXTURE = {
    "set_alarm": (schema.Slot("time", True, "time"), schema.Slot("day", False, "day", ("today", "today_late"))),
    "send": (schema.Slot("to", True, "verbatim"), schema.Slot("how", False, "enum", ("a,b", "x(y)=z")),
             schema.Slot("text", False, "verbatim")),
    "timer": (schema.Slot("duration", True, "duration"),),
    "none": (),
}


@pytest.fixture(scope="module")
def gram(tok):
    return grammar.Grammar(schema.SCHEMA, tok.vocab_bytes(), tok.eos_id)


def walk(g, command, rng, limit=400):
    state, steps = g.start(command), 0
    while not g.done(state):
        ids = np.flatnonzero(g.allowed(state))
        assert len(ids), f"stuck after {state.text!r} for {command!r}"
        state = g.advance(state, int(rng.choice(ids)))
        steps += 1
        assert steps < limit
    return state.text


def test_random_walks_always_give_valid_actions(tok, gram, monkeypatch):
    rng = np.random.default_rng(0)
    intents = set()
    for command in COMMANDS[::7] + HARD:
        text = walk(gram, command, rng)
        parsed = actions.validate(text, command)  # parses, fits the schema, copies the command
        intents.add(parsed["intent"])
    assert len(intents) > 5
    fixture = grammar.Grammar(FIXTURE, tok.vocab_bytes(), tok.eos_id)
    commands = ["send Rosa: sure, 7 works (maybe) a=b \\ end ", "tell\n妈妈 😀 ", "", "   ", "x"]
    seen = set()
    for i in range(300):
        command = commands[i % len(commands)]
        text = walk(fixture, command, rng)
        parsed = _parse_fixture(text, monkeypatch)
        for name, value in parsed["slots"].items():
            if name in ("to", "text"):
                assert value in command and value == value.strip(" ") and "\n" not in value
        seen |= {v for v in parsed["slots"].values() if isinstance(v, str)}
    assert {"a,b", "x(y)=z"} <= seen  # escaped enum values were written and read back
    assert any(c in v for v in seen for c in ",()=\\")  # so were escaped copied characters


def _parse_fixture(text, monkeypatch):
    """The action parser and checks of actions.py, reading the fixture schema."""
    with monkeypatch.context() as m:
        m.setattr(actions, "SCHEMA", FIXTURE)
        parsed = actions.parse_action(text)
        assert not [p for p in actions.problems(text, "") if "not written" not in p], text
    return parsed


def test_without_a_command_values_are_free_text_that_parses(tok, gram):
    rng = np.random.default_rng(1)
    for _ in range(5):
        text = walk(gram, None, rng)
        assert actions.parse_action(text)
        assert len(text.encode()) < 400


def test_real_actions_are_accepted_token_by_token(tok, gram):
    pairs = [("wake me up at 6:30 tomorrow", "set_alarm(time=06:30, day=tomorrow)"),
             ("给妈妈发微信说我晚点到", "send_message(contact=妈妈, app=微信, text=我晚点到)"),
             ("text Rosa sure, 7 works", "send_message(contact=Rosa, text=sure\\, 7 works)"),
             ("set a timer for 10 minutes", "set_timer(duration=600)"),
             ("translate (hello) into French", "translate(text=\\(hello\\), target=fr)"),
             ("what's the weather", "weather()"), ("tell me a joke", "none()")]
    for command, action in pairs:
        state = gram.start(command)
        for token in tok.encode(action):
            assert gram.allowed(state)[token], (action, state.text)
            state = gram.advance(state, token)
        assert gram.complete(state) and np.flatnonzero(gram.allowed(state)).tolist() == [tok.eos_id]
        state = gram.advance(state, tok.eos_id)
        assert gram.done(state) and state.text == action and not gram.allowed(state).any()


def test_every_valid_shipped_action_is_accepted(tok, gram):
    pairs = [(r["text"], r["action"]) for r in ROWS
             if "action" in r and not actions.problems(r["action"], r["text"])]
    if not pairs:
        pytest.skip("the shipped commands have no actions yet")
    for command, action in pairs:
        state = gram.start(command)
        for token in tok.encode(action) + [tok.eos_id]:
            assert gram.allowed(state)[token], (command, action, state.text)
            state = gram.advance(state, token)
        assert gram.done(state) and state.text == action


def test_disallowed_tokens_are_masked_and_rejected(tok, gram):
    def after(command, prefix):
        state = gram.start(command)
        for token in tok.encode(prefix):
            state = gram.advance(state, token)
        return state

    cases = [("call Bob", "", "wake"),  # no intent is "wake..."
             ("call Bob", "set_alarm(time=2", "4"),  # hour 24
             ("call Bob", "set_alarm(", "day"),  # the required time comes first
             ("call Bob", "call_contact(contact=", "Alice"),  # not in the command
             ("call Bob", "call_contact(contact=", " "),  # no leading space
             ("call Bob", "set_timer(duration=", "0"),  # no leading zero
             ("call Bob", "navigate(destination=Bob, mode=", "flying")]
    for command, prefix, bad in cases:
        state, token = after(command, prefix), tok.encode(bad)[0]
        assert not gram.allowed(state)[token], (prefix, bad)
        with pytest.raises(ValueError, match="not allowed"):
            gram.advance(state, token)
    state = after("a, b", "call_contact(contact=a,")  # an unescaped comma ends the value...
    assert not gram.allowed(state)[tok.encode("b")[0]]  # ... and ", app=" must follow
    with pytest.raises(ValueError, match="eos is not allowed"):
        gram.advance(after("call Bob", "none("), tok.eos_id)
    # The mask and advance agree on every token.
    state = after("call Bob on WhatsApp", "call_contact(contact=Bob")
    mask = gram.allowed(state)
    for token in range(tok.vocabulary_size):
        try:
            gram.advance(state, token)
            ok = True
        except ValueError:
            ok = False
        assert ok == bool(mask[token]), token


def test_a_command_with_nothing_to_copy_leaves_out_intents_that_need_it(tok, gram):
    state = gram.start("   ")
    for text in ("call_contact(", "weather("):
        allowed = gram.allowed(state)[tok.encode(text)[0]]
        assert allowed == (text == "weather(")
