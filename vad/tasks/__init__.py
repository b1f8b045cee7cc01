"""Tasks register by name; the runner, the spec and the leaderboard look them up here.

Installed packages add theirs through the entry point group ``vad.tasks``
(vad/plugins.py), loaded on the first look-up."""

from vad.tasks import correct as _correct  # noqa: F401  (registers "correct")
from vad.tasks import draw as _draw  # noqa: F401  (registers "draw")
from vad.tasks import recognize as _recognize  # noqa: F401  (registers "recognize")
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

__all__ = ["Job", "Option", "TableSpec", "Task", "draws_images", "get_task", "register_task",
           "task_class", "task_classes", "task_names"]  # fmt: skip
