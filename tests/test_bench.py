from __future__ import annotations

import pytest

from vad.bench import format_table, render_benchmark


@pytest.mark.slow
def test_render_benchmark_measures_every_mode() -> None:
    rows = render_benchmark(n=4, languages=("svg", "matplotlib"), repeat=2)
    assert [r["language"] for r in rows] == ["svg", "matplotlib"]
    for row in rows:
        assert row["programs"] == 4 and row["ok"] == 4
        assert row["raw_per_s"] > 0 and row["warm_per_s"] > 0 and row["jailed_per_s"] > 0
        assert row["jailed_vs_raw"] == pytest.approx(row["raw_per_s"] / row["jailed_per_s"])
    table = format_table(rows)
    assert table.count("\n| ") == 2 and "jailed <= 1.5x raw time" in table
