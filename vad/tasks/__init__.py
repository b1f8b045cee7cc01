"""Tasks register by name; the runner looks them up here."""

from vad.tasks import correct as _correct  # noqa: F401  (registers "correct")
from vad.tasks import draw as _draw  # noqa: F401  (registers "draw")
from vad.tasks import recognize as _recognize  # noqa: F401  (registers "recognize")
from vad.tasks.base import Job, Task, draws_images, get_task, register_task, task_names

__all__ = ["Job", "Task", "draws_images", "get_task", "register_task", "task_names"]
