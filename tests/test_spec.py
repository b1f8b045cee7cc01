from __future__ import annotations

from pathlib import Path

import pytest

from vad.errors import SpecError
from vad.spec import ModelEntry, load_spec, spec_from_dict

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_specs_load() -> None:
    for path in (ROOT / "runs").glob("*.yaml"):
        spec = load_spec(path)
        assert spec.name == path.stem and spec.models


def test_hash_ignores_what_does_not_change_outputs() -> None:
    base = spec_from_dict({"models": ["openai/x"], "limit": 3})
    same = spec_from_dict(
        {
            "models": ["openai/x"],
            "limit": 3,
            "max_connections": 9,
            "retry": {"timeout": 5},
            "name": "other",
        }
    )
    assert base.spec_hash() == same.spec_hash()
    assert base.spec_hash() != spec_from_dict({"models": ["openai/x"], "limit": 4}).spec_hash()
    assert base.models == (ModelEntry("openai/x"),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"modles": ["x"]}, "unknown field 'modles'"),
        ({"samples": 0}, "'samples' must be an integer >= 1"),
        ({"temperature": 3}, "'temperature' must be a number between 0 and 2"),
        ({"models": []}, "needs at least one model"),
        ({"models": [{"name": "a/b", "style": "poem"}]}, "style of a/b"),
        ({"retry": {"forever": True}}, "'retry' keys"),
        ({"task": "paint"}, "'tasks' must be among"),
    ],
)
def test_invalid_specs_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec_from_dict(data, "t.yaml")


def test_yaml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
