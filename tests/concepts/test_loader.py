from __future__ import annotations

import json
from pathlib import Path

import pytest

from vad.concepts import generate_shapes, load_concepts, read_concept_file
from vad.errors import ConceptFileError, VadError

CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_level_counts_meet_the_dataset_sizes() -> None:
    concepts = load_concepts()
    by_level: dict[str, int] = {}
    for c in concepts:
        by_level[c.level] = by_level.get(c.level, 0) + 1
    assert by_level["shapes"] >= 1000
    assert by_level["objects"] >= 300
    assert by_level["scenes"] >= 200
    assert len({c.id for c in concepts}) == len(concepts)


def test_objects_include_every_cifar10_class() -> None:
    objects = load_concepts(["objects"])
    tagged = {c.attrs.get("cifar10") for c in objects} - {None}
    assert tagged == set(CIFAR10)
    captions = {c.caption for c in objects}
    assert {"a cat", "an airplane", "a truck"} <= captions


def test_shapes_are_deterministic_and_carry_their_parts() -> None:
    first, second = generate_shapes(), generate_shapes()
    assert first == second
    ids = [cid for cid, _, _ in first]
    assert len(set(ids)) == len(ids)
    by_id = {cid: (cap, attrs) for cid, cap, attrs in first}
    cap, attrs = by_id["shape-2-blue-squares-side-by-side"]
    assert cap == "two blue squares side by side"
    assert attrs == {
        "kind": "group",
        "shape": "square",
        "color": "blue",
        "count": 2,
        "arrangement": "side-by-side",
    }
    assert by_id["shape-red-triangle-top-left"][0] == "a red triangle in the top left"


def test_limit_samples_per_level_with_a_seed() -> None:
    a = load_concepts(["shapes", "objects"], limit=5, seed=1)
    b = load_concepts(["shapes", "objects"], limit=5, seed=1)
    c = load_concepts(["shapes", "objects"], limit=5, seed=2)
    assert [x.id for x in a] == [x.id for x in b]
    assert [x.id for x in a] != [x.id for x in c]
    assert sum(x.level == "shapes" for x in a) == 5 and sum(x.level == "objects" for x in a) == 5
    mixed = load_concepts(limit={"shapes": 2, "scenes": 1})
    assert sorted(x.level for x in mixed) == ["scenes", "shapes", "shapes"]


def test_filter_by_ids_and_unknowns() -> None:
    got = load_concepts(ids=["obj-cat", "obj-dog"])
    assert [c.caption for c in got] == ["a cat", "a dog"]
    with pytest.raises(VadError, match="unknown concept id 'obj-unicorn'"):
        load_concepts(ids=["obj-unicorn"])
    with pytest.raises(VadError, match="unknown level 'animals'"):
        load_concepts(["animals"])


def test_user_csv_and_jsonl_files(tmp_path: Path) -> None:
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text('id,level,caption,source\nmy-1,objects,"a cat, sleeping",me\n')
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(
        json.dumps({"id": "my-2", "level": "custom", "caption": "a kettle", "attrs": {"k": 1}})
        + "\n\n"
    )
    got = load_concepts(["custom", "objects"], extra_files=[csv_file, jsonl])
    mine = {c.id: c for c in got if c.id.startswith("my-")}
    assert mine["my-1"].caption == "a cat, sleeping" and mine["my-1"].attrs == {"source": "me"}
    assert mine["my-2"].level == "custom" and mine["my-2"].attrs == {"k": 1}


@pytest.mark.parametrize(
    ("name", "text", "line", "field", "problem"),
    [
        ("a.csv", "id,level,caption\nok-1,shapes,a dot\nok-2,shapes,\n", 3, "caption", "missing"),
        ("b.csv", "id,level\nx,shapes\n", 1, "caption", "header"),
        ("c.csv", "id,level,caption\nbad id!,shapes,a dot\n", 2, "id", "is not valid: an id is"),
        ("d.csv", "id,level,caption\nx,Big Level,a dot\n", 2, "level", "is not valid: a level"),
        ("e.csv", "id,level,caption\nx,shapes,a dot\nx,shapes,a dot\n", 3, "id", "repeats"),
        ("f.csv", "id,level,caption\nx,shapes,a,b,c\n", 2, "caption", "quote captions"),
        (
            "g.jsonl",
            '{"id": "x", "level": "shapes", "caption": "ok"}\n{"id": "y",\n',
            2,
            "-",
            "not valid JSON",
        ),
        ("h.jsonl", '["x"]\n', 1, "-", "JSON object"),
        ("i.jsonl", '{"id": "x", "level": "shapes", "caption": 3}\n', 1, "caption", "text"),
    ],
)
def test_bad_rows_name_file_line_and_field(
    tmp_path: Path, name: str, text: str, line: int, field: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConceptFileError) as info:
        read_concept_file(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), line, field)
    assert problem in err.problem
    assert str(path) in str(err) and f"line {line}" in str(err)


def test_missing_file_and_clash_with_builtin(tmp_path: Path) -> None:
    with pytest.raises(VadError, match="does not exist"):
        read_concept_file(tmp_path / "nope.csv")
    with pytest.raises(VadError, match=r"\.csv or \.jsonl"):
        (tmp_path / "x.txt").write_text("x")
        read_concept_file(tmp_path / "x.txt")
    clash = tmp_path / "clash.csv"
    clash.write_text("id,level,caption\nobj-cat,objects,another cat\n")
    with pytest.raises(VadError, match="'obj-cat' appears in both"):
        load_concepts(extra_files=[clash])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bom.csv", "id,level,caption\r\ncafe-1,objects,a café\r\n"),
        ("bom.jsonl", '{"id": "cafe-1", "level": "objects", "caption": "a café"}\n'),
    ],
)
def test_utf8_with_a_bom_loads(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    [concept] = read_concept_file(path)
    assert (concept.id, concept.level, concept.caption) == ("cafe-1", "objects", "a café")
    assert concept.attrs == {}  # the BOM did not turn the first column into '\ufeffid'


def test_latin1_is_refused_with_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("id,level,caption\ncafe-1,objects,a café\n".encode("latin-1"))
    with pytest.raises(ConceptFileError) as info:
        read_concept_file(path)
    offset = len(b"id,level,caption\ncafe-1,objects,a caf")
    message = str(info.value)
    assert str(path) in message and "line 2" in message
    assert f"byte {offset} is 0xe9" in message and "save it as UTF-8" in message


def test_a_bad_encoding_is_one_error_line_in_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vad.cli import main

    path = tmp_path / "latin.jsonl"
    data = '{"id": "c", "level": "objects", "caption": "café"}\n'.encode("latin-1")
    path.write_bytes(data)
    assert main(["concepts", "--concepts", str(path)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith(f"error: {path}, line 1") and "\n" not in err
    assert f"byte {data.index(0xE9)} is 0xe9" in err and "save it as UTF-8" in err
    assert "Traceback" not in captured.err + captured.out
