"""Command -> action with an exported action model (two signatures, KV cache), no TensorFlow.

    assistant = Assistant("runs/actions/export/int8_dynamic.tflite")
    result = assistant.act("wake me up at 6:30")      # {"action": "set_alarm(time=06:30)", ...}
    assistant.act("call mom", on_text=print)           # streams the action's text as it grows

The tokenizer (vocabulary.json, merges.txt) is read from the model's folder: the export folder
holds both beside the files. Decoding is greedy with the cache (`generation.generate`) and, by
default, constrained to the action grammar (`pipeline.tasks.action.grammar`: the schema's
intents and slots, verbatim values copied from the command), so the output always parses;
`constrained=False` is the raw model. TensorFlow-free: the tokenizer, grammar and parser are
plain Python, the model runs on a TFLite runtime.

Command line (the GPU check's child process runs it; `python -m export.predict --act` is the
user's command):

    python -m export.runtime.assistant FILE --commands=cmds.json [--accelerator=gpu] [--json]
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import sys
import time
from collections.abc import Callable

from export.contract import UserError
from export.runtime.generation import CachedLM, generate

MAX_NEW_TOKENS = 64


def load_tokenizer(folder: str):
    from pipeline.tasks.action import tokenizer as bpe
    return bpe.load(folder)


class Assistant:
    """An exported action model, its tokenizer and the grammar, loaded once."""

    def __init__(self, path: str, num_threads: int | None = None, accelerator: str = "cpu",
                 enforce_f32: bool = False, tokenizer_dir: str | None = None):
        from pipeline.tasks.action import evaluate

        self.lm = CachedLM(path, num_threads=num_threads, accelerator=accelerator,
                           enforce_f32=enforce_f32)
        self.tok = load_tokenizer(tokenizer_dir or os.path.dirname(os.path.abspath(path)))
        self.grammar = evaluate.make_grammar(self.tok)

    def prompt_ids(self, command: str) -> list:
        """`bos command sep`; UserError when it cannot fit the file's cache."""
        if not command.strip():
            raise UserError("an empty command: give the words of the command")
        ids = self.tok.encode_example(command)
        if len(ids) >= self.lm.max_length:
            raise UserError(f"the command is {len(ids)} tokens; the model caches "
                            f"{self.lm.max_length} positions, for it and its action")
        return ids

    def act(self, command: str, constrained: bool = True, max_new_tokens: int = MAX_NEW_TOKENS,
            on_text: Callable[[str], None] | None = None) -> dict:
        """The action greedy decoding writes for `command`: {"command", "action" (text),
        "parsed" ({"intent", "slots"} or None), "prompt_ids", "generated_ids" (eos included),
        "seconds"}; `on_text(piece)` gets the text as each token completes a character."""
        from pipeline.tasks.action import actions

        started = time.perf_counter()
        prompt = self.prompt_ids(command)
        mask_fn = None
        if constrained:
            state = [self.grammar.start(command)]

            def mask_fn(generated):
                if generated:
                    state[0] = self.grammar.advance(state[0], generated[-1])
                return self.grammar.allowed(state[0])

        text = codecs.getincrementaldecoder("utf-8")("replace")
        ids = []
        for token in generate(self.lm, prompt, max_new_tokens, (self.tok.eos_id,), mask_fn):
            ids.append(token)
            if token != self.tok.eos_id and on_text is not None:
                piece = text.decode(self.tok.token_bytes(token))
                if piece:
                    on_text(piece)
        action = self.tok.decode([i for i in ids if i != self.tok.eos_id])
        try:
            parsed = actions.parse_action(action)
        except ValueError:
            parsed = None
        return {"command": command, "action": action, "parsed": parsed, "prompt_ids": prompt,
                "generated_ids": ids, "seconds": round(time.perf_counter() - started, 4)}


def main(argv=None) -> int:
    """`python -m export.runtime.assistant FILE --commands=FILE.json`: the action of each
    command of a JSON list, one line each (or one JSON object with the ids and the backend)."""
    parser = argparse.ArgumentParser(prog="python -m export.runtime.assistant",
                                     description=main.__doc__)
    parser.add_argument("file")
    parser.add_argument("--commands", required=True, help="a JSON file holding a list of texts")
    parser.add_argument("--tokenizer_dir", default=None,
                        help="folder of vocabulary.json and merges.txt (default: the file's)")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--enforce_f32", action="store_true", help="GPU: float32 arithmetic")
    parser.add_argument("--unconstrained", action="store_true", help="no grammar mask")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        try:
            with open(args.commands, encoding="utf-8") as f:
                commands = json.load(f)
        except (OSError, ValueError) as e:
            raise UserError(f"--commands={args.commands}: not a readable JSON file ({e})") from None
        if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
            raise UserError(f"--commands={args.commands}: must hold a JSON list of texts")
        assistant = Assistant(args.file, num_threads=args.threads, accelerator=args.accelerator,
                              enforce_f32=args.enforce_f32, tokenizer_dir=args.tokenizer_dir)
        results = []
        for command in commands:
            results.append(assistant.act(command, constrained=not args.unconstrained))
            if not args.json:
                print(results[-1]["action"], flush=True)
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    if args.json:
        lm = assistant.lm
        print(json.dumps({"results": [{"action": r["action"], "generated_ids": r["generated_ids"]}
                                      for r in results],
                          "accelerator": lm.accelerator, "fully_accelerated": lm.fully_accelerated,
                          "runtime": lm.runtime}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
