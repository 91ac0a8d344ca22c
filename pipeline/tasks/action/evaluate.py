"""Greedy decoding with the KV cache in Keras (the model's `prefill`/`decode`), constrained by
the grammar or not, and the metrics of the decoded actions.

    decoder = KerasDecoder(model, tok, prompt_length=64, max_new_tokens=64)
    text = decoder.generate("wake me up at 6:30", grammar)    # grammar=None: unconstrained
    result = evaluate(model, tok, examples, config)            # -> metrics.json's dict

The prompt `bos command sep` is prefilled in chunks of P tokens (as the exported file does),
then one `decode` per new token, until eos, `max_new_tokens`, or a full cache. Constrained:
the logits are masked to the tokens the grammar allows (`grammar.Grammar`, with the copy
constraint from the command), so the output always parses.

Metrics per decoding (`constrained`, `unconstrained`): exact_match (the parsed action equals
the reference's parsed action: intent and every slot value; per language and overall),
intent_accuracy, slot_f1 (micro over the (slot, value) pairs of all commands), parse_rate
(the output parses), valid_rate (it also fits the schema and its command). The top-level
fields are the constrained decoding's, with parse_rate the unconstrained output's.
"""

import collections
import re
import time

import numpy as np

from pipeline.tasks.action import actions, schema
from pipeline.tasks.action.grammar import Grammar

_INTENT = re.compile(r"([a-z_]+)\(")


class KerasDecoder:
    """Greedy generation through `model.prefill` / `model.decode` (traced once each)."""

    def __init__(self, model, tok, prompt_length: int, max_new_tokens: int):
        import tensorflow as tf

        self.model, self.tok = model, tok
        self.p, self.max_new = prompt_length, max_new_tokens
        self.c = model.config.max_length
        layers = model.config.num_layers
        cache = tf.TensorSpec((1, self.c, model.config.cache_dim), tf.float32)
        one = tf.TensorSpec((1,), tf.int32)

        def flat(caches):
            return [t for pair in caches for t in pair]

        def pairs(flat_caches):
            return [(flat_caches[2 * i], flat_caches[2 * i + 1]) for i in range(layers)]

        @tf.function(input_signature=[tf.TensorSpec((1, self.p), tf.int32), one, one,
                                      *[cache] * (2 * layers)])
        def prefill(tokens, length, start, *caches):
            logits, new = model.prefill(tokens, length, start, pairs(caches))
            return logits, flat(new)

        @tf.function(input_signature=[tf.TensorSpec((1, 1), tf.int32), one,
                                      *[cache] * (2 * layers)])
        def decode(token, position, *caches):
            logits, new = model.decode(token, position, pairs(caches))
            return logits, flat(new)

        self._prefill, self._decode = prefill, decode
        self._empty = [np.zeros((1, self.c, model.config.cache_dim), np.float32)
                       for _ in range(2 * layers)]

    def generate_ids(self, prompt: list, mask_fn=None) -> list:
        """Greedy ids after `prompt`; `mask_fn(generated)` -> bool [V] or None (no constraint)."""
        caches, start = self._empty, 0
        while start < len(prompt):  # chunks of P, the last padded
            chunk = prompt[start:start + self.p]
            tokens = np.zeros((1, self.p), np.int32)
            tokens[0, :len(chunk)] = chunk
            logits, caches = self._prefill(tokens, np.array([len(chunk)], np.int32),
                                           np.array([start], np.int32), *caches)
            start += len(chunk)
        out, position = [], len(prompt)
        while len(out) < self.max_new:
            scores = np.asarray(logits)[0]
            mask = mask_fn(out) if mask_fn is not None else None
            if mask is not None:
                if not mask.any():
                    break
                scores = np.where(mask, scores, -np.inf)
            token = int(np.argmax(scores))
            out.append(token)
            if token == self.tok.eos_id or position >= self.c:
                break
            logits, caches = self._decode(np.array([[token]], np.int32),
                                          np.array([position], np.int32), *caches)
            position += 1
        return out

    def generate(self, command: str, grammar=None) -> str:
        """The action text greedy decoding writes for `command` (eos and specials dropped)."""
        prompt = self.tok.encode_example(command)
        if grammar is None:
            ids = self.generate_ids(prompt)
        else:
            state = [grammar.start(command)]

            def mask_fn(generated):
                if generated:
                    state[0] = grammar.advance(state[0], generated[-1])
                return grammar.allowed(state[0])

            ids = self.generate_ids(prompt, mask_fn)
        return self.tok.decode([i for i in ids if i != self.tok.eos_id])


def _parse(text: str):
    try:
        return actions.parse_action(text)
    except ValueError:
        return None


def _intent(text: str, parsed):
    if parsed is not None:
        return parsed["intent"]
    m = _INTENT.match(text)
    return m.group(1) if m else None


def score(examples, outputs) -> dict:
    """The metrics of decoded `outputs` (strings) against `examples`' actions."""
    n = len(examples)
    by_lang = collections.defaultdict(lambda: [0, 0])
    exact = intent = parsed_count = valid = 0
    tp = pred_pairs = gold_pairs = 0
    for ex, text in zip(examples, outputs):
        gold = actions.parse_action(ex.action)
        pred = _parse(text)
        parsed_count += pred is not None
        valid += pred is not None and not actions.problems(text, ex.text)
        hit = pred == gold
        exact += hit
        by_lang[ex.lang][0] += hit
        by_lang[ex.lang][1] += 1
        intent += _intent(text, pred) == gold["intent"]
        g = set(gold["slots"].items())
        p = set(pred["slots"].items()) if pred is not None else set()
        tp, pred_pairs, gold_pairs = tp + len(g & p), pred_pairs + len(p), gold_pairs + len(g)
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / gold_pairs if gold_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"num_examples": n, "exact_match": exact / n,
            "exact_match_by_lang": {k: v[0] / v[1] for k, v in sorted(by_lang.items())},
            "intent_accuracy": intent / n, "slot_f1": f1, "slot_precision": precision,
            "slot_recall": recall, "parse_rate": parsed_count / n, "valid_rate": valid / n}


def make_grammar(tok) -> Grammar:
    return Grammar(schema.SCHEMA, tok.vocab_bytes(), tok.eos_id)


def prompt_stats(tok, examples) -> dict:
    """Token lengths the export needs: the longest prompt (P) and prompt + action + eos (C)."""
    prompts = [len(tok.encode_example(r.text)) for r in examples]
    whole = [len(tok.encode_example(r.text, r.action)) for r in examples]
    actions_only = [w - p for w, p in zip(whole, prompts)]
    return {"longest_prompt_tokens": max(prompts), "longest_example_tokens": max(whole),
            "longest_action_tokens": max(actions_only),
            "mean_prompt_tokens": float(np.mean(prompts))}


def evaluate(model, tok, examples, config, split: str = "test", log=print) -> dict:
    """Both decodings of every example; the metrics.json dict (with `seconds` of decoding)."""
    started = time.time()
    decoder = KerasDecoder(model, tok, config.model.prompt_length,
                           config.generation.max_new_tokens)
    grammar = make_grammar(tok)
    outputs = {"constrained": [], "unconstrained": []}
    for i, ex in enumerate(examples):
        outputs["constrained"].append(decoder.generate(ex.text, grammar))
        outputs["unconstrained"].append(decoder.generate(ex.text))
        if log and (i + 1) % 100 == 0:
            log(f"decoded {i + 1}/{len(examples)} commands ({time.time() - started:.0f} s)")
    constrained = score(examples, outputs["constrained"])
    unconstrained = score(examples, outputs["unconstrained"])
    shown = []
    for i, ex in enumerate(examples[:config.generation.num_examples_shown]):
        shown.append({"command": ex.text, "lang": ex.lang, "reference": ex.action,
                      "constrained": outputs["constrained"][i],
                      "unconstrained": outputs["unconstrained"][i]})
    wrong = [{"command": ex.text, "reference": ex.action, "constrained": c}
             for ex, c in zip(examples, outputs["constrained"])
             if _parse(c) != actions.parse_action(ex.action)]
    wrong = wrong[:config.generation.num_examples_shown]
    return {**constrained, "parse_rate": unconstrained["parse_rate"], "split": split,
            "constrained": constrained, "unconstrained": unconstrained,
            "examples": shown, "errors": wrong, "lengths": prompt_stats(tok, examples),
            "decoding_seconds": round(time.time() - started, 1)}


def format_table(result: dict) -> str:
    lines = [f"{'decoding':<14}{'exact':>7}{'en':>7}{'zh':>7}{'intent':>8}{'slot_f1':>9}"
             f"{'parses':>8}"]
    for name in ("constrained", "unconstrained"):
        r = result[name]
        langs = r["exact_match_by_lang"]
        lines.append(f"{name:<14}{r['exact_match']:>7.3f}{langs.get('en', float('nan')):>7.3f}"
                     f"{langs.get('zh', float('nan')):>7.3f}{r['intent_accuracy']:>8.3f}"
                     f"{r['slot_f1']:>9.3f}{r['parse_rate']:>8.3f}")
    return "\n".join(lines)
