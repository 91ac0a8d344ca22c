"""The one fit loop every stage uses: warm-up + cosine AdamW, crash-safe checkpoints, history.

A stage lives in `<workdir>/<stage>/` (`Stage`). While it trains, `checkpoint/step-<N>/` holds
the whole training state after global step N: weights, optimizer slots, dropout RNG states,
the running epoch's metric sums and the finished epochs' history. `history.csv` is rewritten
from that record, so a resume never repeats an epoch. When the stage ends, `model.keras` is
written atomically; a stage whose `model.keras` exists is done and is not trained again.

Crash safety: a checkpoint is written into `checkpoint/.step-<N>.tmp/`, fsynced, and renamed to
`step-<N>` (the switch); the newest complete one is used and the one before it is kept. On
resume a checkpoint that does not load is renamed `step-<N>.unreadable` (one warning line) and
the one before it is tried; with none left the stage starts again.

Resume is exact: training continues at the checkpoint's step, with the data order, dropout
randomness and metric sums it had, so an interrupted stage ends with the same weights and
history as an uninterrupted one (`tests/test_training.py`). A finished stage also leaves
`random_state.json` (the global RNG and its model's dropout states at its end): a rerun that
skips the stage restores it, so the stages after it start as they did unbroken.
"""

import csv
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import sys

import keras
import numpy as np

from export import contract

_COMMITTED = re.compile(r"step-(\d+)$")
_GROUPS = ("model", "optimizer", "metrics")


def steps_for(num_examples: int, batch_size: int, epochs: int, max_steps: int) -> tuple:
    """(steps_per_epoch, epochs) honouring an optional cap on the stage's total steps."""
    steps_per_epoch = max(1, math.ceil(num_examples / batch_size))
    if max_steps and max_steps < steps_per_epoch * epochs:
        steps_per_epoch = min(steps_per_epoch, max_steps)
        epochs = math.ceil(max_steps / steps_per_epoch)
    return steps_per_epoch, epochs


def make_optimizer(learning_rate, total_steps, warmup_fraction, weight_decay):
    warmup = int(total_steps * warmup_fraction)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else learning_rate,
        decay_steps=max(1, total_steps - warmup), alpha=0.0,
        warmup_target=learning_rate if warmup else None, warmup_steps=warmup)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay,
                                       clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "layer_norm"])
    return optimizer


class EvalAccuracy(keras.callbacks.Callback):
    """Adds `eval_accuracy` on held-out examples to each epoch's logs (monitoring only)."""

    def __init__(self, inputs, labels, batch_size=256, predict=None):
        super().__init__()
        self.inputs, self.labels, self.batch_size = inputs, np.asarray(labels), batch_size
        self.predict = predict  # predict(model, inputs) -> logits; default model.predict

    def on_epoch_end(self, epoch, logs=None):
        logits = (self.predict(self.model, self.inputs) if self.predict else
                  self.model.predict(self.inputs, batch_size=self.batch_size, verbose=0))
        logs["eval_accuracy"] = float(np.mean(np.argmax(logits, -1) == self.labels))
        print(f" - eval_accuracy: {logs['eval_accuracy']:.4f}")


# --- durable files -------------------------------------------------------------------------

fsync_dir = contract.fsync_path  # a rename or new entry in the folder survives a power cut


def _fsync_file(path: str) -> None:
    contract.fsync_path(path)  # its own name: tests stop the process exactly here


def _write_synced(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def save_model(model: keras.Model, path: str) -> None:
    """Writes `model` to `path` (.keras) atomically: temp file beside it, fsync, rename."""
    tmp = path[: -len(".keras")] + ".tmp.keras"
    try:
        model.save(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def load_model(path: str) -> keras.Model:
    import pipeline.models.causal_lm  # noqa: F401  (registers the action task's model)
    import pipeline.models.sequential_recommender  # noqa: F401  (registers its classes)
    import pipeline.models.student  # noqa: F401  (registers the student's layers)
    return keras.models.load_model(path, compile=False)


def is_done(stage_dir: str) -> bool:
    return os.path.exists(os.path.join(stage_dir, "model.keras"))


def write_history(rows: list, path: str) -> None:
    """Writes epoch rows (dicts with `epoch`) as CSV, atomically."""
    keys = sorted({k for row in rows for k in row} - {"epoch"})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["epoch", *keys], restval="NA", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    contract.write_bytes_atomic(text.getvalue().encode("utf-8"), path)


# --- checkpoints ---------------------------------------------------------------------------

def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


class Checkpoints:
    """A stage's `checkpoint/` folder: complete `step-<N>/` folders, each variables + state."""

    def __init__(self, directory: str, keep: int = 2):
        self.dir, self.keep = directory, keep

    def committed(self) -> list:
        """(step, path) of the complete checkpoints, oldest first."""
        if not os.path.isdir(self.dir):
            return []
        found = [(int(m.group(1)), os.path.join(self.dir, name))
                 for name in os.listdir(self.dir) if (m := _COMMITTED.match(name))]
        return sorted(found)

    def save(self, step: int, arrays: dict, state: dict) -> str:
        """Writes a new checkpoint beside the old ones and switches to it by one rename."""
        os.makedirs(self.dir, exist_ok=True)
        final = os.path.join(self.dir, f"step-{step:09d}")
        tmp = os.path.join(self.dir, f".step-{step:09d}.tmp")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            data = buffer.getvalue()
            _write_synced(os.path.join(tmp, "variables.npz"), data)
            state = {**state, "step": step, "variables_sha256": hashlib.sha256(data).hexdigest()}
            _write_synced(os.path.join(tmp, "state.json"), json.dumps(state).encode("utf-8"))
            fsync_dir(tmp)
            if os.path.exists(final):  # the same step again, after a resume from an older one
                shutil.rmtree(final)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(self.dir)
        for _, old in self.committed()[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load(self, check) -> tuple:
        """(state, arrays, path) of the newest checkpoint that reads and passes `check`, or None.

        Unfinished writes (`.step-*.tmp`) are removed; a checkpoint that fails is set aside.
        """
        if os.path.isdir(self.dir):
            for name in os.listdir(self.dir):
                if name.startswith(".step-") and name.endswith(".tmp"):
                    shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
        for _, path in reversed(self.committed()):
            try:
                state, arrays = self._read(path)
                check(state, arrays)
                return state, arrays, path
            except Exception as e:  # noqa: BLE001  (any unreadable or mismatched file)
                aside = self._set_aside(path)
                reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
                _warn(f"checkpoint {path} does not load ({type(e).__name__}: {reason}); "
                      f"set aside as {os.path.basename(aside)}")
        return None

    @staticmethod
    def _read(path: str) -> tuple:
        with open(os.path.join(path, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        with open(os.path.join(path, "variables.npz"), "rb") as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != state["variables_sha256"]:
            raise ValueError("variables.npz does not match the checksum in state.json")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return state, arrays

    @staticmethod
    def _set_aside(path: str) -> str:
        aside, n = f"{path}.unreadable", 1
        while os.path.exists(aside):
            n += 1
            aside = f"{path}.unreadable{n}"
        os.rename(path, aside)
        return aside


def _variables(model, group: str) -> list:
    if group == "model":
        return model.variables  # weights and dropout seed states
    if group == "optimizer":
        return model.optimizer.variables
    return model.metrics_variables  # the running epoch's metric sums


class Checkpointer(keras.callbacks.Callback):
    """Tracks the stage's global step and history; checkpoints every `every` steps (0: never
    mid-epoch) and at each epoch end, then rewrites `history.csv` from the checkpoint's record."""

    def __init__(self, stage_dir: str, steps_per_epoch: int, every: int):
        super().__init__()
        self.store = Checkpoints(os.path.join(stage_dir, "checkpoint"))
        self.history_path = os.path.join(stage_dir, "history.csv")
        self.steps_per_epoch, self.every = steps_per_epoch, max(0, every)
        self.step, self.history, self.stopped = 0, [], False
        self.path = None  # of the checkpoint resumed from
        self._metric_values = None  # restored in on_epoch_begin (after fit resets metrics)

    def restore(self, model) -> bool:
        """Loads the newest usable checkpoint into `model` (compiled, optimizer built)."""
        self.set_model(model)
        found = self.store.load(self._check)
        if found is None:
            return False
        state, arrays, self.path = found
        for group in ("model", "optimizer"):
            for i, variable in enumerate(_variables(model, group)):
                variable.assign(arrays[f"{group}/{i}"])
        self.step, self.history, self.stopped = state["step"], state["history"], state["stopped"]
        if self.step % self.steps_per_epoch:
            self._metric_values = [arrays[f"metrics/{i}"] for i in range(state["counts"]["metrics"])]
        write_history(self.history, self.history_path)
        return True

    @property
    def metrics_pending(self) -> bool:
        return self._metric_values is not None

    def _check(self, state, arrays):
        if state["steps_per_epoch"] != self.steps_per_epoch:
            raise ValueError(f"written for {state['steps_per_epoch']} steps per epoch, "
                             f"not {self.steps_per_epoch}")
        for group in ("model", "optimizer"):
            shapes = [tuple(v.shape) for v in _variables(self.model, group)]
            saved = [arrays[f"{group}/{i}"].shape for i in range(state["counts"][group])]
            if shapes != saved:
                raise ValueError(f"its {group} variables do not match this stage's")

    def save(self) -> None:
        arrays, counts = {}, {}
        for group in _GROUPS:
            variables = _variables(self.model, group)
            counts[group] = len(variables)
            arrays.update({f"{group}/{i}": keras.ops.convert_to_numpy(v)
                           for i, v in enumerate(variables)})
        self.store.save(self.step, arrays, {"steps_per_epoch": self.steps_per_epoch,
                                            "counts": counts, "history": self.history,
                                            "stopped": self.stopped})

    def on_epoch_begin(self, epoch, logs=None):
        if self._metric_values is None:
            return
        variables = self.model.metrics_variables
        if [tuple(v.shape) for v in variables] == [a.shape for a in self._metric_values]:
            for variable, value in zip(variables, self._metric_values):
                variable.assign(value)
        else:
            _warn("the checkpoint's metric sums do not fit; this epoch's history row averages "
                  "only the steps after the resume")
        self._metric_values = None

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.every and self.step % self.every == 0 and self.step % self.steps_per_epoch:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.history.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        self.stopped = bool(self.model.stop_training)
        self.save()
        write_history(self.history, self.history_path)


def _build_metrics(model, batch) -> None:
    """Creates the compiled metrics' variables (Keras makes them when the train step is first
    traced) so that a checkpoint's sums can be put in before the first resumed step."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
    y_pred = model(x, training=False)
    model.compute_loss(x, y, y_pred, sample_weight, training=False)
    model.compute_metrics(x, y, y_pred, sample_weight)


def _seed_states(model) -> list:
    """The model's dropout RNG states (its variables that are not weights)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _global_rng() -> dict:
    state = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": [state[0], state[1].tolist(), int(state[2]), int(state[3]), float(state[4])]}


def _set_global_rng(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))


class Stage:
    """One training stage in `<workdir>/<name>/`: done marker, step counts, resumable fit, model.

    `section` is the config section with the stage's `epochs`, `max_steps`, `learning_rate`
    (and `batch_size`, else `train.batch_size`); `train` gives warm-up, weight decay and
    `checkpoint_every_steps`.
    """

    def __init__(self, workdir: str, name: str, section, train):
        self.name, self.dir = name, os.path.join(workdir, name)
        self.section, self.train = section, train
        self.batch_size = getattr(section, "batch_size", train.batch_size)
        self.model_path = os.path.join(self.dir, "model.keras")
        self.random_state_path = os.path.join(self.dir, "random_state.json")

    def done(self) -> bool:
        return os.path.exists(self.model_path)

    def load(self) -> keras.Model:
        """The stage's model, with the random state the stage ended with (`restore_random`)."""
        model = load_model(self.model_path)
        self.restore_random(model)
        return model

    def restore_random(self, model=None) -> None:
        """Puts back the global Python/NumPy RNG state and `model`'s dropout RNG states that the
        stage ended with, so that later stages start as they did after an unbroken run (they
        draw initial weights and dropout seeds from them). No-op for older workdirs."""
        if not os.path.exists(self.random_state_path):
            return
        with open(self.random_state_path, encoding="utf-8") as f:
            state = json.load(f)
        _set_global_rng(state)
        variables = _seed_states(model) if model is not None else []
        if [list(v.shape) for v in variables] == [list(np.shape(a)) for a in state["seeds"]]:
            for variable, value in zip(variables, state["seeds"]):
                variable.assign(np.asarray(value, dtype=variable.dtype))

    def steps(self, num_examples: int) -> tuple:
        """(steps_per_epoch, epochs) for `num_examples` examples."""
        return steps_for(num_examples, self.batch_size, self.section.epochs, self.section.max_steps)

    def fit(self, model, dataset, num_examples, *, loss, metrics=(), weighted_metrics=(),
            callbacks=(), save=None, finish=None):
        """Trains `model` from the stage's newest usable checkpoint; writes `save` (default
        `model`) to `model.keras`.

        `dataset()` must return a fresh, seeded, repeating tf.data pipeline: a shuffle's order
        depends on how many iterators its dataset object has made, so each `model.fit` call
        gets its own and skips to the resumed step. `finish(model)` runs after the last step,
        also when a resumed stage had nothing left to train.
        """
        os.makedirs(self.dir, exist_ok=True)
        rng = _global_rng()  # fit draws nothing from it now; kept so that resumes never do
        steps_per_epoch, epochs = self.steps(num_examples)
        total = steps_per_epoch * epochs
        model.compile(
            optimizer=make_optimizer(self.section.learning_rate, total,
                                     self.train.warmup_fraction, self.train.weight_decay),
            loss=loss, metrics=list(metrics), weighted_metrics=list(weighted_metrics))
        model.optimizer.build(model.trainable_variables)  # so a checkpoint can fill its slots
        checkpointer = Checkpointer(self.dir, steps_per_epoch, self.train.checkpoint_every_steps)
        if checkpointer.restore(model):
            epoch, step = divmod(checkpointer.step, steps_per_epoch)
            where = ("training finished" if checkpointer.step >= total or checkpointer.stopped
                     else f"epoch {epoch + 1}, step {step} of {steps_per_epoch}")
            print(f"{self.name}: resuming from the checkpoint {checkpointer.path} ({where})")
        else:
            print(f"{self.name}: training {epochs} epoch(s) of {steps_per_epoch} steps")
        if checkpointer.metrics_pending:
            _build_metrics(model, next(iter(dataset().take(1))))
        callbacks = [*callbacks, checkpointer]  # last: it records the logs the others add
        while checkpointer.step < total and not checkpointer.stopped:
            start = checkpointer.step
            epoch, step = divmod(start, steps_per_epoch)
            data = dataset().skip(start) if start else dataset()
            # A partially done epoch is finished by a call of its own, of the remaining steps.
            steps, last = (steps_per_epoch - step, epoch + 1) if step else (steps_per_epoch, epochs)
            model.fit(data, initial_epoch=epoch, epochs=last, steps_per_epoch=steps, verbose=1,
                      callbacks=keras.callbacks.CallbackList(
                          callbacks, add_history=True, add_progbar=True, verbose=1,
                          epochs=epochs, steps=steps, model=model))
            if checkpointer.step == start:
                break
        if finish is not None:
            finish(model)
        _set_global_rng(rng)
        seeds = [keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(save or model)]
        contract.write_bytes_atomic(json.dumps({**rng, "seeds": seeds}).encode("utf-8"),
                                    self.random_state_path)
        save_model(save or model, self.model_path)
