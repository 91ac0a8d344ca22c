"""Classification metrics and the two plots written to the workdir."""

import csv
import os
import time

import matplotlib

from export import contract

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def classification_metrics(y_true, y_pred, label_names) -> dict:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = len(label_names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    per_class = {}
    f1s = []
    for i, name in enumerate(label_names):
        tp = cm[i, i]
        precision = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        recall = tp / cm[i, :].sum() if cm[i, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[name] = {"precision": float(precision), "recall": float(recall),
                           "f1": float(f1), "support": int(cm[i, :].sum())}
    return {"accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
            "macro_f1": float(np.mean(f1s)), "num_examples": int(len(y_true)),
            "per_class": per_class, "labels": list(label_names),
            "confusion_matrix": cm.tolist()}


def evaluate_and_report(model, x_test, y_test, label_names, workdir, started):
    """Predicts the evaluation split; writes metrics.json and confusion_matrix.png."""
    logits = model.predict(x_test, batch_size=256, verbose=1)
    result = classification_metrics(y_test, np.argmax(logits, -1), label_names)
    result["seconds"] = round(time.time() - started, 1)
    write_json(result, os.path.join(workdir, "metrics.json"))
    plot_confusion_matrix(result, os.path.join(workdir, "confusion_matrix.png"))
    return result


def write_json(obj, path):
    contract.write_json_atomic(obj, path)


def _save(fig, path):
    """Writes the figure atomically (temp file beside it, fsync, rename)."""
    try:
        with contract.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def plot_confusion_matrix(metrics, path, title=""):
    cm = np.asarray(metrics["confusion_matrix"])
    names = metrics["labels"]
    size = max(4.0, 0.55 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=8)
    ax.set_title(title or f"accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
    _save(fig, path)


def read_history(stage_dir):
    """Epoch rows of a stage's history.csv (last row wins for a repeated epoch)."""
    path = os.path.join(stage_dir, "history.csv")
    if not os.path.exists(path):
        return []
    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows[int(row["epoch"])] = {k: float(v) for k, v in row.items() if v not in ("", None, "NA")}
    return [rows[e] for e in sorted(rows)]


def plot_training_curves(workdir, stages, path):
    """One column per stage that ran: training loss, and accuracy (train / eval) or validation
    HR@k (next_item stages) per epoch."""
    ran = [(s, read_history(os.path.join(workdir, s))) for s in stages]
    ran = [(s, h) for s, h in ran if h]
    if not ran:
        return
    fig, axes = plt.subplots(2, len(ran), figsize=(4 * len(ran), 6), squeeze=False)
    for col, (stage, history) in enumerate(ran):
        epochs = [r["epoch"] + 1 for r in history]
        axes[0, col].plot(epochs, [r["loss"] for r in history], marker="o")
        axes[0, col].set_title(f"{stage}: loss")
        keys = [k for k in history[-1] if "accuracy" in k or "hr@" in k]
        for key in keys:
            axes[1, col].plot(epochs, [r.get(key, np.nan) for r in history], marker="o", label=key)
        axes[1, col].set_title(f"{stage}: {'HR' if any('hr@' in k for k in keys) else 'accuracy'}")
        axes[1, col].set_xlabel("epoch")
        axes[1, col].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
