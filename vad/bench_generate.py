"""`vad bench generate`: drawings per hour of an embedded model, by parallel slots.

For each slot count the engine is started afresh with that many slots, and the same
concepts (the same prompts and seeds, no response cache) are drawn with that many
requests in flight; every reply is extracted and rendered in the jail. Reported per
slot count: aggregate completion tokens/s and drawings/hour over the wall time,
render-ok rate, p50/p95 request latency, and the speed-up over the first row.
Each concept is drawn ``samples`` times (seeds differ), so that the last, partly filled
wave of requests weighs less in the wall time.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from vad.concepts import load_concepts
from vad.errors import SpecError
from vad.models import ModelClient, SamplingParams, resolve_model
from vad.models.client import RetryPolicy
from vad.models.seam import Concurrency, open_model
from vad.pipeline import extract
from vad.prompts import load_prompts
from vad.render import RenderPool


def generate_benchmark(
    model_name: str = "local/qwen2.5-coder-0.5b",
    slots: list[int] | tuple[int, ...] = (1, 2, 4, 8),
    n: int = 20,
    languages: tuple[str, ...] = ("svg",),
    max_tokens: int = 512,
    temperature: float = 0.8,
    samples: int = 2,
) -> list[dict[str, Any]]:
    model = resolve_model(model_name)
    if not model.is_local:
        raise SpecError(f"bench generate measures embedded models (local/...), not {model_name}")
    if not slots or min(slots) < 1:
        raise SpecError("--slots: a comma-separated list of integers >= 1")
    half = max(1, n // 2)
    concepts = load_concepts(["shapes", "objects"], None, {"shapes": n - half, "objects": half})
    prompts = load_prompts("draw")
    style = model.default_style
    pairs = [(c, lang) for _ in range(samples) for lang in languages for c in concepts]
    work = [(concept, lang, index) for index, (concept, lang) in enumerate(pairs)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vad-bench-gen-") as tmp, RenderPool() as pool:
        for count in slots:
            plan = Concurrency(count, count)  # every slot busy: one request each
            with open_model(model, plan, RetryPolicy(max_retries=2)) as opened:
                client = opened.client

                def one(
                    item: tuple[Any, str, int], client: ModelClient = client, count: int = count
                ) -> dict[str, Any]:
                    concept, lang, index = item
                    values = {"caption": concept.caption, "width": 224, "height": 224}
                    prompt = prompts.render(lang, style, values)
                    reply = client.complete(prompt, SamplingParams(temperature, max_tokens,
                                                                   seed=index))  # fmt: skip
                    code = extract(prompt, lang, reply.text, reply.finish_reason == "length").code
                    ok = False
                    if code is not None:
                        dest = Path(tmp) / f"{count}-{index}.png"
                        ok = pool.render(lang, code, 224, 224, dest).ok
                    return {"tokens": reply.completion_tokens, "latency": reply.latency_s,
                            "ok": ok}  # fmt: skip

                started = time.monotonic()
                with ThreadPoolExecutor(max_workers=count + pool.size) as threads:
                    results = list(threads.map(one, work))
                wall = time.monotonic() - started
                variant = (opened.engine or {}).get("cpu_variant")
            tokens = sum(r["tokens"] for r in results)
            p50, p95 = np.percentile([r["latency"] for r in results], [50, 95])
            rows.append({
                "slots": count, "drawings": len(results), "wall_s": round(wall, 1),
                "completion_tokens": tokens, "tokens_per_s": round(tokens / wall, 1),
                "drawings_per_hour": round(len(results) / wall * 3600),
                "render_ok": round(sum(r["ok"] for r in results) / len(results), 3),
                "p50_latency_s": round(float(p50), 1),
                "p95_latency_s": round(float(p95), 1),
                "cpu_variant": variant,
            })  # fmt: skip
    base = rows[0]["drawings_per_hour"] or 1
    for row in rows:
        row["speedup"] = round(row["drawings_per_hour"] / base, 2)
    return rows


def format_generate(rows: list[dict[str, Any]]) -> str:
    header = ("| slots | drawings | wall s | completion tok/s | drawings/hour | render ok | "
              "p50 latency s | p95 latency s | x vs first row |")  # fmt: skip
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['slots']} | {r['drawings']} | {r['wall_s']} | {r['tokens_per_s']} | "
            f"{r['drawings_per_hour']} | {r['render_ok']:.0%} | {r['p50_latency_s']} | "
            f"{r['p95_latency_s']} | {r['speedup']:.2f} |"
        )
    variants = sorted({str(r["cpu_variant"]) for r in rows})
    lines.append(f"\nengine CPU variant: {', '.join(variants)}")
    return "\n".join(lines)
