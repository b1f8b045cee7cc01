"""The contract every registered task keeps: its options (defaults that pass its own
checks, errors in the spec's style), its table (scorers that exist, keys), its order."""

from __future__ import annotations

import pytest

from vad.errors import SpecError
from vad.scoring.base import get_scorer, scorer_names
from vad.spec import FieldCheck, RunSpec, spec_from_dict
from vad.tasks import task_class, task_names


def test_tasks_come_in_their_order() -> None:
    assert task_names()[:3] == ["draw", "recognize", "correct"]
    assert task_class("nope") is None


@pytest.mark.parametrize("name", task_names())
def test_task_contract(name: str) -> None:
    task = task_class(name)
    assert task is not None and task.name == name and isinstance(task.draws_images, bool)
    check = FieldCheck("t.yaml")
    assert task.check_options(check, None) == {}
    given = {k: o.default for k, o in task.options.items() if o.default is not None}
    assert task.check_options(check, given) == given  # the defaults pass the task's checks
    assert set(task.settings(RunSpec())) == set(task.options)
    with pytest.raises(SpecError, match=rf"^t.yaml: field '{name}.colour' = 1: unknown key"):
        task.check_options(check, {"colour": 1})
    if task.options:
        spec = spec_from_dict({name: given})
        assert task.settings(spec) == {k: o.default for k, o in task.options.items()}
    if task.table is not None:
        assert task.table.title and "model" in task.table.keys
        assert "prompt version" in task.table.keys
        for column, scorer in task.table.columns:
            assert scorer in scorer_names() and column in get_scorer(scorer).columns
    if task.round_prompts is not None:
        assert task.draws_images and len(task.round_prompts) == 2
