"""Next-item recommendation: a SASRec-style recommender over item histories (MovieLens).

Training: protocol-P split -> items.csv -> one resumable stage per seed
(`next_item_seed<seed>/`, early stopping on validation HR@k) -> the best seed's model.keras and
metrics.json beside a most-popular and a co-occurrence baseline. Export: export_spec.py.
Golden cases for app ports: golden.py.
"""

from __future__ import annotations

import os

from pipeline.tasks import base
from pipeline.tasks.next_item.export_spec import INPUT_NAME, OUTPUT_NAME


def _seeds(config) -> list:
    return [config.seed + i for i in range(config.recs.num_seeds)]


class NextItem(base.Task):
    """The next item a user picks, scored over the whole catalogue."""

    name = "next_item"
    export_spec = "pipeline.tasks.next_item.export_spec"
    app = "pipeline.tasks.next_item.golden"
    input_names = (INPUT_NAME,)
    output_name = OUTPUT_NAME
    workdir_files = ("items.csv",)
    # int8 files keep the Keras model's top-10 lists (mean overlap), not only its HR@10.
    parity_rules = {
        "fp32": base.ParityRule("top10_identical", ">=", 0.99, "top-10 lists identical"),
        "fp16": base.ParityRule("hr10_drop_points", "<=", 1.0, "HR@10 drop (points)"),
        "int8_dynamic": (base.ParityRule("hr10_drop_points", "<=", 1.0, "HR@10 drop (points)"),
                         base.ParityRule("top10_overlap", ">=", 0.9, "top-10 overlap")),
        "int8_full": (base.ParityRule("hr10_drop_points", "<=", 1.0, "HR@10 drop (points)"),
                      base.ParityRule("top10_overlap", ">=", 0.9, "top-10 overlap")),
    }
    parity_figures = (("top10_overlap", "top-10 overlap"),)
    gpu_relative = True  # raw scores, not probabilities
    gpu_top_k = 10
    bundle_name = "recommender"

    def default_config(self):
        from pipeline.tasks.next_item import config
        return config.default_config()

    def _split(self, config):
        from pipeline.data import movielens
        return movielens.protocol_split(movielens.load_interactions(config.data), config.recs)

    def train(self, config, workdir: str, started: float) -> None:
        from pipeline import metrics
        from pipeline.data import movielens
        from pipeline.tasks.next_item import report, stage
        from pipeline.workdir import write_config

        split = self._split(config)
        write_config(workdir, config)
        metrics.write_json(split.split_info(), os.path.join(workdir, "split.json"))
        movielens.write_items_file(split, os.path.join(workdir, "items.csv"))
        print(f"data: {len(split.users)} users, {split.split_info()['train_interactions']} "
              f"training interactions, catalogue {split.catalogue_size}")
        scorers = {seed: stage.run(workdir, config, split, seed) for seed in _seeds(config)}
        stages = [f"{stage.STAGE_PREFIX}{seed}" for seed in _seeds(config)]
        metrics.plot_training_curves(workdir, stages, os.path.join(workdir, "training_curves.png"))
        result = report.evaluate_and_report(scorers, split, config, workdir, started)
        print(report.format_table(result))
        print(f"wrote {workdir}/model.keras (seed {result['model_seed']}, best validation HR@"
              f"{config.recs.top_k}), items.csv, metrics.json")

    def evaluate(self, config, workdir: str, started: float) -> None:
        from pipeline.data import movielens
        from pipeline.errors import UserError
        from pipeline.models import sequential_recommender as rec
        from pipeline.tasks.next_item import report, stage
        from pipeline.workdir import load_model, require_files

        seeds = _seeds(config)
        require_files(workdir, [*self.workdir_files,
                                *(f"{stage.STAGE_PREFIX}{s}/model.keras" for s in seeds)])
        split = self._split(config)
        if list(movielens.read_items_file(os.path.join(workdir, "items.csv"))) != list(
                split.item_ids):
            raise UserError(f"{workdir}/items.csv: the data's catalogue differs from the one the "
                            "models were trained on; check --data_dir")
        scorers = {s: rec.scorer_like(load_model(
            os.path.join(workdir, f"{stage.STAGE_PREFIX}{s}", "model.keras"))) for s in seeds}
        result = report.evaluate_and_report(scorers, split, config, workdir, started)
        print(report.format_table(result))
        print(f"wrote {workdir}/metrics.json (recommenders have no confusion matrix)")


TASK = NextItem()
