"""The contract every registered language keeps (vad/languages): a new language gets these
tests by registering, with nothing to add here.

For each language: its description is complete (renderer module, prompt templates of
draw and correct, limits the worker knows); its reference drawings of shape concepts
render in the jail; fenced and bare replies give back the code; comments are stripped
for recognize; and its containment probes (a read of a host file, a write into a host
folder, a request to a server on the host's loopback, an endless loop, a fork bomb)
fail, leak nothing, and leave the worker able to render the next drawing. Languages
with an in-jail guard run their probes with the guard off as well: the jail alone holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from vad._paths import project_dir
from vad.concepts import load_concepts
from vad.errors import SpecError
from vad.extract import extract_chat, extract_completion
from vad.languages import PROBES, all_languages, canonical, get_language, reference_program
from vad.prompts import load_prompts
from vad.render import Limits, RenderPool, RenderStatus
from vad.render.pool import renderer_of
from vad.render.probes import LoopbackCounter, run_probe
from vad.spec import RunSpec, load_spec

LANGS = sorted(all_languages())
SHAPES = load_concepts(["shapes"], limit=5, seed=3)
LIMITS = Limits(timeout_s=5.0, cpu_s=4, memory_bytes=1 << 30)
PROBE_CASES = [(lang, probe) for lang in LANGS for probe in sorted(all_languages()[lang].probes)]
UNGUARDED = [(lang, probe) for lang, probe in PROBE_CASES if all_languages()[lang].guard]


def test_the_registry_names_every_language_and_refuses_unknown_ones() -> None:
    assert {"svg", "matplotlib", "tikz"} <= set(LANGS)
    assert canonical("mpl") == "matplotlib" and get_language("latex").name == "tikz"
    with pytest.raises(SpecError, match="no renderer for language 'postscript': choose from"):
        get_language("postscript")


def test_a_spec_takes_aliases_and_names_the_choices(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\nlanguages: [mpl, svg]\n")
    assert load_spec(spec).languages == ("matplotlib", "svg")
    spec.write_text("name: s\nlanguages: [svg, postscript]\n")
    with pytest.raises(SpecError, match=r"'languages' = 'postscript': must be among .*tikz"):
        load_spec(spec)
    spec.write_text("name: s\nlanguages: [mpl, matplotlib]\n")
    with pytest.raises(SpecError, match="appears twice"):
        load_spec(spec)
    assert RunSpec().languages == ("svg",)


@pytest.mark.parametrize("lang", LANGS)
def test_the_description_is_complete(lang: str) -> None:
    language = get_language(lang)
    renderer = renderer_of(language)  # vad's own by module name, a plugin's by its path
    assert (
        Path(renderer).is_file()
        if language.renderer
        else (project_dir("renderers") / f"{renderer}.py").is_file()
    )
    assert language.display and language.suffix.startswith(".") and language.fences
    assert language.markers and language.comment[0] and language.bench_target
    assert set(language.probes) <= set(PROBES)
    assert set(language.limits) <= {f.name for f in dataclasses.fields(Limits)}
    for task in ("draw", "correct"):
        prompts = load_prompts(task)
        assert lang in prompts.variants, f"prompts/{task}.yaml has no templates for {lang}"
        styles = prompts.styles(lang)
        assert "chat" in styles, f"prompts/{task}.yaml: {lang} has no chat template"
        for style in styles:
            prompt = prompts.render(lang, style, {"caption": "a red circle", "width": 224,
                                                  "height": 224, "code": "x", "feedback": "y",
                                                  "language": language.display})  # fmt: skip
            assert prompt.payload()
    assert "completion" in load_prompts("draw").styles(lang), f"no completion template for {lang}"


@pytest.mark.parametrize("lang", LANGS)
def test_fenced_and_bare_replies_give_back_the_code(lang: str) -> None:
    language = get_language(lang)
    code = reference_program(SHAPES[0], lang).strip()
    for fence in (language.fences[0], ""):  # an info string, and none
        found = extract_chat(f"Here you go:\n```{fence}\n{code}\n```\nEnjoy!", lang)
        assert found.code is not None and found.code.strip() == code, (fence, found)
        assert found.method == "fenced"
    truncated = extract_chat(f"```{language.fences[0]}\n{code}", lang)
    assert truncated.method == "fenced-unclosed" and truncated.code
    bare = extract_chat(f"Sure! Here is the drawing.\n\n{code}\n", lang)
    assert bare.method == "bare" and bare.code is not None and code in bare.code.strip()
    assert extract_chat("I cannot draw that, sorry.", lang).code is None


def test_a_completion_is_rebuilt_from_the_prompt_code_start() -> None:
    for lang in LANGS:
        prompts = load_prompts("draw")
        if "completion" not in prompts.styles(lang):
            continue
        prompt = prompts.render(lang, "completion", {"caption": "x", "width": 224, "height": 224})
        assert prompt.code_start, lang
        found = extract_completion("", lang, prompt.code_start, prompt.code_end, prompt.stop,
                                   truncated=False)  # fmt: skip
        assert found.method in ("completion", "none"), (lang, found)


@pytest.mark.parametrize("lang", LANGS)
def test_comments_are_stripped_for_recognize(lang: str) -> None:
    language = get_language(lang)
    code = reference_program(SHAPES[1], lang)
    opening, closing = language.comment
    lines = code.splitlines()
    commented = "\n".join([lines[0], f"{opening} a drawing of a giraffe {closing}", *lines[1:]])
    stripped = language.strip_hints(commented)
    assert "giraffe" not in stripped
    assert language.strip_hints(code).split() == code.split()  # nothing else is touched


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    with RenderPool(size=1, limits=LIMITS) as p:
        yield p


@pytest.fixture(scope="module")
def unguarded_pool() -> Iterator[RenderPool]:
    limits = Limits(timeout_s=5.0, cpu_s=4, memory_bytes=1 << 30, audit_hook=False)
    with RenderPool(size=1, limits=limits) as p:
        yield p


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.slow
def test_reference_drawings_render_in_the_jail(pool: RenderPool, tmp_path: Path, lang: str) -> None:
    for concept in SHAPES:
        code = reference_program(concept, lang)
        result = pool.render(lang, code, 96, 96, tmp_path / f"{concept.id}.png")
        assert result.status is RenderStatus.OK, (concept.id, result)
        comment = get_language(lang).comment
        hinted = code.replace("\n", f"\n{comment[0]} {concept.id} {comment[1]}\n", 1)
        stripped = get_language(lang).strip_hints(hinted)
        again = pool.render(lang, stripped, 96, 96, tmp_path / f"{concept.id}-s.png")
        assert again.status is RenderStatus.OK, (concept.id, again)


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackCounter]:
    with LoopbackCounter() as server:
        yield server


@pytest.mark.parametrize(("lang", "probe"), PROBE_CASES)
@pytest.mark.slow
def test_containment_probes(
    pool: RenderPool, loopback: LoopbackCounter, tmp_path: Path, lang: str, probe: str
) -> None:
    result = run_probe(pool, lang, probe, tmp_path, loopback)
    assert result.contained, result


@pytest.mark.parametrize(("lang", "probe"), UNGUARDED)
@pytest.mark.slow
def test_containment_probes_without_the_guard(
    unguarded_pool: RenderPool, loopback: LoopbackCounter, tmp_path: Path, lang: str, probe: str
) -> None:
    result = run_probe(unguarded_pool, lang, probe, tmp_path, loopback)
    assert result.contained, result
    assert result.status is not RenderStatus.BLOCKED  # the guard was off: the jail held


@pytest.mark.slow
def test_the_probes_have_teeth(loopback: LoopbackCounter, tmp_path: Path) -> None:
    """Unjailed and unguarded (trusted code only), the harmless probes get through, and
    run_probe names each breach: so a jail that let them through would be caught."""
    limits = Limits(timeout_s=5.0, cpu_s=4, audit_hook=False)
    with RenderPool(size=1, sandbox=False, limits=limits) as raw:
        found = {probe: run_probe(raw, "matplotlib", probe, tmp_path / probe, loopback)
                 for probe in ("read_outside", "write_outside", "network")}  # fmt: skip
    assert found["read_outside"].breaches == ("it rendered",)
    assert found["write_outside"].breaches == ("it rendered", "it wrote into the host folder")
    assert found["network"].breaches == ("it rendered", "it reached the host's loopback server")


def test_every_language_has_probes_for_what_it_can_do() -> None:
    for lang, language in all_languages().items():
        assert "read_outside" in language.probes, lang
        if language.guard:  # a general-purpose language: every probe applies
            assert set(language.probes) == set(PROBES), lang
