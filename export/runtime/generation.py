"""Greedy generation with the KV cache of an exported causal LM (export/conversion/kv_cache.py):
numpy and a TFLite runtime only, no TensorFlow.

    for token in generate("lm_fp32.tflite", prompt_ids, max_new_tokens=32, stop_ids={2}):
        print(token)                                   # streamed as each one is decoded
    lm = CachedLM("lm_fp32.tflite", num_threads=1)     # keep it loaded for many prompts
    list(generate(lm, prompt_ids, 32, stop_ids={2}, logits_mask_fn=grammar.allowed))

The prompt is prefilled in chunks of the file's P tokens (each chunk written at its start
position, padded to P), then one `decode` call per new token, the cache passed from each call
to the next. `logits_mask_fn(generated_so_far)` returns a bool mask over the vocabulary (True
= allowed) or None (no constraint): the hook of a grammar-constrained decoder; a mask that
allows nothing ends generation.

Backends: `accelerator="cpu"` is LiteRT's interpreter (XNNPACK) through the two signature
runners; `"gpu"` is LiteRT's `CompiledModel` on the GPU backend alone (it refuses a file with
any op it does not take); run it in a child process where the backend may crash (see
export/checks/gpu.py). Command line, used by the GPU check's child process:

    python -m export.runtime.generation lm.tflite --ids=5,17,3 --max_new_tokens=20 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from export.contract import UserError

PREFILL, DECODE = "prefill", "decode"


class CachedLM:
    """An exported causal LM loaded once: `prefill(chunk, start)` and `decode(token, position)`
    return the logits [V] and keep the cache inside."""

    def __init__(self, path: str, num_threads: int | None = None, accelerator: str = "cpu",
                 enforce_f32: bool = False):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise UserError(f"{self.path}: no such file")
        if accelerator not in ("cpu", "gpu"):
            raise UserError(f"--accelerator {accelerator!r}: must be cpu or gpu")
        self.accelerator = accelerator
        self.fully_accelerated = None
        if accelerator == "cpu":
            self._open_interpreter(num_threads)
        else:
            self._open_compiled(enforce_f32)
        for sig in (PREFILL, DECODE):
            if sig not in self._inputs:
                raise UserError(f"{self.path}: no {sig} signature (signatures: "
                                f"{sorted(self._inputs)}); export it with a KV cache")
        self.cache_names = [n for n in self._inputs[DECODE] if n.startswith(("key_", "value_"))]
        self.prefill_length = int(self._inputs[PREFILL]["tokens"][1][1])
        first = self._inputs[DECODE][self.cache_names[0]][1]
        self.max_length = int(first[1])
        self.vocabulary_size = None
        self.reset()

    # -- backends -------------------------------------------------------------------------
    def _open_interpreter(self, num_threads):
        from export.tflite.runner import load_interpreter_class

        interpreter_class, self.runtime = load_interpreter_class()
        try:
            self._interpreter = interpreter_class(model_path=self.path, num_threads=num_threads)
        except (ValueError, RuntimeError) as e:
            raise UserError(f"{self.path}: cannot load it ({' '.join(str(e).split())[:200]})"
                            ) from None
        signatures = self._interpreter.get_signature_list()
        self._runners, self._inputs = {}, {}
        for sig in signatures:
            runner = self._interpreter.get_signature_runner(sig)
            self._runners[sig] = runner
            self._inputs[sig] = {n: (np.dtype(d["dtype"]), tuple(d["shape"]))
                                 for n, d in runner.get_input_details().items()}

    def _open_compiled(self, enforce_f32):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import GpuOptions, Options

        self.runtime = "ai-edge-litert CompiledModel (GPU)"
        options = Options(HardwareAccelerator.GPU, gpu_options=GpuOptions(enforce_f32=enforce_f32))
        try:
            model = CompiledModel.from_file(self.path, options=options)
        except RuntimeError as e:  # the op-level reasons are on stderr (export/checks/gpu.py)
            raise UserError(f"{self.path}: the GPU backend refused it "
                            f"({' '.join(str(e).split())[:300]})") from None
        self.fully_accelerated = bool(model.is_fully_accelerated())
        self._model, self._inputs, self._buffers = model, {}, {}
        for sig, names in model.get_signature_list().items():
            details = model.get_input_tensor_details(sig)
            self._inputs[sig] = {n: (np.dtype(details[n]["dtype"]), tuple(details[n]["shape"]))
                                 for n in names["inputs"]}
            ins = {n: model.create_input_buffer_by_name(sig, n) for n in names["inputs"]}
            outs = {n: model.create_output_buffer_by_name(sig, n) for n in names["outputs"]}
            shapes = {n: tuple(b.get_tensor_details()["shape"]) for n, b in outs.items()}
            self._buffers[sig] = (ins, outs, shapes)

    def _run(self, sig: str, inputs: dict) -> dict:
        if self.accelerator == "cpu":
            return self._runners[sig](**inputs)
        ins, outs, shapes = self._buffers[sig]
        for name, buf in ins.items():
            buf.write(np.ascontiguousarray(inputs[name], self._inputs[sig][name][0]))
        self._model.run_by_name(sig, ins, outs)
        return {n: outs[n].read(int(np.prod(s)), np.float32).reshape(s)
                for n, s in shapes.items()}

    # -- the cached calls -----------------------------------------------------------------
    def reset(self) -> None:
        """An empty cache (zeros): the next prefill starts a new sequence."""
        self.caches = {n: np.zeros(self._inputs[DECODE][n][1], np.float32)
                       for n in self.cache_names}

    def _step(self, sig: str, inputs: dict) -> np.ndarray:
        out = self._run(sig, {**inputs, **self.caches})
        self.caches = {n: out[n] for n in self.cache_names}
        logits = np.asarray(out["logits"], np.float32).reshape(-1)
        self.vocabulary_size = logits.shape[0]
        return logits

    def prefill(self, chunk, start: int) -> np.ndarray:
        """Writes up to P token ids at positions start.. into the cache; the logits [V] after
        the last of them."""
        chunk = np.asarray(chunk, np.int32).reshape(-1)
        if not 1 <= len(chunk) <= self.prefill_length:
            raise ValueError(f"a prefill chunk holds 1..{self.prefill_length} tokens")
        tokens = np.zeros((1, self.prefill_length), np.int32)
        tokens[0, :len(chunk)] = chunk
        return self._step(PREFILL, {"tokens": tokens,
                                    "length": np.array([len(chunk)], np.int32),
                                    "start": np.array([start], np.int32)})

    def decode(self, token: int, position: int) -> np.ndarray:
        """Writes one token at `position`; the logits [V] after it."""
        return self._step(DECODE, {"token": np.array([[token]], np.int32),
                                   "position": np.array([position], np.int32)})

    def prefill_prompt(self, prompt_ids) -> np.ndarray:
        """Resets the cache and prefills the whole prompt in chunks of P; its last logits."""
        prompt = [int(i) for i in prompt_ids]
        if not 1 <= len(prompt) < self.max_length:
            raise UserError(f"a prompt of {len(prompt)} tokens: must hold 1..{self.max_length - 1}"
                            f" tokens ({self.path} caches {self.max_length} positions)")
        self.reset()
        for start in range(0, len(prompt), self.prefill_length):
            logits = self.prefill(prompt[start:start + self.prefill_length], start)
        return logits


def _choose(logits: np.ndarray, mask) -> int | None:
    if mask is None:
        return int(np.argmax(logits))
    mask = np.asarray(mask, bool).reshape(-1)
    if mask.shape != logits.shape:
        raise ValueError(f"logits_mask_fn gave a mask of {mask.shape[0]} entries for a "
                         f"vocabulary of {logits.shape[0]}")
    if not mask.any():
        return None
    return int(np.argmax(np.where(mask, logits, -np.inf)))


def generate(model, prompt_ids: Iterable[int], max_new_tokens: int,
             stop_ids: Iterable[int] = (),
             logits_mask_fn: Callable[[list], np.ndarray | None] | None = None,
             num_threads: int | None = None) -> Iterator[int]:
    """Yields greedy token ids one at a time (a stop id is yielded, then generation ends; it
    also ends when the cache is full or the mask allows nothing). `model` is a path or a
    CachedLM."""
    lm = model if isinstance(model, CachedLM) else CachedLM(model, num_threads=num_threads)
    stop = {int(s) for s in stop_ids}
    prompt = [int(i) for i in prompt_ids]
    logits = lm.prefill_prompt(prompt)
    generated: list = []
    position = len(prompt)
    while len(generated) < max_new_tokens:
        token = _choose(logits, logits_mask_fn(generated) if logits_mask_fn else None)
        if token is None:
            return
        generated.append(token)
        yield token
        if token in stop or position + 1 >= lm.max_length:  # prompt + generated fill the cache
            return
        logits = lm.decode(token, position)
        position += 1


def main(argv=None) -> int:
    """`python -m export.runtime.generation FILE --ids=... [--ids=...]`: the greedy token ids
    of each prompt, one line each (or one JSON object with them and the backend's facts)."""
    parser = argparse.ArgumentParser(prog="python -m export.runtime.generation",
                                     description=main.__doc__)
    parser.add_argument("file")
    parser.add_argument("--ids", required=True, action="append",
                        help="prompt token ids, comma-separated (repeat it for more prompts)")
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--stop_ids", default="", help="comma-separated ids that end it")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--enforce_f32", action="store_true", help="GPU: float32 arithmetic")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        try:
            prompts = [[int(x) for x in ids.split(",") if x.strip()] for ids in args.ids]
            stop = [int(x) for x in args.stop_ids.split(",") if x.strip()]
        except ValueError:
            raise UserError(f"--ids={args.ids[0]!r} / --stop_ids: must be integers, "
                            "comma-separated") from None
        lm = CachedLM(args.file, num_threads=args.threads, accelerator=args.accelerator,
                      enforce_f32=args.enforce_f32)
        outputs = []
        for prompt in prompts:
            outputs.append([])
            for token in generate(lm, prompt, args.max_new_tokens, stop):
                outputs[-1].append(token)
                if not args.json:
                    print(token, end=" ", flush=True)
            if not args.json:
                print()
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"tokens": outputs, "accelerator": lm.accelerator,
                          "fully_accelerated": lm.fully_accelerated, "runtime": lm.runtime}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
