"""The embedded engine build: keyed on its flags, portable, and every variant answers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from vad.errors import ModelConfigError
from vad.models import ModelClient, SamplingParams, resolve_model
from vad.models import engine as engine_mod
from vad.models.client import RateLimiter
from vad.models.local import serve
from vad.prompts import load_prompts

needs_engine = pytest.mark.skipif(
    engine_mod.find_engine() is None, reason="the engine is not built (vad engine build)"
)


def test_the_build_key_changes_with_every_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    base = engine_mod.build_key()
    assert engine_mod.build_key() == base  # stable
    monkeypatch.setattr(engine_mod, "COMMON_FLAGS", (*engine_mod.COMMON_FLAGS, "-DGGML_X=ON"))
    assert engine_mod.build_key() != base
    monkeypatch.undo()
    variants = {**engine_mod.VARIANTS, "haswell": ("AVX2",)}
    monkeypatch.setattr(engine_mod, "VARIANTS", variants)
    assert engine_mod.build_key() != base
    monkeypatch.undo()
    monkeypatch.setattr(engine_mod, "_compiler", lambda: "another compiler 1.0")
    assert engine_mod.build_key() == base  # recorded, not keyed: no rebuild on an update


def test_a_build_made_with_other_flags_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAD_ENGINE_DIR", str(tmp_path))
    folder = engine_mod.build_path()
    folder.mkdir(parents=True)
    files = ["llama-server", "libllama.so", *(f"libggml-cpu-{v}.so" for v in engine_mod.VARIANTS)]
    for name in files:
        (folder / name).write_text("")
    (folder / "build.json").write_text(json.dumps({"key": "0" * 16, "files": files}))
    assert engine_mod.find_engine() is None  # same folder name, other recorded key
    (folder / "build.json").write_text(json.dumps({"key": engine_mod.build_key(), "files": files}))
    assert engine_mod.find_engine() is not None
    (folder / "libllama.so").unlink()
    assert engine_mod.find_engine() is None  # a file missing: rebuilt
    (folder / "libllama.so").write_text("")
    partial = [f for f in files if f != "libggml-cpu-icelake.so"]
    (folder / "build.json").write_text(
        json.dumps({"key": engine_mod.build_key(), "files": partial})
    )
    assert engine_mod.find_engine() is None  # a variant missing: rebuilt


@pytest.mark.parametrize(
    ("flags", "variant"),
    [
        # A Sapphire Rapids Xeon (AVX-512 and AMX): AVX-512 kernels, never AMX.
        ("sse4_2 avx f16c fma avx2 bmi2 avx512f avx512cd avx512vl avx512dq avx512bw "
         "avx512vbmi avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16", "icelake"),
        ("sse4_2 avx f16c fma avx2 bmi2", "haswell"),
        # AVX-512 without VBMI/VNNI (Skylake-SP): the AVX2 kernels.
        ("sse4_2 avx f16c fma avx2 bmi2 avx512f avx512cd avx512vl avx512dq avx512bw", "haswell"),
        ("sse4_2 avx", "x64"),  # Sandy Bridge: no AVX2
        ("", "x64"),
    ],
)  # fmt: skip
def test_the_variant_each_cpu_gets(flags: str, variant: str) -> None:
    assert engine_mod.expected_variant(set(flags.split())) == variant


def test_sources_with_the_wrong_hash_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "llama_cpp_python-0.3.36.tar.gz"
    with tarfile.open(fake, "w:gz") as tar:
        tar.add(__file__, arcname=f"{engine_mod.SOURCE_SUBDIR}/CMakeLists.txt")
    monkeypatch.setenv("VAD_ENGINE_SDIST", str(fake))
    with (tmp_path / "log").open("wb") as log, pytest.raises(ModelConfigError, match="refusing"):
        engine_mod._fetch_sources(tmp_path, log)
    assert not (tmp_path / "src").exists()


def _instructions(lib: Path) -> str:
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


AVX_ANY = re.compile(r"\tv[a-z0-9]+\s[^\n]*%[xyz]mm\d")  # VEX/EVEX-encoded: AVX and up
AMX = re.compile(r"\t(ldtilecfg|sttilecfg|tileload|tilestore|tilerelease|tilezero|tdp)")


@needs_engine
@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils")
@pytest.mark.slow
def test_only_the_cpu_variants_use_wide_vector_instructions_and_none_uses_amx() -> None:
    """Portability by inspection.

    The server, libllama and ggml's core are compiled for baseline x86-64: no AVX (VEX)
    instruction at all, so a CPU without AVX can start the server and load the x64
    kernels, which have none either. The haswell kernels use AVX2 but no AVX-512; only
    icelake uses AVX-512. No library holds an AMX instruction: the AMX path that
    crashed on Sapphire Rapids Xeons cannot be taken on any CPU.
    """
    engine = engine_mod.find_engine()
    assert engine is not None
    for name in engine.info["files"]:
        code = _instructions(engine.path / name)
        assert not AMX.search(code), f"{name} holds AMX instructions"
        if name == "libggml-cpu-haswell.so":
            assert "%ymm" in code and "%zmm" not in code
        elif name == "libggml-cpu-icelake.so":
            assert "%zmm" in code
        else:  # the server, every core library, and the x64 kernels
            found = AVX_ANY.search(code)
            assert not found, f"{name} uses AVX: {found.group(0).strip() if found else ''}"


@needs_engine
@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils")
def test_the_build_is_relocatable() -> None:
    engine = engine_mod.find_engine()
    assert engine is not None
    for path in [engine.server, *engine.path.glob("lib*.so*")]:
        dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True)
        paths = re.findall(r"\((?:RPATH|RUNPATH)\).*\[(.*)\]", dynamic.stdout)
        assert all(p == "$ORIGIN" for p in paths), (path.name, paths)
        assert ".work-" not in dynamic.stdout


@needs_engine
@pytest.mark.slow
@pytest.mark.parametrize("variant", list(engine_mod.VARIANTS))
def test_every_variant_this_cpu_supports_answers(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    needed = set(engine_mod.VARIANT_CPU_FLAGS[variant])
    if not needed <= engine_mod.cpu_flags():
        pytest.skip(f"this CPU lacks {sorted(needed - engine_mod.cpu_flags())}")
    monkeypatch.setenv("VAD_ENGINE_CPU", variant)
    model = resolve_model("local/gemma-3-270m")
    prompt = load_prompts("draw").render(
        "svg", "completion", {"caption": "a blue square", "width": 224, "height": 224}
    )
    with serve(model.local or "", model.served_name) as server:
        client = ModelClient(model.with_api_base(server.api_base), RateLimiter(1))
        reply = client.complete(prompt, SamplingParams(0.0, 24, seed=3))
        assert server.describe()["cpu_variant"] == variant
    assert reply.completion_tokens > 0 and reply.text.strip()


@needs_engine
@pytest.mark.slow
def test_without_a_pin_the_server_loads_the_best_variant_for_this_cpu() -> None:
    model = resolve_model("local/gemma-3-270m")
    with serve(model.local or "", model.served_name) as server:
        assert server.describe()["cpu_variant"] == engine_mod.expected_variant()


def test_an_unknown_pinned_variant_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_mod.Engine(Path("/nonexistent"), {})
    monkeypatch.setenv("VAD_ENGINE_CPU", "sapphirerapids")
    with pytest.raises(ModelConfigError, match="no such engine variant"):
        engine.executable()
