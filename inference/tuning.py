"""Engines chosen by measurement on this CPU, not by its flags alone.

A CPU flag says what an instruction set can do, not which engine is fastest here: the
bfloat16 encoder that is 3x CTranslate2's int8 on an AMX Xeon is about even with it on an
AVX-512 BF16 EPYC, and ONNX Runtime's kernels follow their own detection. So a service
times each eligible candidate on a few seconds of real work, keeps the fastest, and
caches the choice in a JSON file keyed by what decides it: the CPU model, the cores the
process may use, the instruction-set caps the libraries honour, the library versions, the
engines' own code and the model. A candidate is eligible only if the accuracy tests cover
it (the same words, the same boxes); the measurement decides speed, never accuracy. An
explicit setting skips all of this.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from prometheus_client import Gauge

log = logging.getLogger(__name__)

# Environment variables that cap the instruction set a library uses (to emulate a lower
# CPU class on a higher one): a choice measured under one cap is not valid under another.
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "CT2_FORCE_CPU_ISA")

ENGINE_CHOICE = Gauge(
    "inference_engine_choice",
    "1 for the engine each part of the service runs; how it was chosen in `source`",
    ["part", "engine", "source"],
)
CANDIDATE_SECONDS = Gauge(
    "inference_engine_candidate_seconds",
    "Seconds one unit of work took with each candidate when the choice was measured",
    ["part", "engine"],
)

Source = Literal["measured", "cached", "explicit", "only"]


@dataclass(frozen=True)
class Candidate:
    name: str
    run: Callable[[], object]  # one unit of the part's work; the first call warms up


@dataclass(frozen=True)
class Choice:
    part: str
    engine: str
    source: Source
    seconds: dict[str, float]  # per candidate, when measured (now or for the cache)
    machine: dict[str, str]

    def describe(self) -> dict[str, object]:
        return {"engine": self.engine, "source": self.source, "seconds": self.seconds}


def isa_caps() -> dict[str, str]:
    """The instruction-set caps set in this process's environment (empty: none)."""
    return {cap: os.environ.get(cap, "") for cap in ISA_CAPS}


def default_dir() -> Path:
    return Path.home() / ".cache" / "study-savvy" / "tuning"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as /proc/cpuinfo lists them (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def machine_key(libraries: Sequence[str], extra: Mapping[str, str]) -> dict[str, str]:
    """What a measured choice depends on (and the bench JSON records)."""
    key = {"cpu": cpu_model(), "cores": str(len(os.sched_getaffinity(0)))}
    key |= isa_caps()
    for library in libraries:
        try:
            key[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            key[library] = "absent"
    key["code"] = code_id()
    return key | dict(extra)


@functools.cache
def code_id() -> str:
    """A digest of this package's sources: the candidates' speed is what was measured, so a
    new version of the engines (an upgrade, a local change) measures again."""
    return sources_digest(Path(__file__).parent)


def sources_digest(root: Path) -> str:
    """A digest of the Python sources under ``root``, their paths included."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def choose(
    part: str,
    candidates: Sequence[Candidate],
    cache_dir: Path,
    key: Mapping[str, str],
    *,
    repeats: int = 2,
) -> Choice:
    """The fastest candidate: from the cache when this machine measured it, else timed now."""
    if not candidates:
        raise ValueError(f"{part}: no candidate engine")
    if len(candidates) == 1:
        return _publish(Choice(part, candidates[0].name, "only", {}, dict(key)))
    names = [c.name for c in candidates]
    cached = cached_choice(part, names, cache_dir, key)
    if cached is not None:
        return cached
    seconds = {c.name: _time(c, repeats) for c in candidates}
    engine = min(seconds, key=lambda name: seconds[name])
    choice = Choice(part, engine, "measured", seconds, dict(key))
    _write(_cache_path(part, names, cache_dir, key), choice)
    return _publish(choice)


def cached_choice(
    part: str, names: Sequence[str], cache_dir: Path, key: Mapping[str, str]
) -> Choice | None:
    """The choice this machine measured among ``names`` before, if any: a service checks
    it first, so that it builds only the winner."""
    cached = _read(_cache_path(part, names, cache_dir, key))
    if cached is None or cached[0] not in names:
        return None
    return _publish(Choice(part, cached[0], "cached", cached[1], dict(key)))


def explicit(part: str, engine: str) -> Choice:
    """A choice the settings made: published like a measured one, never timed."""
    return _publish(Choice(part, engine, "explicit", {}, {}))


def _time(candidate: Candidate, repeats: int) -> float:
    candidate.run()  # warm-up: first-call allocations, kernel selection, caches
    best = float("inf")
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        candidate.run()
        best = min(best, time.perf_counter() - started)
    return round(best, 4)


def _cache_path(part: str, names: Sequence[str], cache_dir: Path, key: Mapping[str, str]) -> Path:
    text = json.dumps({"machine": dict(key), "candidates": sorted(names)}, sort_keys=True)
    return cache_dir / f"{part}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"


def _read(path: Path) -> tuple[str, dict[str, float]] | None:
    """The cached engine and timings; None when absent or damaged (measured again)."""
    try:
        data = json.loads(path.read_text())
        return str(data["engine"]), {str(k): float(v) for k, v in data["seconds"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write(path: Path, choice: Choice) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(choice), indent=2, sort_keys=True))
        os.replace(temporary, path)
    except OSError as exc:  # a read-only cache: the choice still holds for this process
        log.warning("engine choice not cached", extra={"path": str(path), "reason": str(exc)})


def _publish(choice: Choice) -> Choice:
    ENGINE_CHOICE.labels(choice.part, choice.engine, choice.source).set(1)
    for name, seconds in choice.seconds.items():
        CANDIDATE_SECONDS.labels(choice.part, name).set(seconds)
    log.info(
        "engine chosen",
        extra={
            "part": choice.part,
            "engine": choice.engine,
            "source": choice.source,
            "seconds": choice.seconds,
            "cpu": choice.machine.get("cpu", ""),
        },
    )
    return choice
