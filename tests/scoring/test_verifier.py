"""The shapes verifier: parts read from pixels, each attribute checked, on images drawn
here (anti-aliased, with outlines, panels and specks), on hostile images, on reference
drawings and mutants rendered in the jail, and through a real run and leaderboard."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vad.bench_verifier import run_bench
from vad.concepts.mutants import KINDS, mutants
from vad.concepts.shapes import generate_shapes
from vad.scoring.verifier import applies, find_parts, verify

SIZE = 224
BGR = {"red": (28, 26, 228), "blue": (184, 126, 55), "green": (74, 175, 77),
       "yellow": (0, 215, 255), "black": (0, 0, 0), "pink": (191, 129, 247)}  # fmt: skip


def canvas(color: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    img[:] = color
    return img


def circle(img: np.ndarray, x: float, y: float, r: float, color: str, width: int = -1) -> None:
    """Anti-aliased, as renderers draw (sub-pixel centre)."""
    s = 16
    cv2.circle(img, (round(x * SIZE * s), round(y * SIZE * s)), round(r * SIZE * s), BGR[color],
               width, cv2.LINE_AA, 4)  # fmt: skip


def poly(img: np.ndarray, pts: list[tuple[float, float]], color: str) -> None:
    arr = np.array([[round(x * SIZE * 16), round(y * SIZE * 16)] for x, y in pts], np.int32)
    cv2.fillPoly(img, [arr], BGR[color], cv2.LINE_AA, 4)


def rgb(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img[:, :, ::-1])


RED_CENTRE = {"kind": "single", "shape": "circle", "color": "red", "position": "center"}


def test_a_drawn_circle_verifies_and_each_change_fails_only_its_attribute() -> None:
    img = canvas()
    circle(img, 0.5, 0.5, 0.2, "red")
    verdict = verify(rgb(img), RED_CENTRE)
    assert verdict.verified and verdict.reason == ""
    assert verdict.checks == {"color": True, "count": True, "shape": True, "position": True}

    blue = canvas()
    circle(blue, 0.5, 0.5, 0.2, "blue")
    v = verify(rgb(blue), RED_CENTRE)
    assert v.failed == ["color"] and "no red part" in v.reason and "blue" in v.reason

    two = canvas()
    circle(two, 0.5, 0.5, 0.2, "red")
    circle(two, 0.15, 0.15, 0.1, "red")
    v = verify(rgb(two), RED_CENTRE)
    assert v.failed == ["count"] and v.reason == "2 red parts, expected 1"

    square = canvas()
    poly(square, [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)], "red")
    v = verify(rgb(square), RED_CENTRE)
    assert v.failed == ["shape"] and "found a square" in v.reason

    moved = canvas()
    circle(moved, 0.75, 0.25, 0.15, "red")
    v = verify(rgb(moved), RED_CENTRE)
    assert v.failed == ["position"] and "top-right" in v.reason


def test_outlines_panels_specks_and_other_colours_are_seen_past() -> None:
    outlined = canvas()  # a red circle with a black stroke: the stroke is no part
    circle(outlined, 0.5, 0.5, 0.2, "red")
    circle(outlined, 0.5, 0.5, 0.2, "black", width=4)
    assert verify(rgb(outlined), RED_CENTRE).verified
    ring = canvas()  # drawn as an outline only: a circle still
    circle(ring, 0.5, 0.5, 0.2, "red", width=6)
    (part,) = find_parts(rgb(ring))
    assert part.outline and part.shape == "circle" and part.color == "red"
    assert verify(rgb(ring), RED_CENTRE).verified
    panel = canvas()  # a coloured panel behind the drawing, a white margin around it
    panel[10:-10, 10:-10] = (243, 226, 207)
    circle(panel, 0.5, 0.5, 0.2, "red")
    assert verify(rgb(panel), RED_CENTRE).verified
    specks = canvas((230, 240, 250))  # a coloured background, specks of noise
    circle(specks, 0.5, 0.5, 0.2, "red")
    specks[5:7, 100:102] = 0
    specks[200:202, 30:32] = (0, 0, 255)
    assert verify(rgb(specks), RED_CENTRE).verified
    line = canvas()  # a thin line of another colour is decoration
    circle(line, 0.5, 0.5, 0.2, "red")
    cv2.line(line, (10, 210), (214, 210), BGR["green"], 2, cv2.LINE_AA)
    assert verify(rgb(line), RED_CENTRE).verified


def test_another_object_beside_the_concept_makes_its_count_wrong() -> None:
    extra = canvas()
    circle(extra, 0.5, 0.5, 0.2, "red")
    poly(extra, [(0.0, 0.85), (1.0, 0.85), (1.0, 1.0), (0.0, 1.0)], "green")
    v = verify(rgb(extra), RED_CENTRE)
    assert v.failed == ["count"] and "1 other part (a green " in v.reason
    rainbow = canvas()  # one image that would verify "a small X circle" for every colour
    for i, colour in enumerate(BGR):
        circle(rainbow, 0.1 + 0.16 * i, 0.5, 0.06, colour)
    small = {"kind": "single", "shape": "circle", "color": "red", "size": "small"}
    assert verify(rgb(rainbow), small).failed == ["count"]


def test_the_cost_of_a_cluttered_image_is_bounded() -> None:
    """Thousands of parts (a checkerboard of colours) or noise: one verdict, at once."""
    board = np.zeros((512, 512, 3), np.uint8)
    colours = list(BGR.values())
    for y in range(0, 512, 12):
        for x in range(0, 512, 12):
            board[y : y + 11, x : x + 11] = colours[(x // 12 + y // 12) % len(colours)]
    v = verify(np.ascontiguousarray(board[:, :, ::-1]), RED_CENTRE)
    assert not v.verified and v.reason.startswith("more than 64 parts")


def test_groups_and_pairs() -> None:
    row = {"kind": "group", "shape": "circle", "color": "blue", "count": 3, "arrangement": "row"}
    img = canvas()
    for x in (0.2, 0.5, 0.8):
        circle(img, x, 0.5, 0.1, "blue")
    assert verify(rgb(img), row).verified
    stacked = canvas()
    for y in (0.2, 0.5, 0.8):
        circle(stacked, 0.5, y, 0.1, "blue")
    assert verify(rgb(stacked), row).failed == ["arrangement"]
    pair = {"kind": "pair", "shape": "circle", "color": "red", "relation": "above",
            "other_shape": "triangle", "other_color": "green"}  # fmt: skip
    img = canvas()
    circle(img, 0.5, 0.25, 0.15, "red")
    poly(img, [(0.5, 0.6), (0.65, 0.88), (0.35, 0.88)], "green")
    assert verify(rgb(img), pair).verified
    swapped = canvas()
    circle(swapped, 0.5, 0.75, 0.15, "red")
    poly(swapped, [(0.5, 0.1), (0.65, 0.38), (0.35, 0.38)], "green")
    v = verify(rgb(swapped), pair)
    assert v.failed == ["relation"] and "found below" in v.reason


def test_hostile_and_odd_images_give_verdicts_not_errors(tmp_path: Path) -> None:
    blank = canvas()
    v = verify(rgb(blank), RED_CENTRE)
    assert not v.verified and v.reason == "nothing is drawn"
    cases = {
        "tiny.png": Image.new("RGB", (1, 1), "red"),
        "grey.png": Image.new("L", (64, 64), 128),
        "clear.png": Image.new("RGBA", (300, 200), (255, 0, 0, 0)),  # transparent: white
        "huge.png": Image.new("RGB", (4000, 3000), "white"),
        "palette.png": Image.new("P", (50, 50), 3),
        "noise.png": Image.fromarray(np.random.default_rng(0).integers(0, 255, (224, 224, 3),
                                                                        dtype=np.uint8)),
    }  # fmt: skip
    for name, image in cases.items():
        image.save(tmp_path / name)
        v = verify(tmp_path / name, RED_CENTRE)
        assert isinstance(v.verified, bool) and set(v.checks) == set(RED_CENTRE) - {"kind"} | {
            "count"
        }, name
        assert not v.verified, name


def test_which_attrs_it_checks() -> None:
    assert all(applies(attrs) for _, _, attrs in generate_shapes())
    assert not applies({"kind": "single", "shape": "dodecagon", "color": "red", "size": "small"})
    assert not applies({"kind": "single", "shape": "circle", "color": "teal", "size": "small"})
    assert not applies({"kind": "group", "shape": "circle", "color": "red", "count": "3",
                        "arrangement": "row"})  # fmt: skip
    assert not applies(None) and not applies({}) and not applies({"shape": "circle"})


def test_mutants_change_exactly_one_attribute_or_none() -> None:
    from vad.concepts import load_concepts

    for concept in load_concepts(["shapes"])[::97]:
        made = mutants(concept, seed=1)
        assert made[0].kind == "reference" and made[0].changed is None
        assert {m.kind for m in made} <= set(KINDS)
        for m in made:
            assert m.changed in (None, "count" if m.kind == "extra" else m.kind) and m.prims
        assert made == mutants(concept, seed=1)  # deterministic


def test_references_and_mutants_in_svg_verify_as_they_should() -> None:
    report = run_bench(per_kind=3, languages=["svg"], seed=3, workers=2)
    for kind in KINDS:
        right, n = report.rate(kind)
        if n:
            assert right / n >= 0.95, (kind, right, n)


@pytest.mark.slow
def test_references_and_mutants_in_every_language_verify_as_they_should() -> None:
    report = run_bench(per_kind=1, seed=5, workers=2)  # the README's table: --per-kind 10
    right, n = report.rate("reference")
    assert n == 4 * 6 and right / n >= 0.98
    for kind in KINDS:
        right, n = report.rate(kind)
        assert n and right / n >= 0.9, (kind, right, n)


@pytest.mark.slow
def test_a_run_records_verdicts_and_the_leaderboard_shows_the_verified_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loopback model draws a centred circle in the caption's first colour: right for
    the red circle in the centre, a wrong shape and place for the blue square."""
    from openai_server import FakeOpenAI

    from vad.leaderboard.build import build_leaderboard
    from vad.rundir import read_samples
    from vad.runner import Runner
    from vad.spec import spec_from_dict

    monkeypatch.setenv("VAD_RUNS_DIR", str(tmp_path / "runs"))
    with FakeOpenAI() as server:
        spec = spec_from_dict({
            "name": "verified", "models": [{"name": "openai/fake", "api_base": server.api_base}],
            "levels": ["shapes"], "ids": ["shape-red-circle-center", "shape-blue-square-top-left"],
            "tasks": ["draw"], "languages": ["svg"], "samples": 1,
        })  # fmt: skip
        runner = Runner(spec, progress=False)
        runner.run()
    by_id = {r["concept_id"]: r for r in read_samples(runner.folder.samples_path)}
    good = by_id["shape-red-circle-center"]["scores"]["verifier"]
    bad = by_id["shape-blue-square-top-left"]["scores"]["verifier"]
    assert good["verified"] is True and good["checks"]["position"] is True
    assert bad["verified"] is False and bad["checks"] == {
        "color": True, "count": True, "shape": False, "position": False}  # fmt: skip
    assert bad["reason"] == "expected a square, found a circle"
    site = build_leaderboard(["verified"], tmp_path / "site")
    md = (site / "leaderboard.md").read_text()
    header = next(line for line in md.splitlines() if "verified %" in line)
    row = next(line for line in md.splitlines() if "openai/fake" in line and "svg" in line)
    cells = dict(zip(header.split("|"), row.split("|"), strict=False))
    assert cells[" verified % "].strip().startswith("50.0")
    assert cells[" shape % "].strip().startswith("50.0")
    assert cells[" color % "].strip().startswith("100.0")


def test_keep_if_conditions() -> None:
    from vad.scoring.samples import keep, parse_condition

    assert str(parse_condition("verified")) == "verified>=1"
    assert str(parse_condition(" count >= 0.5 ")) == "count>=0.5"
    assert str(parse_condition("verified<1")) == "verified<1"  # keeps the wrong ones
    for bad, why in (("verified>=2", "can never pass"), ("verified>=0", "keeps everything"),
                     ("beauty>3", "unknown score"), ("verified>=abc", "not a number"),
                     ("verified>=inf", "finite")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            parse_condition(bad)
    scores = {"verifier": {"version": "x", "verified": False, "reason": "expected a star",
                           "checks": {"color": True, "shape": False}}}  # fmt: skip
    conds = [parse_condition("color")]
    assert keep(conds, scores) is None
    assert keep([parse_condition("verified")], scores) == "verified>=1 failed (expected a star)"
    assert keep([parse_condition("position")], scores).startswith("position>=1: no such score")
    assert keep(conds, None).startswith("color>=1: no such score")


def test_keep_if_a_judges_fidelity() -> None:
    from vad.scoring.samples import keep, needs_judge, needs_verifier, parse_condition

    for good in ("fidelity>=10", "fidelity==7", "fidelity>7.5", "fidelity<=3", "fidelity>=7"):
        parse_condition(good)
    for bad, why in (("fidelity>10", "can never pass"), ("fidelity==7.5", "can never pass"),
                     ("fidelity<1", "can never pass"), ("fidelity", "keeps everything"),
                     ("fidelity>=1", "keeps everything"), ("fidelity=>7", "write >=, not =>"),
                     ("verified=<0", "write <=, not =<")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            parse_condition(bad)
    seven = [parse_condition("fidelity>=7")]
    assert needs_judge(seven) and not needs_verifier(seven)
    rated = {"fidelity": {"judge": "j", "score": 8, "reason": "fine", "parsed": True}}
    assert keep(seven, rated) is None
    low = {"fidelity": {"judge": "j", "score": 3, "reason": "a blue circle", "parsed": True}}
    assert keep(seven, low) == "fidelity>=7 failed (a blue circle)"
    mute = {"fidelity": {"judge": "j", "score": None, "reason": None, "parsed": False}}
    assert keep(seven, mute) == "fidelity>=7: the judge's reply gave no score"
    both = [*seven, parse_condition("verified")]
    assert keep(both, rated).startswith("verified>=1: no such score")  # (no verdict)
