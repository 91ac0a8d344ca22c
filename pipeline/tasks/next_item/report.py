"""The recommender's evaluation report: every seed's model and the baselines on the test users
of protocol P, written to metrics.json, the best seed's scorer saved as model.keras."""

import json
import os
import time

import numpy as np

from pipeline.errors import UserError
from pipeline.ranking import baseline_results, ranking_metrics, summary
from pipeline.tasks.next_item.stage import STAGE_PREFIX

METRICS = ("hr", "ndcg", "mrr", "coverage")


def _mean_and_spread(results: list) -> dict:
    out = {}
    for key in METRICS:
        values = np.asarray([r[key] for r in results])
        out[key] = {"mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "min": float(values.min()), "max": float(values.max())}
    return out


def _examples(top, split, histories, count=3):
    """A few test users' last liked titles and top recommendations, for reading metrics.json."""
    title = lambda i: split.item_info.get(int(split.item_ids[i]), (str(int(split.item_ids[i])),))[0]  # noqa: E731  (a one-line local helper)
    return [{"user": int(split.users[u]), "last_liked": [title(i) for i in histories[u][-5:]],
             "target": title(split.test_targets[u]) if split.test_targets[u] > 1 else "(outside catalogue)",
             "top": [title(i) for i in top[u]]} for u in range(min(count, len(histories)))]


def evaluate_and_report(scorers: dict, split, config, workdir: str, started: float) -> dict:
    """Scores the test users with every seed's model and the baselines; writes metrics.json.

    `scorers` maps seed -> scorer model. The scorer of the seed with the best validation HR@k
    (never the test) becomes `<workdir>/model.keras`, the model that is exported.
    """

    from pipeline import metrics, training
    from pipeline.models.sequential_recommender import left_pad

    r, k = config.recs, config.recs.top_k
    histories = split.test_histories()
    inputs = left_pad(histories, r.history_length)
    per_seed, validation, top = {}, {}, {}
    for seed, scorer in scorers.items():
        scores = scorer.predict(inputs, batch_size=256, verbose=0)
        result = ranking_metrics(scores, histories, split.test_targets, k)
        per_seed[seed], top[seed] = summary(result), result["top"]
        best_path = os.path.join(workdir, f"{STAGE_PREFIX}{seed}", "best.json")
        if os.path.exists(best_path):
            try:
                with open(best_path, encoding="utf-8") as f:
                    validation[seed] = dict(json.load(f))
            except (OSError, ValueError, TypeError) as e:
                raise UserError(f"{best_path}: unreadable ({e}); delete the stage folder "
                                f"{STAGE_PREFIX}{seed}/ and run the same command again") from None
    model_seed = max(scorers, key=lambda s: (validation.get(s, {}).get("hr", -1.0), -s))
    training.save_model(scorers[model_seed], os.path.join(workdir, "model.keras"))
    baselines = baseline_results(split, r.history_length, k, r.cooc_last_items, r.cooc_window)
    # The same baselines on the validation cases the seeds were chosen on (same code, same
    # fitted sequences as the model): a yardstick for the validation figures.
    valid_baselines = baseline_results(split, r.history_length, k, r.cooc_last_items,
                                       r.cooc_window, validation_positions=r.valid_positions)
    result = {
        "task": config.task, "protocol": "P", "k": k, "users": len(histories),
        "catalogue": split.catalogue_size, "history_length": r.history_length,
        "model": {"mean_over_seeds": _mean_and_spread(list(per_seed.values())),
                  "per_seed": {str(s): m for s, m in per_seed.items()},
                  "validation_best": {str(s): v for s, v in validation.items()}},
        "baselines": {name: summary(b) for name, b in baselines.items()},
        "validation": {"positions": r.valid_positions,
                       "cases": len(split.validation_cases(r.valid_positions)[1]),
                       "baselines": {name: summary(b) for name, b in valid_baselines.items()}},
        "model_seed": model_seed,
        "examples": _examples(top[model_seed], split, histories),
        "seconds": round(time.time() - started, 1)}
    metrics.write_json(result, os.path.join(workdir, "metrics.json"))
    return result


def format_table(result: dict) -> str:
    """The metrics as a Markdown table: the model (mean ± std over seeds), then the baselines."""
    k = result["k"]
    lines = [f"| model | HR@{k} | NDCG@{k} | MRR | cov@{k} |", "| --- | --- | --- | --- | --- |"]
    mean = result["model"]["mean_over_seeds"]
    seeds = len(result["model"]["per_seed"])
    lines.append(f"| sequential recommender ({seeds} seeds, mean ± std) | " + " | ".join(
        f"{mean[m]['mean']:.4f} ± {mean[m]['std']:.4f}" for m in METRICS) + " |")
    for name, b in result["baselines"].items():
        lines.append(f"| {name} | " + " | ".join(f"{b[m]:.4f}" for m in METRICS) + " |")
    return "\n".join(lines)
