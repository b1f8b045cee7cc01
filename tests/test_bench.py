from __future__ import annotations

import os

import pytest

from vad.bench import format_table, render_benchmark


@pytest.mark.slow
def test_render_benchmark_measures_every_mode() -> None:
    before = os.sched_getaffinity(0)
    rows = render_benchmark(n=4, languages=("svg", "matplotlib"), repeat=2)
    assert [r["language"] for r in rows] == ["svg", "matplotlib"]
    for row in rows:
        assert row["programs"] == 4 and row["ok"] == 4
        assert row["raw_per_s"] > 0 and row["warm_per_s"] > 0 and row["jailed_per_s"] > 0
        assert row["jailed_vs_raw"] == pytest.approx(row["raw_per_s"] / row["jailed_per_s"])
        # the library itself, in-process: the column the jail is held to
        assert row["inproc_per_s"] > 0
        assert row["jailed_vs_inproc"] == pytest.approx(row["jailed_per_s"] / row["inproc_per_s"])
        assert f">= 0.5x in-process img/s jailed: {row['jailed_vs_inproc']:.2f}x" in row["target"]
        # a fresh process per program, unjailed: the ceiling of the jailed column
        assert row["raw_vs_inproc"] == pytest.approx(row["raw_per_s"] / row["inproc_per_s"])
        assert row["cpu"] == min(os.sched_getaffinity(0))
    table = format_table(rows)
    assert table.count("\n| ") == 2 and "in-process img/s" in table
    assert f"everything on CPU {rows[0]['cpu']}" in table
    assert os.sched_getaffinity(0) == before  # the pin is undone


@pytest.mark.slow
def test_render_benchmark_measures_tikz_with_and_without_the_format() -> None:
    rows = render_benchmark(n=2, languages=("tikz",), repeat=1)
    assert [r.get("variant") for r in rows] == ["no format", "format"]
    assert all(r["ok"] == 2 and r["jailed_per_s"] > 0 for r in rows)
    speedup = rows[1]["format_speedup"]
    assert speedup == pytest.approx(rows[1]["jailed_per_s"] / rows[0]["jailed_per_s"])
    table = format_table(rows)
    assert "| tikz, no format |" in table and "| tikz, format |" in table
    assert f"{speedup:.2f}x" in table


@pytest.mark.slow
def test_render_benchmark_measures_the_sketch_languages() -> None:
    rows = render_benchmark(n=2, languages=("p5", "processing"), repeat=1)
    assert [r["language"] for r in rows] == ["p5", "processing"]
    assert all(r["ok"] == 2 and r["raw_per_s"] > 0 and r["jailed_per_s"] > 0 for r in rows)
    assert all(r["inproc_per_s"] is None for r in rows)  # a browser per job: no in-process pass
    assert format_table(rows).count("none (measured)") == 2


@pytest.mark.slow
def test_generate_benchmark_compares_slot_counts_on_the_same_prompts() -> None:
    from vad.bench_generate import format_generate, generate_benchmark

    rows = generate_benchmark("local/gemma-3-270m", [1, 2], n=4, max_tokens=32, samples=1)
    assert [r["slots"] for r in rows] == [1, 2]
    for row in rows:
        assert row["drawings"] == 4 and 0 <= row["render_ok"] <= 1
        assert row["completion_tokens"] > 0 and row["tokens_per_s"] > 0
        assert row["p95_latency_s"] >= row["p50_latency_s"] > 0
        assert row["drawings_per_hour"] == pytest.approx(4 / row["wall_s"] * 3600, rel=0.05)
    assert rows[0]["speedup"] == 1.0
    table = format_generate(rows)
    assert table.count("\n| ") == 2 and "drawings/hour" in table
