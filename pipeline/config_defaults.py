"""The config fields every task shares, their allowed ranges, and the check that enforces them.

Each task has its own defaults module, `pipeline/tasks/<task>/config.py`, with:
  default_config()     `base_config(<task>)` plus the task's own fields
  RULES                {field path: Rule} for its own fields (and shared ones it narrows)
  cross_check(config)  checks between fields (UserError), run after every field is in range
Each file in `configs/` starts from its task's `default_config()` and changes what it needs;
`get_config(arg)` takes an optional argument, `tiny` for a small run
(`--config=configs/assistant_intents.py:tiny`). Every field can be overridden on the command line,
e.g. `--config.train.epochs=3`; `validate(config)` then checks every value against its range.
"""

import dataclasses
import importlib
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import ml_collections

from pipeline.errors import UserError

SEED_MAX = 2**31 - 1  # NumPy, TensorFlow and Python's random all take seeds up to here
TINY = "tiny"  # the config-file argument for a small run (`configs/<file>.py:tiny`)


# ---------------------------------------------------------------------------------------------
# Ranges
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Rule:
    """The allowed values of one field: `text` as errors state it, `ok(value)` the test, and
    `note` a condition on other fields that the task's `cross_check` enforces."""
    text: str
    ok: Callable[[Any], bool]
    note: str = ""

    @property
    def help(self) -> str:
        """The range as `--helpfull` states it."""
        return f"{self.text} ({self.note})" if self.note else self.text

    def also(self, note: str) -> "Rule":
        return dataclasses.replace(self, note=note)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def integer(low: int, high: int | None = None) -> Rule:
    """An int (not a bool) in [low, high]; no upper bound when high is None."""
    text = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    return Rule(text, lambda v: _is_int(v) and v >= low and (high is None or v <= high))


def number(low: float, high: float | None = None, *, low_open=False, high_open=False) -> Rule:
    """A finite int or float between low and high (each bound closed unless `*_open`)."""
    if high is None:
        text = f"a number {'>' if low_open else '>='} {low}"
    else:
        text = f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    def ok(v):
        return (_is_number(v) and (v > low if low_open else v >= low)
                and (high is None or (v < high if high_open else v <= high)))

    return Rule(text, ok)


def one_of(*choices) -> Rule:
    return Rule("one of " + ", ".join(repr(c) for c in choices), lambda v: v in choices)


BOOLEAN = Rule("True or False", lambda v: isinstance(v, bool))
TEXT = Rule("text", lambda v: isinstance(v, str))
NAME = Rule("a non-empty name", lambda v: isinstance(v, str) and bool(v.strip()))
LEARNING_RATE = number(0, 1, low_open=True)  # AdamW: above 1 is a typo, not a setting


def task_names() -> tuple:
    """The tasks, as the registry (`pipeline.tasks`) lists them."""
    import pipeline.tasks

    return tuple(pipeline.tasks.names())


def task_config_module(task: str):
    """`pipeline.tasks.<task>.config`; UserError naming `--config.task` for an unknown task."""
    names = task_names()
    if task not in names:
        raise UserError(f"--config.task={_show(task)}: must be "
                        + one_of(*names).text)
    return importlib.import_module(f"pipeline.tasks.{task}.config")


# Ranges of the shared fields; a task's RULES may narrow one (data.name: the task's formats).
RULES = {
    "task": Rule("a task of the registry pipeline/tasks/ (listed below)",
                 lambda v: v in task_names()),
    "seed": integer(0, SEED_MAX),
    "data.name": Rule("a format of the task (listed below)", lambda v: isinstance(v, str)),
    "data.dir": TEXT,
    "data.subdir": TEXT,
    "data.tfds_name": TEXT,
    "data.train_file": TEXT,
    "model.num_layers": integer(1),
    "model.hidden_dim": integer(1),
    "model.num_heads": integer(1).also("and divides model.hidden_dim"),
    "model.intermediate_dim": integer(1),
    "model.activation": one_of("relu", "gelu", "silu", "tanh"),
    "model.dropout": number(0, 1, high_open=True),
    "train.batch_size": integer(1),
    "train.epochs": integer(1),
    "train.max_steps": integer(0),
    "train.learning_rate": LEARNING_RATE,
    "train.warmup_fraction": number(0, 1),
    "train.weight_decay": number(0, 1),
    "train.checkpoint_every_steps": integer(1),
    "export.name": TEXT,
    "export.description": TEXT,
    "export.version": TEXT,
    "export.author": TEXT,
    "export.license": TEXT,
    "export.int8_budget_mb": number(0, low_open=True),
    "export.check_examples": integer(50),  # export.check's GPU parity needs 50 inputs
}


# ---------------------------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------------------------
def base_config(task_name: str) -> ml_collections.ConfigDict:
    """The fields every task has, with their defaults; a task's `default_config()` adds its own."""
    c = ml_collections.ConfigDict()
    c.task = task_name  # picks the pipeline; a package under pipeline/tasks/.
    c.seed = 0

    # Data: see pipeline/data/__init__.py (text) and pipeline/data/movielens.py for the formats.
    c.data = ml_collections.ConfigDict()
    c.data.name = ""  # a name from the task's formats, e.g. "sst2", "bbc", "table", "movielens".
    c.data.dir = ""  # local folder; else $PIPELINE_DATA_DIR/<data.subdir>; else TFDS.
    c.data.subdir = ""  # folder name under $PIPELINE_DATA_DIR.
    c.data.tfds_name = ""  # TFDS catalog name used online when no local copy is found.
    c.data.train_file = ""  # "table" and "interactions" formats: file name inside data.dir.

    # The model: a small transformer encoder shaped for phone delegates.
    c.model = ml_collections.ConfigDict()
    c.model.num_layers = 2
    c.model.hidden_dim = 128
    c.model.num_heads = 2
    c.model.intermediate_dim = 512
    c.model.activation = "relu"  # NNAPI runs only relu.
    c.model.dropout = 0.1

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 32
    c.train.epochs = 3
    c.train.max_steps = 0  # 0 = no cap; otherwise the whole stage stops after this many steps.
    c.train.learning_rate = 1e-3
    c.train.warmup_fraction = 0.1
    c.train.weight_decay = 0.01
    c.train.checkpoint_every_steps = 200

    c.export = ml_collections.ConfigDict()
    c.export.name = ""
    c.export.description = ""
    c.export.version = "1"
    c.export.author = ""
    c.export.license = "Apache-2.0"
    c.export.int8_budget_mb = 2.0  # size budget of each int8 file (export.check --require size).
    c.export.check_examples = 200  # evaluation examples saved for export.check (GPU parity).
    return c


def sized(c, arg: str | None, tiny):
    """`c` as `get_config(arg)` returns it: made small by `tiny(c)` for `:tiny`, else as is."""
    if config_argument(arg) == TINY:
        tiny(c)
    return c


def config_argument(arg: str | None, accepted: tuple = (TINY,)) -> str:
    """A config file's `get_config(arg)` argument, "" for none; UserError unless accepted.

    ml_collections passes the text after `:` in `--config=<file>.py:<arg>`; the command line
    puts the file's name in front of the message.
    """
    arg = (arg or "").strip()
    if arg and arg not in accepted:
        raise UserError(f"unknown config argument {arg!r} (accepted: "
                        f"{', '.join(accepted)}, or none for the full run)")
    return arg


# ---------------------------------------------------------------------------------------------
# Checking a config
# ---------------------------------------------------------------------------------------------
def _show(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def leaves(config, prefix: str = "") -> dict:
    """{dotted path: value} of every field that is not itself a section."""
    out = {}
    for key, value in config.items():
        if isinstance(value, (ml_collections.ConfigDict, dict)):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def field_error(path: str, value, requirement: str) -> UserError:
    """`--config.<path>=<value>: <requirement>` as a UserError (the tasks' cross checks use it)."""
    return UserError(f"--config.{path}={_show(value)}: {requirement}")


def validate(config) -> None:
    """Checks a loaded config: every field in its range, no unknown or missing field, and the
    task's checks across fields. Raises UserError naming the first field that is not."""
    module = task_config_module(config.get("task", ""))
    rules = {**RULES, **module.RULES}
    values = leaves(config)
    for path, value in values.items():
        if path not in rules:
            raise UserError(f"--config.{path}: not a field of the {config.task} task "
                            f"(see --helpfull)")
        if not rules[path].ok(value):
            raise field_error(path, value, f"must be {rules[path].text}")
    missing = [p for p in rules if p not in values]
    if missing:
        raise UserError(f"--config.{missing[0]}: missing; a config file must start from "
                        f"pipeline.tasks.{config.task}.config.default_config()")
    if config.model.hidden_dim % config.model.num_heads:
        raise field_error("model.num_heads", config.model.num_heads,
                          f"must divide --config.model.hidden_dim={config.model.hidden_dim}")
    module.cross_check(config)


# ---------------------------------------------------------------------------------------------
# --helpfull
# ---------------------------------------------------------------------------------------------
_FIELD_LINE = re.compile(r"\s*c\.([\w.]+) = (?!ml_collections)(.*?)(?:\s+#\s*(.*))?$")


def _field_lines(function, config, rules, shown=None) -> list:
    """`--config.<path>=<default>  # <range>; <comment>` for each field that `function` assigns
    (comments from its source, defaults from `config`)."""
    values = leaves(config)
    lines = []
    for line in inspect.getsource(function).splitlines():
        m = _FIELD_LINE.match(line)
        if m:
            path, _, comment = m.groups()
            default = shown.get(path) if shown and path in shown else _default(values[path])
            lines.append(f"  --config.{path}={default}  # {rules[path].help}"
                         + (f"; {comment}" if comment else ""))
    return lines


def _default(value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def describe_fields() -> str:
    """Every config field with its default, range and comment, grouped by task, for `--helpfull`."""
    base = base_config("")
    lines = ["Shared by every task (pipeline/config_defaults.py):"]
    lines += _field_lines(base_config, base, RULES, shown={"task": "<task>"})
    for task in task_names():
        module = task_config_module(task)
        lines.append(f"Task {task!r} (pipeline/tasks/{task}/config.py):")
        # Shared fields whose range the task narrows first (data.name: the task's formats).
        lines += [f"  --config.{path}={_default(value)}  # {module.RULES[path].help}"
                  for path, value in leaves(base).items() if path in module.RULES]
        lines += _field_lines(module.default_config, module.default_config(), module.RULES)
    return "\n".join(lines)
