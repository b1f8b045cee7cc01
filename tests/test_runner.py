from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_server import FakeOpenAI
from PIL import Image

from vad.errors import ModelConfigError, SpecError, VadError
from vad.rundir import read_samples
from vad.runner import Runner
from vad.spec import spec_from_dict


def _spec(server: FakeOpenAI, **over):
    data = {
        "name": "t",
        "models": [{"name": "openai/fake", "api_base": server.api_base}],
        "levels": ["shapes", "objects"],
        "limit": {"shapes": 3, "objects": 2},
        "samples": 2,
        "retry": {"base_delay": 0.01, "max_retries": 2},
        **over,
    }
    return spec_from_dict(data)


@pytest.mark.slow
def test_a_run_writes_samples_images_and_a_manifest(fake_openai: FakeOpenAI) -> None:
    runner = Runner(_spec(fake_openai), progress=False)
    stats = runner.run()
    assert stats.model_calls == 10 and stats.cache_hits == 0 and stats.written == 10
    records = read_samples(runner.folder.samples_path)
    assert len({r["sample_id"] for r in records}) == len(records) == 10
    for r in records:
        assert r["status"] == "ok", r
        assert r["extraction"] == {"method": "fenced", "notes": ["info string 'svg'"]}
        assert r["prompt_version"] == "1" and r["template"] == "draw/svg/chat"
        assert r["prompt_tokens"] == 11 and r["completion_tokens"] == 22
        with Image.open(runner.folder.path / r["image"]) as img:
            assert img.size == (224, 224)
    manifest = json.loads(runner.folder.manifest_path.read_text())
    assert manifest["status"] == "finished"
    assert manifest["totals"]["samples"] == 10 and manifest["totals"]["by_status"] == {"ok": 10}
    assert manifest["spec"]["samples"] == 2 and manifest["prompt_versions"] == {"draw": "1"}
    assert manifest["renderer_versions"] == {"svg": "svg-3"}
    assert manifest["sandbox"]["jailed"] is True and "pids" in manifest["sandbox"]["cgroups"]
    assert manifest["versions"]["litellm"] and "commit" in manifest["git"]
    # Colour words of the caption reach the drawing: the fake server draws them.
    red = [r for r in records if " red " in f" {r['caption']} "]
    assert all('fill="red"' in r["code"] for r in red)


@pytest.mark.slow
def test_rerun_makes_zero_model_calls(fake_openai: FakeOpenAI) -> None:
    Runner(_spec(fake_openai), progress=False).run()
    calls = len(fake_openai.requests)
    again = Runner(_spec(fake_openai), progress=False).run()
    assert (again.model_calls, again.skipped, again.written) == (0, 10, 0)
    # A fresh run folder of the same spec is served from the response store.
    fresh = Runner(_spec(fake_openai), run_name="copy", progress=False)
    stats = fresh.run()
    assert (stats.model_calls, stats.cache_hits, stats.written) == (0, 10, 10)
    assert len(fake_openai.requests) == calls
    assert all(r["cached"] for r in read_samples(fresh.folder.samples_path))
    # An output-affecting change misses the cache.
    hotter = Runner(_spec(fake_openai, temperature=0.1), progress=False).run()
    assert hotter.model_calls == 10


@pytest.mark.slow
def test_failed_calls_are_recorded_then_retried_on_resume(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_first, fake_openai.fail_status = 4, 400  # 5 in a row stop the run
    runner = Runner(_spec(fake_openai), progress=False)
    runner.run()
    first = read_samples(runner.folder.samples_path)
    failed = [r for r in first if r["status"] == "model_error"]
    assert len(first) == 10 and len(failed) == 4
    assert "BadRequestError" in failed[0]["error"]
    fake_openai.fail_first = 0
    stats = Runner(_spec(fake_openai), progress=False).run()
    assert stats.model_calls == 4
    records = read_samples(runner.folder.samples_path)
    assert len(records) == 10 and {r["status"] for r in records} == {"ok"}


@pytest.mark.slow
def test_partial_last_line_is_dropped_and_redone(fake_openai: FakeOpenAI) -> None:
    runner = Runner(_spec(fake_openai), progress=False)
    runner.run()
    path = runner.folder.samples_path
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:7]) + lines[7][:40])  # as if killed mid-write
    stats = Runner(_spec(fake_openai), progress=False).run()
    assert stats.written == 3 and stats.model_calls == 0 and stats.cache_hits == 3
    records = read_samples(path)
    assert sorted(r["sample_id"] for r in records) == sorted(
        json.loads(line)["sample_id"] for line in lines
    )


def test_bad_specs_fail_before_any_request(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY"):
        Runner(spec_from_dict({"models": ["openai/gpt-4o"], "limit": 1}))
    with pytest.raises(SpecError, match="'languages' = 'postscript': must be among"):
        Runner(_spec(fake_openai, languages=["postscript"]))
    with pytest.raises(VadError, match="unknown concept id 'no-such-concept'"):
        Runner(_spec(fake_openai, ids=["no-such-concept"]))
    with pytest.raises(SpecError, match="takes completion prompts"):
        Runner(spec_from_dict({"models": [{"name": "gemma", "style": "chat"}]}))
    assert fake_openai.requests == []


@pytest.mark.slow
def test_a_run_name_cannot_hold_two_specs(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    Runner(_spec(fake_openai), run_name="mine", progress=False).run()
    with pytest.raises(SpecError, match="different spec"):
        Runner(_spec(fake_openai, samples=1), run_name="mine", progress=False).run()


@pytest.mark.slow
def test_runs_and_show_say_what_an_unfinished_run_planned(
    fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    from vad.commands import list_runs_cmd, print_summary

    runner = Runner(_spec(fake_openai, limit=1, samples=1, levels=["shapes"]), progress=False)
    runner.run()
    manifest = json.loads(runner.folder.manifest_path.read_text())
    assert (manifest["planned"], manifest["finished"]) == (1, True)
    list_runs_cmd(None)
    print_summary(runner.folder)
    out = capsys.readouterr().out
    assert " of 1" not in out and "did not get to its end" not in out
    # as a run stopped after 1 of its 3 samples leaves it
    manifest.update(planned=3, finished=False, status="interrupted")
    runner.folder.manifest_path.write_text(json.dumps(manifest))
    list_runs_cmd(None)
    print_summary(runner.folder)
    out = capsys.readouterr().out
    assert "1/1 of 3" in out and "samples:  1 of 3 planned" in out
    assert "did not get to its end: run the same command again" in out
