"""From a trained state dict to service: checked ONNX graphs, and a Triton version N+1.

``export_checked`` writes the fp32 and int8 graphs into the ONNX cache the OCR server
reads (keyed by the weights' hash, so ``OCR_RECOGNIZER__CRNN_WEIGHTS=best.pth`` then finds
them) and holds each to torch float32 on validation lines.

``publish_to_triton`` writes ``<repository>/<model>/<N+1>/``: the weights (and the graph
for an ``engine: onnx`` model), and a ``smoke.json`` made of validation lines whose
expected text the version must read within a CER bound. With ``swap_url`` it promotes the
version through the checked swap (triton_models/swap.py): staged, checked, then live.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from inference.device import Placement
from inference.ocr_server.recognizers.crnn import scaled_width, width_at_line_height
from inference.ocr_server.recognizers.crnn_net import LINE_HEIGHT
from inference.ocr_server.training.data import load_rgb
from inference.ocr_server.training.evaluate import cer
from inference.ocr_server.training.labels import Sample, read_labels

log = logging.getLogger(__name__)

CPU = Placement(device="cpu", half=False)
# Most a graph may read worse than torch float32 on the same lines.
# A float32 graph differs from torch only in the order of its sums, but a weakly trained
# model has frames where two characters tie to a few ulps: a toy-trained CRNN's float32
# graph read 0.2030 against torch's 0.2018 on an AVX-512 EPYC (+0.0012, 7 characters of
# 200 lines), where other CPUs held +0.001. A broken export reads tenths worse.
MAX_CER_INCREASE = {"fp32": 0.002, "int8": 0.003}
# Where the CPU has no int8 dot product (AVX2 only) the int8 graphs keep 7-bit weights
# (ort/quantize.py), one bit less of each weight: a toy-trained CRNN's graph read 0.2036
# against torch's 0.1999 on a Zen 3 EPYC (+0.0037), where VNNI CPUs held +0.003.
MAX_CER_INCREASE_7_BIT = 0.005
CHECK_LINES = 200
# The smoke crop's widest (the recognizer squeezes wider lines).
SMOKE_WIDTH = 4000
WEIGHTS_FILE = "english_g2.pth"  # the name Triton's crnn model loads from a version folder


class PublishError(RuntimeError):
    """The graph or version does not meet its check; nothing was put in service."""


@dataclass(frozen=True)
class GraphCheck:
    precision: str
    path: Path
    cer_torch: float
    cer_graph: float

    def __str__(self) -> str:
        return (
            f"{self.path} ({self.precision}): CER {self.cer_graph:.4f}, "
            f"torch float32 {self.cer_torch:.4f}"
        )


def check_lines(val: Path, count: int, seed: int = 0) -> list[Sample]:
    samples, _ = read_labels(val)
    if not samples:
        raise PublishError(f"{val} holds no usable validation line")
    return random.Random(seed).sample(samples, min(count, len(samples)))


def _read(recognizer: Any, samples: list[Sample]) -> float:
    crops = [load_rgb(s) for s in samples]
    texts = [r.text for r in recognizer.recognize(crops)]
    return cer(zip((s.text for s in samples), texts, strict=True))


def export_checked(
    weights: Path, val: Path, cache_dir: Path | None, precisions: list[str]
) -> list[GraphCheck]:
    """The cached graphs of ``weights``, each read within its bound of torch float32."""
    from inference.ocr_server.ort.cache import default_cache_dir, onnx_model
    from inference.ocr_server.recognizers.crnn import CrnnRecognizer
    from inference.ocr_server.recognizers.crnn_onnx import CrnnOnnxRecognizer

    samples = check_lines(val, CHECK_LINES)
    reference = _read(CrnnRecognizer(weights, CPU), samples)
    checks = []
    for precision in precisions:
        path = onnx_model("crnn", weights, precision, cache_dir or default_cache_dir())  # type: ignore[arg-type]
        graph = _read(CrnnOnnxRecognizer(path, CPU, precision=precision), samples)
        check = GraphCheck(precision, path, round(reference, 5), round(graph, 5))
        log.info("graph checked", extra={"graph": str(path), "cer": graph, "cer_torch": reference})
        bound = _max_increase(precision)
        if graph > reference + bound:
            raise PublishError(f"{check}: more than {bound} above torch; not used")
        checks.append(check)
    return checks


def _max_increase(precision: str) -> float:
    from inference.ocr_server.ort.cache import reduced_range

    if precision == "int8" and reduced_range():
        return MAX_CER_INCREASE_7_BIT
    return MAX_CER_INCREASE[precision]


def smoke_line(samples: list[Sample]) -> tuple[npt.NDArray[np.uint8], str]:
    """The lines side by side as one line crop [64, w, 3] (a recognizer request holds one
    crop), each scaled to the model's height, and the text they spell."""
    lines = []
    for sample in samples:
        crop = load_rgb(sample)
        size = (scaled_width(crop), LINE_HEIGHT)  # as the recognizer scales it
        lines.append(cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR))
    return np.concatenate(lines, axis=1), " ".join(s.text for s in samples)


def write_smoke(folder: Path, samples: list[Sample], max_cer: float) -> dict[str, Any]:
    line, text = smoke_line(samples)
    np.save(folder / "smoke_IMAGE.npy", line)
    spec = {
        "inputs": {"IMAGE": {"file": "smoke_IMAGE.npy"}},
        "expect": {"TEXT": {"near": [text], "max_cer": max_cer}},
    }
    (folder / "smoke.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return spec


def _smoke_samples(val: Path, weights: Path, max_cer: float) -> list[Sample]:
    """Validation lines from every group; the weights must read them within ``max_cer``
    here, or the version would only be refused by its own check later."""
    from inference.ocr_server.recognizers.crnn import CrnnRecognizer

    samples, _ = read_labels(val)
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.group, []).append(sample)
    chosen: list[Sample] = []
    width = 0
    for members in groups.values():  # one line of each group, while the crop fits
        with Image.open(members[0].image) as image:
            scaled = width_at_line_height(image.height, image.width)
        if width + scaled <= SMOKE_WIDTH:
            chosen.append(members[0])
            width += scaled
    if not chosen:
        raise PublishError(f"{val} holds no usable validation line")
    line, text = smoke_line(chosen)
    read = CrnnRecognizer(weights, CPU).recognize([line])[0].text
    rate = cer([(text, read)])
    if rate > max_cer:
        raise PublishError(f"{weights} reads the smoke lines at CER {rate:.3f} > {max_cer}")
    return chosen


def _parameter(config: str, key: str) -> str | None:
    """A string parameter of a config.pbtxt text (as repository.set_parameter writes it)."""
    found = re.search(rf'key: "{re.escape(key)}",\s*value: {{\s*string_value: "([^"]*)"', config)
    return found.group(1) if found else None


def _config_text(model_dir: Path) -> str:
    config = model_dir / "config.pbtxt"
    if not config.is_file():
        raise PublishError(f"{config} is missing: {model_dir.name} is not a repository model")
    return config.read_text()


def publish_to_triton(
    weights: Path,
    val: Path,
    repository: Path,
    *,
    model: str = "crnn",
    max_cer: float = 0.05,
    weights_root: Path | None = None,
    swap_url: str | None = None,
    admin_key_file: Path | None = None,
) -> int:
    """Write version N+1 of ``model`` (a python-backend CRNN model of the repository) and,
    with ``swap_url``, swap it in; returns N+1."""
    from triton_models.repository import ONNX_FILE, model_versions

    model_dir = repository / model
    config = _config_text(model_dir)
    if 'platform: "onnxruntime_onnx"' in config:
        raise PublishError(
            f"{model} is an onnxruntime model whose answers are probabilities: publish to the "
            "python crnn model (engine: onnx serves the same graph) instead"
        )
    samples = _smoke_samples(val, weights, max_cer)
    version = max(model_versions(model_dir), default=0) + 1
    folder = model_dir / str(version)
    folder.mkdir()
    try:
        root = (weights_root or repository) / model / str(version)
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, root / WEIGHTS_FILE)
        if _parameter(config, "engine") == "onnx":
            precision = _parameter(config, "precision") or "fp32"
            (graph,) = export_checked(weights, val, None, [precision])
            shutil.copyfile(graph.path, folder / ONNX_FILE)
        write_smoke(folder, samples, max_cer)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    log.info("version written", extra={"model": model, "version": version, "path": str(folder)})
    if swap_url:
        try:
            _swap(repository, model, version, swap_url, admin_key_file)
        except BaseException:
            # Refused (or interrupted): the version this call wrote goes, the old serves on.
            shutil.rmtree(folder, ignore_errors=True)
            if root != folder:
                shutil.rmtree(root, ignore_errors=True)
            raise
    return version


def _swap(
    repository: Path, model: str, version: int, url: str, admin_key_file: Path | None
) -> None:
    import tritonclient.http as httpclient

    from triton_models import swap

    raw = httpclient.InferenceServerClient(url, network_timeout=600.0, connection_timeout=600.0)
    client: Any = raw
    if admin_key_file is not None:
        client = swap.AdminClient(raw, admin_key_file.read_text().strip())
    try:
        retired = swap.swap(client, repository, model, version)
    finally:
        raw.close()
    log.info("swapped", extra={"model": model, "version": version, "retired": retired})
