"""The action task (pipeline/tasks/action/): config ranges, loss masking, cached greedy decoding
in Keras (constrained and not), the metrics, and the CLI end to end on `:tiny` with a kill and
resume in the middle of finetune."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pipeline.errors import UserError
from pipeline.tasks.action import actions, stage
from pipeline.tasks.action import tokenizer as bpe
from tests.conftest import REPO, assert_one_line_error, run

CONFIG = os.path.join(REPO, "configs", "assistant_actions.py")
METRIC_KEYS = {"exact_match", "exact_match_by_lang", "intent_accuracy", "slot_f1", "parse_rate",
               "examples", "seconds", "constrained", "unconstrained"}


def load_config(arg="tiny"):
    import importlib.util
    spec = importlib.util.spec_from_file_location("cfg", CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


@pytest.fixture(scope="module")
def examples():
    return stage.read_examples(os.path.join(stage.SHIPPED_DIR, "train.jsonl"))[::20]


@pytest.fixture(scope="module")
def tok(examples):
    return bpe.train([e.text for e in examples] + [e.action for e in examples], 500)


def test_finetune_weights_are_zero_on_the_prompt_and_one_on_the_action(tok, examples):
    config = load_config()
    inputs, targets, weights = stage.finetune_arrays(tok, examples, config)
    assert inputs.shape == targets.shape == weights.shape
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])  # shifted by one
    for i, ex in enumerate(examples):
        sequence = tok.encode_example(ex.text, ex.action)
        sep = sequence.index(tok.sep_id)
        # targets 0..sep-1 are the command's tokens and sep itself: no loss on any of them
        assert not weights[i, :sep].any()
        assert targets[i, sep - 1] == tok.sep_id
        carried = targets[i][weights[i] > 0]
        assert list(carried) == [*tok.encode(ex.action), tok.eos_id]
        assert tok.decode(carried) == ex.action
        assert not weights[i, len(sequence) - 1:].any()  # padding


def test_pretrain_weights_cover_every_real_token(tok, examples):
    texts = [e.text for e in examples]
    _, targets, weights = stage.pretrain_arrays(tok, texts, load_config())
    for i, text in enumerate(texts):
        assert list(targets[i][weights[i] > 0]) == [*tok.encode(text), tok.eos_id]


def test_swapped_copies_are_valid_actions_with_other_values(examples):
    swapped = stage.swap_values(examples, 2, seed=0)
    assert len(swapped) > len(examples) // 2
    assert swapped == stage.swap_values(examples, 2, seed=0)  # seeded
    originals = {(e.text, e.action) for e in examples}
    for ex in swapped:
        assert actions.problems(ex.action, ex.text) == []
    # a swap may land on another training command ("call mom" -> "call home"), rarely
    assert sum((e.text, e.action) in originals for e in swapped) < len(swapped) / 5


def test_synthetic_values_are_new_and_still_written_in_the_command(examples):
    train_values = {v for e in examples for v in actions.parse_action(e.action)["slots"].values()}
    made_up = stage.swap_values(examples, 2, seed=0, synthetic=1.0)
    assert made_up == stage.swap_values(examples, 2, seed=0, synthetic=1.0)
    values = [v for e in made_up for v in actions.parse_action(e.action)["slots"].values()]
    assert sum(v not in train_values for v in values) > 0.5 * len(values)
    for ex in made_up:
        assert actions.problems(ex.action, ex.text) == []


def test_cached_greedy_equals_the_full_forward_pass_and_constrained_always_parses(tok,
                                                                                  examples):
    from pipeline.models import causal_lm
    from pipeline.tasks.action import evaluate

    config = load_config()
    model = causal_lm.build_causal_lm(stage.model_config(config, tok.vocabulary_size), seed=3)
    decoder = evaluate.KerasDecoder(model, tok, prompt_length=4, max_new_tokens=12)
    grammar = evaluate.make_grammar(tok)
    longest = sorted(examples, key=lambda e: -len(tok.encode(e.text)))
    for ex in longest[:3]:
        prompt = tok.encode_example(ex.text)  # longer than P = 4: prefilled in chunks
        assert len(prompt) > 8
        want = causal_lm.greedy_reference(model, prompt, 12, stop_ids={tok.eos_id})
        assert decoder.generate_ids(prompt) == want
    decoder = evaluate.KerasDecoder(model, tok, prompt_length=4, max_new_tokens=100)
    for ex in longest[:3]:  # an untrained model: only the grammar makes these parse
        text = decoder.generate(ex.text, grammar)
        assert actions.problems(text, ex.text) == [], text


def test_scores_compare_parsed_actions(examples):
    from pipeline.tasks.action import evaluate

    ex = [e for e in examples if e.action.startswith("set_alarm(time=")][:1]
    ex += [e for e in examples if e.action == "none()"][:1]
    assert len(ex) == 2
    alarm = actions.parse_action(ex[0].action)
    wrong = actions.format_action({"intent": "set_alarm", "slots": {"time": "23:59"}})
    r = evaluate.score(ex, [ex[0].action, "none("])
    assert r["exact_match"] == 0.5 and r["parse_rate"] == 0.5 and r["intent_accuracy"] == 1.0
    r = evaluate.score(ex, [wrong, "none()"])
    pairs = len(alarm["slots"])
    assert r["exact_match"] == 0.5 and r["slot_precision"] == 0.0 and r["slot_recall"] == 0.0
    assert r["exact_match_by_lang"][ex[1].lang] >= 0.5
    assert pairs >= 1


def test_a_bad_row_names_its_file_and_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"text": "call Ana", "label": "call_contact", "lang": "en",
                                "action": "call_contact(contact=Ana)"}) + "\n"
                    + json.dumps({"text": "call Ana", "label": "call_contact", "lang": "en",
                                  "action": "call_contact(contact=Bob)"}) + "\n")
    with pytest.raises(UserError, match=r"train.jsonl:2: .*not written in the command"):
        stage.read_examples(str(path))


@pytest.mark.parametrize("flag, needle", [
    ("--config.model.num_kv_heads=3", "--config.model.num_kv_heads=3"),
    ("--config.model.prompt_length=128", "--config.model.prompt_length=128"),
    ("--config.tokenizer.vocabulary_size=100", "--config.tokenizer.vocabulary_size=100"),
    ("--config.model.dropout=0.1", "--config.model.dropout=0.1"),
])
def test_a_bad_config_value_is_one_error_line(tmp_path, flag, needle):
    r = run("pipeline.train", f"--config={CONFIG}:tiny", f"--workdir={tmp_path / 'w'}", flag)
    assert_one_line_error(r, needle)
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_cli_trains_tiny_end_to_end_and_a_killed_finetune_resumes(tmp_path):
    """kill -9 mid-finetune, then the same command: it resumes from the checkpoint, leaves
    lm_pretrain alone, and writes metrics.json (about 40 s)."""
    args = ["pipeline.train", f"--config={CONFIG}:tiny", f"--workdir={tmp_path}",
            "--config.train.checkpoint_every_steps=5"]
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not glob.glob(str(tmp_path / "finetune" / "checkpoint" / "step-*")) and \
            proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "training ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "finetune" / "model.keras").exists()
    pretrained = os.path.getmtime(tmp_path / "lm_pretrain" / "model.keras")

    r = run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "finetune: resuming from the checkpoint" in r.stdout
    assert os.path.getmtime(tmp_path / "lm_pretrain" / "model.keras") == pretrained
    for name in ("model.keras", "vocabulary.json", "merges.txt", "config.json"):
        assert (tmp_path / name).exists(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["num_examples"] == 40 and set(metrics["exact_match_by_lang"]) == {"en", "zh"}
    assert metrics["constrained"]["parse_rate"] == 1.0  # the grammar: every output parses
    assert metrics["parse_rate"] == metrics["unconstrained"]["parse_rate"]
    assert len(metrics["examples"]) == 4
    tok = bpe.BPETokenizer.load(str(tmp_path))
    assert tok.vocabulary_size <= 400
