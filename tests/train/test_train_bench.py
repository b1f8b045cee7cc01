"""`vad bench train` prints one row per size with every stage measured."""

from __future__ import annotations

import pytest

from vad.train.bench import format_bench, train_benchmark


@pytest.mark.slow
def test_train_benchmark_measures_every_stage() -> None:
    rows = train_benchmark("vit_micro", [16, 32], batch=8, steps=1, device="cpu")
    assert [r["size"] for r in rows] == [16, 32]
    for r in rows:
        assert r["bare_img_s"] > 0 and r["augment_img_s"] > 0 and r["full_img_s"] > 0
        assert r["full_views_s"] == 2 * r["full_img_s"]
        assert 0 < r["ratio"] < 10
    table = format_bench(rows)
    assert table.count("\n") == 3 and "vit_micro" in table
