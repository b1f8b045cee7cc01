"""The keep step shared by `vad generate` and the exports (vad/dataset/keep.py), alone."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from vad.dataset.keep import Keeper, ShardWriter, image_id, shard_ids, shard_png


def _drawing(
    colour: str = "red", shift: int = 0, size: tuple[int, int] = (160, 120)
) -> Image.Image:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).ellipse((30 + shift, 20, 110 + shift, 100), fill=colour)
    return img


def _keeper(folder: Path, dedupe: int = 4) -> Keeper:
    return Keeper(folder, 32, 4.0, 0.995, dedupe)


def test_a_blank_image_is_refused_with_its_reason_unless_judged_before(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    blank = Image.new("RGB", (50, 40), "white")
    assert keeper.judge(blank) == "near-uniform (grey std 0.00 < 4.0)"
    judged = keeper.judge(blank, blank_checked=True)
    assert not isinstance(judged, str) and judged.image.size == (32, 32)


def test_kept_images_are_named_by_their_sample_and_near_copies_found(tmp_path: Path) -> None:
    keeper = _keeper(tmp_path)
    first = keeper.judge(_drawing())
    assert not isinstance(first, str) and keeper.duplicate(first) == -1
    kept = keeper.keep(first, "draw:m:svg:c1:0", "a red/circle")
    assert (
        kept.id
        == image_id("draw:m:svg:c1:0")
        == hashlib.sha256(b"draw:m:svg:c1:0").hexdigest()[:16]
    )
    assert kept.file == f"images/a_red_circle/{kept.id}.png"
    assert (tmp_path / kept.file).read_bytes() == kept.png
    assert kept.sha256 == hashlib.sha256(kept.png).hexdigest() and keeper.ids == {kept.id}
    assert Image.open(io.BytesIO(kept.png)).size == (32, 32)
    assert not list(tmp_path.rglob(".*.tmp"))
    near = keeper.judge(_drawing(shift=1))
    other = keeper.judge(_drawing("blue"))
    assert not isinstance(near, str) and not isinstance(other, str)
    assert keeper.duplicate(near) == 0  # the position of the image it copies
    assert keeper.duplicate(other) == -1  # the same shape in another colour is no copy
    assert _keeper(tmp_path, dedupe=-1).duplicate(near) == -1  # dedupe off


def test_a_restored_record_counts_as_kept(tmp_path: Path) -> None:
    judged = _keeper(tmp_path).judge(_drawing())
    assert not isinstance(judged, str)
    record = {"id": "abc", "phash": judged.phash_hex, "thumb": judged.thumb_hex}
    keeper = _keeper(tmp_path)
    keeper.restore(record)
    assert keeper.ids == {"abc"} and keeper.duplicate(judged) == 0


def _members(path: Path) -> list[tuple[str, int, int, bytes]]:
    with tarfile.open(path) as tar:
        return [(m.name, m.mode, m.mtime, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]


def test_streamed_and_whole_shards_are_the_same_bytes(tmp_path: Path) -> None:
    images = [(f"id{i}", f"png{i}".encode(), {"id": f"id{i}", "n": i}) for i in range(5)]
    streamed = ShardWriter(tmp_path / "a", 2)
    names = [streamed.add(*image) for image in images]
    assert names == ["shard-000000.tar"] * 2 + ["shard-000001.tar"] * 2 + ["shard-000002.tar"]
    assert (tmp_path / "a" / "shard-000001.tar").is_file()  # renamed in place once full
    assert not (tmp_path / "a" / "shard-000002.tar").exists()  # not yet whole
    streamed.close()
    whole = ShardWriter(tmp_path / "b", 2)
    for number, start in enumerate(range(0, 5, 2)):
        whole.write(f"shard-{number:06d}.tar", images[start : start + 2])
    for name in names[::2]:
        a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert a == b
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(set(names))
    assert _members(tmp_path / "a" / "shard-000002.tar") == [
        ("id4.png", 0o644, 0, b"png4"),
        ("id4.json", 0o644, 0, json.dumps({"id": "id4", "n": 4}).encode()),
    ]
    assert shard_ids(tmp_path / "a" / "shard-000000.tar") == ["id0", "id1"]
    assert shard_png(tmp_path / "a" / "shard-000000.tar", "id1") == b"png1"
    assert shard_png(tmp_path / "a" / "shard-000000.tar", "id4") is None


def test_a_shard_that_fails_half_way_is_not_put_in_place(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, 10)
    writer.write("shard-000000.tar", [("a", b"1", {})])

    def images():
        yield "b", b"2", {}
        raise OSError("an image cannot be read")

    with pytest.raises(OSError):
        writer.write("shard-000000.tar", images())
    assert shard_ids(tmp_path / "shard-000000.tar") == ["a"]  # the old one stays
    (tmp_path / "damaged.tar").write_bytes(b"not a tar")
    assert shard_ids(tmp_path / "damaged.tar") == []
    assert shard_png(tmp_path / "damaged.tar", "a") is None and shard_png(None, "a") is None
