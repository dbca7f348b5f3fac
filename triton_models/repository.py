"""Write a deployable copy of the model repository: instance kind, names, batching, weights.

The configs in this folder are the production ones (KIND_GPU). Local runs, tests and
benchmarks serve a copy made here, e.g. with CPU instances::

    python -m triton_models.repository /tmp/models --kind KIND_CPU whisper crnn

``craft_onnx`` and ``crnn_onnx`` run on Triton's ONNX Runtime backend: their version
folders get ``model.onnx``, the graph the OCR server's ONNX engines run, from the same
export cache (exported from the packaged weights if it is not there yet).
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from inference.logs import configure_logging

log = logging.getLogger(__name__)

SOURCE = Path(__file__).resolve().parent
MODELS = ("whisper", "craft", "crnn", "trocr", "craft_onnx", "crnn_onnx")
# Repository models served by the onnxruntime backend -> the exported graph they hold.
ONNX_MODELS = {"craft_onnx": "craft", "crnn_onnx": "crnn"}
ONNX_FILE = "model.onnx"
KINDS = ("KIND_GPU", "KIND_CPU")


def model_versions(model_dir: Path) -> list[int]:
    """Numeric version folders, as Triton sees them (names with a leading 0 are ignored)."""
    return sorted(
        int(p.name)
        for p in model_dir.iterdir()
        if p.is_dir() and p.name.isdigit() and not p.name.startswith("0")
    )


def set_version_policy(config: str, versions: Sequence[int]) -> str:
    """The config text with ``version_policy`` serving exactly ``versions``."""
    listed = ", ".join(str(v) for v in versions)
    policy = f"version_policy: {{ specific: {{ versions: [ {listed} ] }} }}"
    updated, count = re.subn(r"^version_policy:.*$", policy, config, flags=re.M)
    if count != 1:
        raise ValueError("the config must hold exactly one single-line version_policy")
    return updated


def set_parameter(config: str, key: str, value: str) -> str:
    """Replace (or add) a string parameter of the config."""
    line = f'parameters: {{ key: "{key}", value: {{ string_value: "{value}" }} }}'
    pattern = rf'^parameters: \{{ key: "{re.escape(key)}",.*$'
    updated, count = re.subn(pattern, lambda _: line, config, flags=re.M)
    return updated if count else f"{config.rstrip()}\n{line}\n"


def rewrite_config(
    config: str,
    *,
    name: str | None = None,
    kind: str | None = None,
    max_batch_size: int | None = None,
    instance_count: int | None = None,
    parameters: Mapping[str, str] | None = None,
) -> str:
    """Apply the overrides a deployment needs to one config.pbtxt text."""
    if name is not None:
        config = re.sub(r'^name: ".*"$', f'name: "{name}"', config, count=1, flags=re.M)
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"unknown instance kind {kind!r}")
        config = re.sub(r"kind: KIND_\w+", f"kind: {kind}", config)
    if instance_count is not None:
        config = re.sub(r"(kind: KIND_\w+, count: )\d+", rf"\g<1>{instance_count}", config)
    if max_batch_size is not None:
        config = re.sub(
            r"^max_batch_size: \d+", f"max_batch_size: {max_batch_size}", config, flags=re.M
        )
        if max_batch_size <= 1:
            # Triton refuses preferred sizes above max_batch_size.
            config = re.sub(r"^\s*preferred_batch_size:.*\n", "", config, flags=re.M)
    for key, value in (parameters or {}).items():
        config = set_parameter(config, key, value)
    return config


def write_model(
    dest_repo: Path,
    model: str,
    *,
    name: str | None = None,
    versions: Sequence[int] = (1,),
    onnx: Path | None = None,
    **overrides: object,
) -> Path:
    """Copy ``model`` into ``dest_repo`` (as ``name``), with the given versions and overrides.

    Every version gets the model.py of version 1: versions differ by their weights, which
    the ``weights`` parameter locates per version. ``onnx``, an exported graph, is copied
    into each version folder as model.onnx (required for the onnxruntime models; for the
    python ``craft``/``crnn`` it is what their ``engine: onnx`` parameter runs).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    if model in ONNX_MODELS and onnx is None:
        raise ValueError(f"{model} needs its exported graph (onnx=...)")
    source = SOURCE / model
    target = dest_repo / (name or model)
    target.mkdir(parents=True, exist_ok=True)
    for version in versions:
        folder = target / str(version)
        if (source / "1").is_dir():
            shutil.copytree(
                source / "1",
                folder,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        folder.mkdir(exist_ok=True)
        if onnx is not None:
            shutil.copyfile(onnx, folder / ONNX_FILE)
    config = rewrite_config((source / "config.pbtxt").read_text(), name=name, **overrides)  # type: ignore[arg-type]
    (target / "config.pbtxt").write_text(set_version_policy(config, [max(versions)]))
    return target


def exported_graph(model: str, precision: str = "fp32", cache_dir: Path | None = None) -> Path:
    """The exported graph of ``craft`` or ``crnn`` with the OCR settings' weights."""
    from inference.ocr_server.ort.cache import onnx_model
    from inference.ocr_server.settings import OcrSettings

    settings = OcrSettings()
    weights = settings.craft_weights_path() if model == "craft" else settings.crnn_weights_path()
    cache = cache_dir or settings.onnx.cache_dir
    return onnx_model(model, weights, precision, cache)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dest", type=Path, help="folder to write the repository into")
    parser.add_argument("models", nargs="*", default=list(MODELS), help="models to copy")
    parser.add_argument("--kind", choices=KINDS, default="KIND_GPU")
    parser.add_argument("--max-batch-size", type=int, default=None)
    args = parser.parse_intermixed_args(argv)
    configure_logging("INFO", json_lines=False)
    for model in args.models:
        graph = exported_graph(ONNX_MODELS[model]) if model in ONNX_MODELS else None
        path = write_model(
            args.dest, model, kind=args.kind, max_batch_size=args.max_batch_size, onnx=graph
        )
        log.info("model written", extra={"model": model, "path": str(path)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
