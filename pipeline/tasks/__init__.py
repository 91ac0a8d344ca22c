"""The task registry: the one place that knows which tasks exist.

    task = tasks.get(config.task)      # or tasks.get(manifest.task)
    task.train(config, workdir); task.export_spec.header(work, digest); ...

A task is one package under `pipeline/tasks/` whose `__init__` defines `TASK`, an instance of
`pipeline.tasks.base.Task`; adding a task is adding that package and one line below. Modules
are imported on first use, so looking a task up costs nothing until it is needed.
"""

from __future__ import annotations

import importlib

from pipeline.errors import UserError

_MODULES = {
    "text_classification": "pipeline.tasks.text_classification",
    "next_item": "pipeline.tasks.next_item",
    "action": "pipeline.tasks.action",
}
DEFAULT = "text_classification"  # workdirs and manifests written before tasks were recorded


def names() -> tuple:
    return tuple(_MODULES)


def get(name: str | None, where: str = "--config.task"):
    """The registered task called `name` (None or "" is the default); UserError otherwise."""
    name = name or DEFAULT
    if name not in _MODULES:
        raise UserError(f"{where}={name!r} is not a task; choose one of {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name]).TASK
