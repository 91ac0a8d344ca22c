"""The action model's export: one `.tflite` per variant with `prefill` and `decode` signatures
and an explicit KV cache (export/conversion/kv_cache.py), the tokenizer beside it, parity as
greedy actions, and its own GPU check.

  variants      fp32; fp16 (float16 weights); int8_dynamic (int8 weights, activations
                quantized on the fly: kv_cache's `int8`; with export.int8_smoothing_alpha > 0
                its matmul inputs are smoothed first, on CALIBRATION_EXAMPLES training
                commands). int8_full is refused: a calibrated integer cache and attention are
                not built.
  files beside  vocabulary.json and merges.txt (the byte-level BPE, named in the manifest's
                `tokenizer` with their digests; a pretrained model's ChatML tokenizer adds
                tokenizer_config.json: its special tokens, pre-tokeniser and system line),
                check_commands.json (the evaluation commands,
                their reference actions and the Keras model's greedy token ids: the gate runs
                the files on them without TensorFlow or the dataset). No TFLite metadata: its
                schema has no causal-LM tokenizer or two-signature layout.
  parity        greedy, grammar-constrained decoding of every evaluation command through the
                file (CPU) against the Keras model's: `tokens_identical` (share of commands
                with the same token ids; fp32 must be 100 %), `exact_match` of both and
                `exact_match_drop_points` (the other variants: <= 1 point).
  gpu           `check_gpu`: each float file on LiteRT's GPU backend alone, in a child process:
                both signatures fully accelerated; the same action as the CPU file for >= 99 %
                of the check commands at default (fp16) precision, and with enforce_f32.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from export import contract
from export.contract import UserError

VARIANTS = ("fp32", "fp16", "int8_dynamic")
KV_VARIANT = {"fp32": "fp32", "fp16": "fp16", "int8_dynamic": "int8"}
QUANTIZATION = {"fp32": "none", "fp16": "float16 weights, float32 arithmetic",
                "int8_dynamic": "int8 weights, dynamic-range int8 activations"}
CHECK_COMMANDS = "check_commands.json"
TOKENIZER_FILES = ("vocabulary.json", "merges.txt")
MIN_GPU_AGREEMENT = 0.99
CALIBRATION_EXAMPLES = 64  # seeded training commands + actions for the smoothing maxima


def load_export(workdir, config, model, model_path) -> dict:
    """The workdir's tokenizer, the model's sizes and the evaluation split."""
    from pipeline.models.causal_lm import CausalLM
    from pipeline.tasks.action import stage
    from pipeline.tasks.action import tokenizer as bpe

    if not isinstance(model, CausalLM):
        raise UserError(f"{model_path}: not a causal LM ({type(model).__name__}); the action "
                        "task exports pipeline/models/causal_lm.py models")
    tok = bpe.load(workdir)
    if tok.vocabulary_size != model.config.vocabulary_size:
        raise UserError(f"{workdir}/vocabulary.json: {tok.vocabulary_size} tokens but the "
                        f"model has {model.config.vocabulary_size}; retrain the workdir")
    splits = stage.load_splits(config)
    return {"sequence_length": 0, "output_size": tok.vocabulary_size, "tokenizer": tok,
            "splits": splits, "prompt_length": int(config.model.prompt_length),
            "eval_texts": [r.text for r in splits.eval]}


def tokenizer_files(tok) -> tuple:
    """The files that describe `tok`: the BPE's two, and the ChatML tokenizer's config."""
    from pipeline.tasks.action.chat_tokenizer import CONFIG_FILENAME, ChatBPETokenizer

    return (*TOKENIZER_FILES, CONFIG_FILENAME) if isinstance(tok, ChatBPETokenizer) \
        else TOKENIZER_FILES


def _tokenizer_header(work: dict) -> tuple:
    """(the manifest's `tokenizer` section, its `prompt_format` line)."""
    tok = work["tokenizer"]
    files = tokenizer_files(tok)
    section = {"type": "byte_level_bpe", "vocabulary_file": files[0], "merges_file": files[1]}
    prompt = ("bos, the command's token ids, sep; the model writes the action text, then eos")
    if len(files) == 3:
        # A phone port must apply this pre-tokeniser and write this ChatML turn, ids and all.
        section.update(type="chatml_byte_level_bpe", config_file=files[2], pre=tok.pre,
                       system=tok.system)
        prompt = ("ChatML: <|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n"
                  "{command}<|im_end|>\\n<|im_start|>assistant\\n; the model writes the "
                  "action text, then <|im_end|> (eos)")
    section["sha256"] = {name: contract.sha256_file(os.path.join(work["workdir"], name))
                         for name in files}
    return section, prompt


def evaluation(work: dict) -> dict:
    """The Keras model's constrained greedy ids and actions on the evaluation split."""
    from pipeline.tasks.action import evaluate

    tok, config, splits = work["tokenizer"], work["config"], work["splits"]
    decoder = evaluate.KerasDecoder(work["model"], tok, work["prompt_length"],
                                    config.generation.max_new_tokens)
    grammar = evaluate.make_grammar(tok)
    ids, texts = [], []
    for ex in splits.eval:
        ids.append(_constrained_ids(decoder, grammar, tok, ex.text))
        texts.append(tok.decode([i for i in ids[-1] if i != tok.eos_id]))
    split = "validation" if splits.info["method"] == "validation" else "test"
    return {"examples": splits.eval, "keras_ids": ids, "keras_actions": texts, "split": split,
            "keras": evaluate.score(splits.eval, texts),
            "max_new_tokens": int(config.generation.max_new_tokens)}


def _constrained_ids(decoder, grammar, tok, command) -> list:
    state = [grammar.start(command)]

    def mask_fn(generated):
        if generated:
            state[0] = grammar.advance(state[0], generated[-1])
        return grammar.allowed(state[0])

    return decoder.generate_ids(tok.encode_example(command), mask_fn)


def convert(work: dict, variant: str, path: str, graphs, representative) -> dict:
    """Writes the variant's two-signature file at `path` (checked for the converter's silent
    failures before it is kept); returns its manifest fields."""
    from export.conversion import kv_cache

    if variant not in VARIANTS:
        raise UserError(f"--variants={variant}: the action task exports "
                        f"{', '.join(VARIANTS)} (no calibrated integer cache)")
    model, quantization = work["model"], QUANTIZATION[variant]
    alpha = float(work["config"].export.get("int8_smoothing_alpha", 0.0))
    if variant == "int8_dynamic" and alpha > 0:
        model = _smoothed(work, alpha)
        quantization += f", inputs smoothed (SmoothQuant alpha {alpha:g})"
    info = kv_cache.export_causal_lm(model, path, KV_VARIANT[variant], work["prompt_length"])
    return {"variant": variant, "quantization": quantization, "params": info["params"],
            "graph_target": "gpu", "signatures": {
                name: {"num_ops": g["num_ops"], "ops": g["ops"], "max_rank": g["max_rank"]}
                for name, g in info["signatures"].items()}}


def _smoothed(work: dict, alpha: float):
    """The model with its int8 matmul inputs smoothed on seeded training commands."""
    import random

    from export.conversion import smooth_activations

    tok, train = work["tokenizer"], work["splits"].train
    rng = random.Random(int(work["config"].seed))
    rows = rng.sample(train, min(CALIBRATION_EXAMPLES, len(train)))
    return smooth_activations.smoothed_copy(
        work["model"], [tok.encode_example(r.text, r.action) for r in rows], alpha)


def write_check_inputs(export_dir: str, evaluation: dict, count: int) -> dict:
    """check_commands.json: the first `count` commands with their reference action and the
    Keras model's greedy ids; returns the manifest's `check_inputs` entry."""
    examples = evaluation["examples"][:count]
    data = {"commands": [ex.text for ex in examples], "langs": [ex.lang for ex in examples],
            "references": [ex.action for ex in examples],
            "keras_ids": evaluation["keras_ids"][:len(examples)],
            "keras_actions": evaluation["keras_actions"][:len(examples)]}
    path = os.path.join(export_dir, CHECK_COMMANDS)
    contract.write_bytes_atomic(json.dumps(data, ensure_ascii=False).encode("utf-8"), path)
    return {"file": CHECK_COMMANDS, "examples": len(examples), "split": evaluation["split"],
            "sha256": contract.sha256_file(path)}


def read_check_commands(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not all(isinstance(data.get(k), list) for k in ("commands", "keras_ids")):
            raise ValueError("no commands and keras_ids lists")
    except (OSError, ValueError, AttributeError) as e:
        raise UserError(f"{path}: not the check commands export.convert writes ({e}); re-run "
                        "export.convert") from None
    return data


def header(work: dict) -> dict:
    from export.conversion import kv_cache

    tok, cfg = work["tokenizer"], work["model"].config
    shapes = kv_cache.signature_shapes(cfg, work["prompt_length"])
    tokenizer, prompt_format = _tokenizer_header(work)
    return {
        "prompt_length": work["prompt_length"],
        "max_length": cfg.max_length,
        "vocabulary_size": tok.vocabulary_size,
        "num_layers": cfg.num_layers,
        "cache_dim": cfg.cache_dim,
        "special_ids": {"pad": tok.pad_id, "bos": tok.bos_id, "eos": tok.eos_id,
                        "sep": tok.sep_id},
        "prompt_format": prompt_format,
        "action_format": "intent(slot=value, ...) as pipeline/tasks/action/actions.py writes "
                         "and parses it; the slot schema is the README's 'Assistant actions'",
        "tokenizer": tokenizer,
        "signatures": {sig: {"inputs": {n: {"dtype": d, "shape": list(s)}
                                        for n, (d, s) in ins.items()},
                             "outputs": {n: {"dtype": d, "shape": list(s)}
                                         for n, (d, s) in outs.items()}}
                       for sig, (ins, outs) in shapes.items()},
    }


def associated_files(work: dict) -> dict:
    return {name: os.path.join(work["workdir"], name)
            for name in tokenizer_files(work["tokenizer"])}


def pack(data: bytes, work: dict) -> bytes:
    return data  # no TFLite metadata (see the module doc)


def verify_metadata(export_dir: str, name: str, manifest) -> dict:
    """No TFLite metadata: the tokenizer files beside the model must match the manifest and
    load as the tokenizer, and the file must have both signatures."""
    from export.runtime.assistant import load_tokenizer

    problems = []
    sha = (manifest.get("tokenizer") or {}).get("sha256", {})
    files = manifest_tokenizer_files(manifest)
    for file_name in files:
        path = os.path.join(export_dir, file_name)
        if not os.path.isfile(path):
            problems.append(f"{file_name} missing beside the model")
        elif contract.sha256_file(path) != sha.get(file_name):
            problems.append(f"{file_name} differs from the manifest's tokenizer.sha256")
    if not problems:
        try:
            tok = load_tokenizer(export_dir)
            if tok.vocabulary_size != manifest.get("vocabulary_size"):
                problems.append(f"vocabulary.json has {tok.vocabulary_size} tokens, the "
                                f"manifest says {manifest.get('vocabulary_size')}")
        except UserError as e:
            problems.append(str(e))
    from export.tflite import reader
    signatures = reader.read_model(os.path.join(export_dir, name)).signatures
    missing = [s for s in ("prefill", "decode") if s not in signatures]
    if missing:
        problems.append(f"signature {', '.join(missing)} missing")
    return {"ok": not problems, "problems": problems, "associated_files": list(files),
            "summary": f"prefill and decode signatures; {', '.join(files)} match the manifest "
                       "and load (no TFLite metadata for this task)"}


def manifest_tokenizer_files(manifest) -> tuple:
    """The tokenizer files a manifest names (older manifests: the BPE's two)."""
    spec = manifest.get("tokenizer") or {}
    names = [spec.get("vocabulary_file", TOKENIZER_FILES[0]),
             spec.get("merges_file", TOKENIZER_FILES[1])]
    if spec.get("config_file"):
        names.append(spec["config_file"])
    return tuple(names)


def _file_actions(path: str, commands: list, max_new_tokens: int) -> tuple:
    from export.runtime.assistant import Assistant

    assistant = Assistant(path)
    results = [assistant.act(c, max_new_tokens=max_new_tokens) for c in commands]
    return [r["generated_ids"] for r in results], [r["action"] for r in results]


def parity(path: str, evaluation: dict) -> dict:
    """The file's greedy constrained decoding on the evaluation commands against Keras's."""
    from pipeline.tasks.action import evaluate

    examples = evaluation["examples"]
    ids, texts = _file_actions(path, [ex.text for ex in examples], evaluation["max_new_tokens"])
    result = evaluate.score(examples, texts)
    keras = evaluation["keras"]
    same = [a == b for a, b in zip(ids, evaluation["keras_ids"])]
    return {"split": evaluation["split"], "examples": len(examples),
            "tokens_identical": float(np.mean(same)) if same else 0.0,
            "actions_identical": float(np.mean([a == b for a, b in
                                                zip(texts, evaluation["keras_actions"])])),
            "exact_match": result["exact_match"], "keras_exact_match": keras["exact_match"],
            "exact_match_drop_points": round(100.0 * (keras["exact_match"]
                                                      - result["exact_match"]), 4),
            "exact_match_by_lang": result["exact_match_by_lang"],
            "intent_accuracy": result["intent_accuracy"], "slot_f1": result["slot_f1"]}


def summary(result: dict) -> str:
    return (f"tokens identical to Keras {result['tokens_identical']:7.2%}  exact match "
            f"{result['exact_match']:.4f} (keras {result['keras_exact_match']:.4f}, drop "
            f"{result['exact_match_drop_points']:+.2f} pts)")


def nnapi_reports(path: str, api_levels) -> dict:
    """The NNAPI report of each signature's subgraph (static; the GPU is this model's target)."""
    from export.checks import nnapi
    from export.tflite import reader

    signatures = reader.read_model(path).signatures
    return {name: nnapi.summary(reader.read_model(path, subgraph=s["subgraph"]), api_levels)
            for name, s in sorted(signatures.items())}


# ---------------------------------------------------------------------------------------------
# The gate's GPU check (export.checks.gate calls it for this task)
# ---------------------------------------------------------------------------------------------
def _gpu_actions(path: str, commands_file: str, enforce_f32: bool, timeout: float) -> tuple:
    """(result dict or None, one-line error or None) of the file on the GPU, in a child."""
    from export.checks import gpu

    command = [sys.executable, "-m", "export.runtime.assistant", path,
               f"--commands={commands_file}", "--accelerator=gpu", "--json"]
    if enforce_f32:
        command.append("--enforce_f32")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"the GPU run took over {timeout:.0f} s"
    if done.returncode != 0:
        reasons = gpu._backend_reasons(done.stderr)  # noqa: SLF001 (same parsing as gpu.py)
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return None, "; ".join([" ".join(tail[0].split())[:300], *reasons])[:800]
    try:
        return json.loads(done.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, "the GPU child printed no result"


def check_gpu(gate, names: list, timeout: float = 1800) -> None:
    """Each float file (fp32, fp16) on the GPU backend alone: both signatures fully
    accelerated, and the same action as the file on the CPU for >= 99 % of the check commands
    at default precision and with enforce_f32. One gate line per file and mode."""
    from export.checks import gpu

    floats, why = gate.gpu_files(names)
    if not floats:
        return
    data = read_check_commands(gate.check_inputs_path())
    commands = data["commands"]
    with tempfile.TemporaryDirectory(prefix="action-gpu-") as tmp:
        commands_file = os.path.join(tmp, "commands.json")
        with open(commands_file, "w", encoding="utf-8") as f:
            json.dump(commands, f, ensure_ascii=False)
        for name in floats:
            path = os.path.join(gate.export_dir, name)
            cpu_ids, cpu_texts = _file_actions(path, commands, 64)
            f32_ok = False
            for enforce_f32 in (True, False):  # float32 first: it tells what a phone must ask
                mode = "enforce_f32" if enforce_f32 else "default precision"
                result, error = _gpu_actions(path, commands_file, enforce_f32, timeout)
                if error is None and not result.get("fully_accelerated"):
                    error = "not fully accelerated (some op runs on the CPU)"
                if error is not None:
                    gate.report("gpu", name, False, f"{mode}: {error}")
                    continue
                texts = [r["action"] for r in result["results"]]
                same = float(np.mean([a == b for a, b in zip(texts, cpu_texts)]))
                tokens = float(np.mean([r["generated_ids"] == c
                                        for r, c in zip(result["results"], cpu_ids)]))
                ok = same >= MIN_GPU_AGREEMENT
                f32_ok = f32_ok or (enforce_f32 and ok)
                contract.update_checks(gate.export_dir, name, gpu.CHECK_NAME[enforce_f32], {
                    "fully_accelerated": True, "same_action": same, "same_tokens": tokens,
                    "commands": len(commands), "runtime": result.get("runtime"),
                    "ok": ok}, expected_sha256=contract.sha256_file(path))
                advice = ("; it agrees with enforce_f32: a phone must ask the GPU for float32 "
                          "(GpuOptions enforce_f32; GpuDelegate.Options precision loss not "
                          "allowed)") if not (ok or enforce_f32) and f32_ok else ""
                gate.report("gpu", name, ok,
                            f"both signatures fully accelerated ({why}); {mode}: the same "
                            f"action as the CPU for {same:.2%} of {len(commands)} commands "
                            f"(need >= {MIN_GPU_AGREEMENT:.0%}), same tokens {tokens:.2%}"
                            + advice)
