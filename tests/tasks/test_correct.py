from __future__ import annotations

from collections import Counter

import pytest
from openai_server import FakeOpenAI

from vad.rundir import read_samples
from vad.runner import Runner
from vad.spec import spec_from_dict
from vad.tasks.correct import feedback


def test_feedback_is_text_only() -> None:
    assert feedback({"status": "ok"}) == "It renders without errors."
    bad = {"status": "syntax_error", "render": {"reason": "XML parse error: line 1"}}
    assert feedback(bad) == "Rendering it failed (syntax_error): XML parse error: line 1. Fix this."


@pytest.mark.slow
def test_rounds_are_recorded_and_resume(fake_openai: FakeOpenAI) -> None:
    spec = spec_from_dict({
        "models": [{"name": "openai/fake", "api_base": fake_openai.api_base}],
        "tasks": ["correct"], "levels": ["shapes"], "limit": 2, "correct": {"rounds": 2},
    })  # fmt: skip
    runner = Runner(spec, progress=False)
    runner.run()
    path = runner.folder.samples_path
    records = read_samples(path)
    assert Counter(r["round"] for r in records) == {0: 2, 1: 2, 2: 2}
    assert all(r["status"] == "ok" and r["image"].endswith(f"_r{r['round']}.png") for r in records)
    later = [q for q in fake_openai.requests if "You wrote this SVG code" in str(q)]
    assert len(later) == 4 and "It renders without errors." in str(later[0])
    # Drop the last round of one sample: a resume redoes just that round.
    lines = path.read_text().splitlines(keepends=True)
    keep = [ln for ln in lines if not ('"round": 2' in ln and lines.index(ln) == len(lines) - 1)]
    path.write_text("".join(keep))
    stats = Runner(spec, progress=False).run()
    assert stats.written == 1
    assert Counter(r["round"] for r in read_samples(path)) == {0: 2, 1: 2, 2: 2}


@pytest.mark.slow
def test_a_failed_call_stops_the_chain_and_the_resume_goes_on_from_it() -> None:
    # Request 2 (round 1 of the first sample, one connection) fails: no later round of
    # that sample may be written, or it would start over and count as a correction.
    with FakeOpenAI(fail_first=0) as server:
        spec = spec_from_dict({
            "models": [{"name": "openai/fake", "api_base": server.api_base}],
            "tasks": ["correct"], "levels": ["shapes"], "limit": 1, "correct": {"rounds": 2},
            "max_connections": 1, "retry": {"max_retries": 0},
        })  # fmt: skip
        answer = server._answer
        calls = []

        def second_fails(path: str, body: dict) -> tuple[int, dict]:
            calls.append(path)
            if len(calls) == 2:
                return 500, {"error": {"message": "down"}}
            return answer(path, body)

        server._answer = second_fails  # type: ignore[method-assign]
        runner = Runner(spec, progress=False)
        runner.run()
        first = {r["round"]: r["status"] for r in read_samples(runner.folder.samples_path)}
        assert first == {0: "ok", 1: "model_error"}
        Runner(spec, progress=False).run()
        records = read_samples(runner.folder.samples_path)
    assert {r["round"]: r["status"] for r in records} == {0: "ok", 1: "ok", 2: "ok"}
    assert all(r["template"].startswith("correct") for r in records if r["round"] > 0)
