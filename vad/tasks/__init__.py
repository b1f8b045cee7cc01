"""Tasks register by name; the runner, the spec and the leaderboard look them up here.

Every module of this package other than ``base`` and ``context`` is a task (one file
and a name: ``@register_task("name")``) and is imported once, here. Installed packages
add theirs through the entry point group ``vad.tasks`` (vad/plugins.py), loaded on the
first look-up."""

import importlib
import pkgutil

from vad.tasks.base import (
    Job,
    Option,
    TableSpec,
    Task,
    draws_images,
    get_task,
    register_task,
    task_class,
    task_classes,
    task_names,
)


def _import_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name not in ("base", "context"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = ["Job", "Option", "TableSpec", "Task", "draws_images", "get_task", "register_task",
           "task_class", "task_classes", "task_names"]  # fmt: skip
