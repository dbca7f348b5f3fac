"""Building the worker, ASR (CPU) and OCR (CPU) images as the compose CPU stack names them.

Each image is built with ``docker build`` from the build section of the merged compose
configuration (context, Dockerfile, target, build args, image name), plus the build args
of an air-gapped build (docs/deploy.md): the local Debian base, its own Python, and wheels
from wheels/ only (scripts/containers/wheels.sh).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.containers.engine import Engine

SERVICES = ("worker", "asr", "ocr")
BASE = "study-savvy/base:bookworm"
AIRGAPPED = {
    "PYTHON_IMAGE": BASE,  # worker/Dockerfile
    "BASE_IMAGE": BASE,  # inference/Dockerfile
    "PYTHON_FROM": "system",
    "PIP_OFFLINE": "1",
}


@dataclass(frozen=True)
class Built:
    service: str
    image: str
    seconds: float
    kind: str  # "cold" (no image before), "cached" (nothing changed) or "rebuilt"
    size_mb: float


def build_specs(config: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    """service -> (image, docker build arguments) from ``compose config --format json``."""
    specs = {}
    for service in SERVICES:
        entry = config["services"][service]
        build = entry["build"]
        args = ["build", "--network", "host", "-q", "-t", entry["image"]]
        args += ["-f", str(Path(build["context"]) / build.get("dockerfile", "Dockerfile"))]
        if build.get("target"):
            args += ["--target", build["target"]]
        for name, value in {**(build.get("args") or {}), **AIRGAPPED}.items():
            args += ["--build-arg", f"{name}={value}"]
        specs[service] = (entry["image"], [*args, build["context"]])
    return specs


def build_all(engine: Engine, config: dict[str, Any]) -> list[Built]:
    built = []
    for service, (image, args) in build_specs(config).items():
        before = engine.docker("image", "inspect", "-f", "{{.Id}}", image, check=False)
        started = time.monotonic()
        image_id = engine.docker(*args, timeout=1500).stdout.strip().splitlines()[-1]
        seconds = round(time.monotonic() - started, 1)
        if before.returncode != 0:
            kind = "cold"
        else:
            kind = "cached" if before.stdout.strip() == image_id else "rebuilt"
        built.append(Built(service, image, seconds, kind, engine.image_size_mb(image)))
    return built


def record(path: Path, facts: dict[str, Any]) -> None:
    """Keeps the latest cold, rebuilt and cached build of each image side by side."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    images = old.get("images", {})
    for built in facts.get("images", []):
        entry = images.setdefault(built.service, {})
        entry.update(image=built.image, size_mb=built.size_mb)
        entry[f"build_{built.kind}_s"] = built.seconds
    merged = {**old, **{k: v for k, v in facts.items() if k != "images"}, "images": images}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
