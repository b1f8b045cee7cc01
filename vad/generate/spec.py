"""A generation's settings, declared once (vad/settings.py): the spec file's fields, the
flags of ``vad generate``, their defaults and help, the JSON Schema and the settings
hash all come from :class:`GenerateSpec`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vad.fields import FieldCheck
from vad.fsutil import sha256_file
from vad.models.seam import CONNECTIONS_HELP, SLOTS_HELP, THREADS_HELP
from vad.settings import Settings, resolved_path, setting
from vad.spec import RETRY, retry_fields
from vad.store import cache_key
from vad.textfile import read_mapping

STRATEGY_HELP = (
    "where captions come from: vad (the dataset's concepts, many seeds each), compose (two "
    "concepts: X-shaped Y, Y made of X, X next to Y in a place) or propose (the model lists "
    "visual things in categories; saved as proposed-concepts.jsonl) or vary (the model "
    "redraws its own kept programs of --from DIR from another view, in another style or "
    "colours)"
)


def _languages(check: FieldCheck, name: str, value: Any) -> tuple[str, ...]:
    return check.languages(name, value)


def _strategy(check: FieldCheck, name: str, value: Any) -> str:
    from vad.generate.strategies import STRATEGIES  # (with those of installed plugins)

    names = STRATEGIES.names()
    if value not in names:
        raise check.bad(name, value, f"unknown strategy; valid: {', '.join(names)}")
    return str(value)


def _keep_if(check: FieldCheck, name: str, value: Any) -> tuple[str, ...]:
    from vad.scoring.samples import parse_condition

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(x, str) for x in items):
        raise check.bad(name, value, "must be conditions as SCORE>=X (e.g. verified)")
    out = []
    for item in items:
        if not item.strip():
            raise check.bad(name, value, "an empty condition: give SCORE>=X, e.g. verified")
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            try:
                out.append(str(parse_condition(part)))
            except ValueError as exc:
                raise check.bad(name, value, str(exc)) from None
    return tuple(out)


def _url(check: FieldCheck, name: str, value: Any) -> str:
    if not (isinstance(value, str) and value.startswith(("http://", "https://"))):
        raise check.bad(name, value, "must be an http(s) URL")
    return value


def _shard(check: FieldCheck, name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2:
        value = f"{value[0]}/{value[1]}"
    index, _, count = str(value).partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        raise check.bad(name, value, "must be I/N with 0 <= I < N, e.g. 0/4")
    return int(index), int(count)


def _retry(check: FieldCheck, name: str, value: Any) -> dict[str, Any]:
    return check.mapping(name, value, retry_fields(check))


def _real(check: FieldCheck, name: str, value: Any) -> float:
    """A number kept as a float: 4 and 4.0 are one threshold (and one settings hash)."""
    low, high = (0.0, 1.0) if name == "max_dominant" else (0.0, None)
    return float(check.number(name, value, low, high))


PATH = {"type": "string", "minLength": 1}


class GenerateSpec(Settings):
    """What a generation makes, and how it is run. Fields with ``hashed=False`` are not
    in the settings hash: the same settings with a larger ``n`` (or other connections,
    budget, ...) go on from where a run stopped."""

    kind = "generation spec"

    out: str | None = setting(None, "--out", "the training set's folder", hashed=False,
                              check=resolved_path, metavar="DIR", schema=PATH)  # fmt: skip
    n: int = setting(100, "--n", "images to keep (required)", ge=1, le=10**9, hashed=False,
                     metavar="N", shown_default="")  # fmt: skip
    models: tuple[str, ...] = setting(
        ("local/qwen2.5-coder-0.5b",), "--model", "provider/model or alias, repeatable",
        metavar="M",
    )  # fmt: skip
    api_base: str | None = setting(None, "--api-base", "OpenAI-compatible endpoint (vLLM, ...)",
                                   metavar="URL", check=_url,
                                   schema={"type": "string", "pattern": "^https?://"})  # fmt: skip
    languages: tuple[str, ...] = setting(("svg",), "--lang", "languages", check=_languages,
                                         metavar="LANG")  # fmt: skip
    strategy: str = setting("vad", "--strategy", STRATEGY_HELP, check=_strategy)
    levels: tuple[str, ...] = setting(("shapes", "objects", "scenes"), "--level",
                                      "concept levels", metavar="L")  # fmt: skip
    concept_files: tuple[str, ...] = setting((), "--concepts", "extra concept files, "
                                             "repeatable", metavar="FILE",
                                             split=False)  # fmt: skip
    source: str | None = setting(None, "--from", "vary: the set to vary", check=resolved_path,
                                 metavar="DIR", schema=PATH)  # fmt: skip
    proposals: str | None = setting(
        None, "--proposals", "propose: take the concepts from this proposed-concepts.jsonl "
        "(of an earlier propose run) instead of asking; every --shard part of a propose run "
        "needs it", check=resolved_path, metavar="FILE", schema=PATH,
    )  # fmt: skip
    size: int = setting(64, "--size", "side of the set's square images in px (as in `vad "
                        "dataset export`)", ge=8, le=4096, metavar="PX")  # fmt: skip
    width: int = setting(224, None, "width of each rendering in px", ge=8, le=4096)
    height: int = setting(224, None, "height of each rendering in px", ge=8, le=4096)
    temperature: int | float = setting(1.0, "--temperature", "sampling temperature "
                                       "(diversity)", ge=0, le=2, metavar="T")  # fmt: skip
    max_tokens: int = setting(1024, "--max-tokens", "tokens a reply may have", ge=1, le=10**6,
                              metavar="N")  # fmt: skip
    seed: int = setting(0, "--seed", "seed of the stream", ge=0, metavar="N")
    dedupe_distance: int = setting(4, "--dedupe-distance", "pHash bits within which an image "
                                   "is a near-duplicate (-1: off)", ge=-1, le=32,
                                   metavar="BITS")  # fmt: skip
    min_std: float = setting(4.0, None, "grey standard deviation below which an image is "
                             "blank", ge=0, check=_real)  # fmt: skip
    max_dominant: float = setting(0.995, None, "share of one colour above which an image is "
                                  "blank", ge=0, le=1, check=_real)  # fmt: skip
    shard_size: int = setting(1000, "--shard-size", "images per tar shard", ge=1, le=10**7,
                              hashed=False, metavar="N")  # fmt: skip
    max_requests: int | None = setting(
        None, "--max-requests", "stop after this many requests", ge=1, le=10**12,
        hashed=False, metavar="N", shown_default="20 x --n",
    )  # fmt: skip
    max_connections: int | None = setting(None, "--max-connections", CONNECTIONS_HELP, ge=1,
                                          le=4096, hashed=False, metavar="N",
                                          shown_default="")  # fmt: skip
    slots: int | None = setting(None, "--slots", SLOTS_HELP, ge=1, le=256, hashed=False,
                                metavar="N", shown_default="")  # fmt: skip
    shard: tuple[int, int] = setting(
        (0, 1), "--shard", "do the I-th of N deterministic parts of the work (0-based; each "
        "into its own --out, with its own --n), e.g. I=$SLURM_ARRAY_TASK_ID; join them with "
        "`vad dataset merge`", check=_shard, metavar="I/N", shown_default="",
        schema={"anyOf": [{"type": "string", "pattern": "^[0-9]+/[0-9]+$"},
                          {"type": "array", "items": {"type": "integer", "minimum": 0},
                           "minItems": 2, "maxItems": 2}], "default": "0/1"},
    )  # fmt: skip
    max_cost: int | float | None = setting(
        None, "--max-cost", "never spend more: each request sets aside the most it can cost "
        "(prompt characters as tokens plus --max-tokens, at litellm's prices) and the run "
        "stops cleanly before a request the budget cannot cover; running again with a larger "
        "budget goes on", gt=0, hashed=False, metavar="USD",
    )  # fmt: skip
    keep_if: tuple[str, ...] = setting(
        (), "--keep-if", "keep only drawings whose per-sample scores pass: SCORE OP X with OP "
        "one of >= > <= < == (a score alone: SCORE>=1), repeatable (verified: every "
        "attribute of a shape concept right, as the shapes verifier reads the drawing; or one "
        "attribute: color, count, shape, position, size, arrangement, relation; each is 0 or "
        "1; fidelity: the --judge's 1-10 rating, any level); the rest are recorded as "
        "rejected with the reason",
        check=_keep_if, metavar="COND", split=False,
        schema={"anyOf": [{"type": "array", "items": {"type": "string", "minLength": 1}},
                          {"type": "string", "minLength": 1}]},
    )  # fmt: skip
    judge: str | None = setting(
        None, "--judge", "a vision model (provider/model) that rates every rendered drawing "
        "1-10 against its caption (vad judge's fidelity question), kept in the sample's "
        "scores; keep by it with --keep-if fidelity>=X (asked live as each drawing renders, "
        "also with --batch)", metavar="MODEL",
    )  # fmt: skip
    judge_api_base: str | None = setting(
        None, "--judge-api-base", "OpenAI-compatible endpoint of the judge (llama.cpp, vLLM, "
        "...)", metavar="URL", check=_url, schema={"type": "string", "pattern": "^https?://"},
    )  # fmt: skip
    judge_sees_images: bool = setting(
        False, "--judge-sees-images", "assert the judge takes images where neither its "
        "server nor litellm's model map can tell", hashed=False,
    )  # fmt: skip
    batch: bool = setting(
        False, "--batch", "send the requests through the OpenAI Batch API (half price): "
        "chunks of --batch-size are uploaded, submitted and polled; batch ids are kept in the "
        "folder, so a killed run picks its batches up again", hashed=False,
    )  # fmt: skip
    batch_size: int = setting(1000, "--batch-size", "requests per batch", ge=1, le=50_000,
                              hashed=False, metavar="N")  # fmt: skip
    batch_poll: int | float = setting(30.0, "--batch-poll", "seconds between polls",
                                      ge=0.01, le=3600, hashed=False, metavar="S")  # fmt: skip
    engine_threads: int | None = setting(None, "--engine-threads", THREADS_HELP, ge=1, le=1024,
                                         hashed=False, metavar="N",
                                         shown_default="")  # fmt: skip
    grace: int | float = setting(
        10.0, "--grace", "after a first Ctrl-C, keep replies that arrive within S seconds "
        "(a second Ctrl-C quits at once)", ge=0, le=600, hashed=False, metavar="S",
    )  # fmt: skip
    # --timeout and --max-retries, as in run specs (vad.cli_generate.add_retry_options)
    retry: dict[str, Any] = setting({}, None, "request deadline and retries: timeout, "
                                    "max_retries, base_delay, max_delay", hashed=False,
                                    check=_retry, schema=RETRY)  # fmt: skip

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """As :meth:`Settings.schema`; ``n`` has no default there (give it, in the file
        or as --n). ``shard``'s I < N is checked by vad only."""
        from vad.generate.strategies import STRATEGIES

        out = super().schema()
        out["properties"]["n"].pop("default", None)
        out["properties"]["strategy"]["enum"] = STRATEGIES.names()
        return out

    def settings(self) -> dict[str, Any]:
        """What the set is made from: the hashed fields, and the contents of its files."""
        data = self.hashed_fields()
        # A concept file edited in place changes what the stream's positions mean.
        data["concept_files_sha256"] = [
            sha256_file(f) if Path(f).is_file() else None for f in self.concept_files
        ]
        if self.proposals is None:
            data.pop("proposals")  # (the settings of sets made before the field existed)
        else:
            data["proposals_sha256"] = (
                sha256_file(self.proposals) if Path(self.proposals).is_file() else None
            )
        if self.judge is None:  # (likewise)
            data.pop("judge")
            data.pop("judge_api_base")
        else:  # another rubric rates otherwise
            from vad.judge.prompts import version

            data["judge_prompt_version"] = version()
        if not self.keep_if:
            data.pop("keep_if")  # (likewise)
        else:  # another verifier keeps other drawings: another set
            from vad.scoring.verifier import VERSION

            data["verifier"] = VERSION
        return data

    def settings_hash(self) -> str:
        return cache_key(self.settings())[:10]


def load_settings(path: str | Path) -> dict[str, Any]:
    """A generation spec file: a mapping of the settings (``out`` made absolute)."""
    path = Path(path)
    data = read_mapping(path, "generation spec", "settings (out, n, models, ...: the flags' "
                        "names)")  # fmt: skip
    return GenerateSpec.checked(data, str(path))
