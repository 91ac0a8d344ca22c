"""Command → action generation: a causal LM that writes `intent(slot=value, ...)` for a command.

The slot schema (`schema.py`) and the action string format with its parser (`actions.py`) are
TensorFlow-free; they are shared by training, the TFLite runtime and the tests. The tokenizer
(`tokenizer.py`, byte-level BPE) and the constrained decoder (`grammar.py`) are too.

Training (`stage.py`): jsonl splits -> tokenizer (vocabulary.json, merges.txt in the workdir)
-> `lm_pretrain` (causal LM on the training commands and actions, and extra text) ->
`finetune` (command -> action, loss on the action tokens only) -> model.keras. Evaluation
(`evaluate.py`): greedy decoding with the KV cache in Keras, grammar-constrained and not ->
metrics.json. Export (`export_spec.py`): one `.tflite` per variant with `prefill` and `decode`
signatures and an explicit KV cache, the tokenizer beside it, parity as greedy actions against
Keras, its own GPU check; golden vectors and bundle files: `golden.py`.
"""

from __future__ import annotations

import os
import time

from pipeline.tasks import base


class ActionTask(base.Task):
    """The action a spoken-style command asks for, generated token by token."""

    name = "action"
    workdir_files = ("vocabulary.json", "merges.txt")
    bundle_name = "assistant"
    export_spec = "pipeline.tasks.action.export_spec"
    app = "pipeline.tasks.action.golden"
    variants = ("fp32", "fp16", "int8_dynamic")
    # Greedy constrained decoding of the evaluation commands, file (CPU) against Keras.
    parity_rules = {
        "fp32": base.ParityRule("tokens_identical", ">=", 1.0, "greedy tokens identical"),
        "fp16": base.ParityRule("exact_match_drop_points", "<=", 1.0,
                                "exact-match drop (points)"),
        "int8_dynamic": base.ParityRule("exact_match_drop_points", "<=", 1.0,
                                        "exact-match drop (points)"),
    }
    parity_figures = (("tokens_identical", "tokens identical"),
                      ("actions_identical", "actions identical"))

    def default_config(self):
        from pipeline.tasks.action import config
        return config.default_config()

    def train(self, config, workdir: str, started: float) -> None:
        from pipeline import metrics, training
        from pipeline.tasks.action import stage
        from pipeline.workdir import write_config

        splits = stage.load_splits(config)
        extra = stage.read_extra_texts(config.data.extra_text_files)
        write_config(workdir, config)
        metrics.write_json(splits.info, os.path.join(workdir, "split.json"))
        tok = stage.prepare_tokenizer(workdir, config, splits.train, extra)
        print(f"data: {len(splits.train)} train / {len(splits.eval)} {splits.info['method']} "
              f"commands, {len(extra)} extra texts, vocabulary {tok.vocabulary_size}")
        model = stage.run(workdir, config, tok, splits.train, extra)
        training.save_model(model, os.path.join(workdir, "model.keras"))
        stages = [stage.PRETRAIN] * config.stages.lm_pretrain + [stage.FINETUNE]
        metrics.plot_training_curves(workdir, stages, os.path.join(workdir, "training_curves.png"))
        self._report(model, tok, splits, config, workdir, started)
        print(f"wrote {workdir}/model.keras, vocabulary.json, merges.txt, metrics.json")

    def evaluate(self, config, workdir: str, started: float) -> None:
        from pipeline.models import causal_lm  # noqa: F401  (registers the model's classes)
        from pipeline.tasks.action import stage
        from pipeline.tasks.action import tokenizer as bpe
        from pipeline.workdir import load_model, require_files

        require_files(workdir, [*self.workdir_files, "model.keras"])
        splits = stage.load_splits(config)
        tok = bpe.load(workdir)
        model = load_model(os.path.join(workdir, "model.keras"))
        self._report(model, tok, splits, config, workdir, started)
        print(f"wrote {workdir}/metrics.json")

    @staticmethod
    def _report(model, tok, splits, config, workdir, started):
        from pipeline import metrics
        from pipeline.models.causal_lm import count_params
        from pipeline.tasks.action import evaluate

        split = "validation" if splits.info["method"] == "validation" else "test"
        result = evaluate.evaluate(model, tok, splits.eval, config, split)
        result.update(params=count_params(model), vocabulary_size=tok.vocabulary_size,
                      train_lengths=evaluate.prompt_stats(tok, splits.train),
                      seconds=round(time.time() - started, 1))
        metrics.write_json(result, os.path.join(workdir, "metrics.json"))
        print(evaluate.format_table(result))
        print(f"on {result['num_examples']} {split} commands; {result['seconds']} s")


TASK = ActionTask()
