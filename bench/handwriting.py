"""Handwriting benchmark: the shipped CRNN against the fine-tuned one, and easyhtr.

Same run, same pages: essays rendered in the held-out handwriting fonts (training/fonts.py
VALIDATION, hands the fine-tune never saw) and the printed 20-line pages of bench/ocr.py.
Each recognizer reads every page through the running OCR server (``/v1/ocr``, the same
detector for all), at concurrency 1:

* ``shipped``: the default engine with the packaged weights (int8 ONNX CRNN);
* ``fine-tuned fp32`` / ``fine-tuned int8``: the ONNX graphs of ``make handwriting-model``'s
  weights (``BENCH_HANDWRITING_MODEL``, default ``var/handwriting/crnn.pth``);
* ``easyhtr`` (``easyhtr==0.1.1``, an IAM-trained word detector and CTC reader in ONNX,
  in its own venv ``.tools/easyhtr``): upper case only and no punctuation but ``'`` and
  ``-``, so it is scored case-folded (both texts in upper case); the CRNN rows give their
  case-folded CER too.

Page CER (spaces collapsed), page latency, and ms per line (the recognizer alone, on the
held-out synthetic lines of the training data). The training report's figures (time,
lines/s, CER per epoch) are copied in. Writes ``bench/results/handwriting.json`` and ``.png``.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import BenchSettings, bench_lock, machine, new_figure, png_path, write_json
from bench.ocr import essay_pages
from inference.device import Placement
from inference.ocr_server.training import fonts
from inference.ocr_server.training.evaluate import cer
from inference.ocr_server.training.labels import read_labels
from tests.inference.ocr.pages import ESSAY, OTHER_ESSAYS, png_bytes, render_page
from tests.support.services import REPO, free_port, running_process

log = logging.getLogger("bench.handwriting")

_MODEL = BenchSettings().handwriting_model
MODEL = _MODEL if _MODEL.is_absolute() else REPO / _MODEL
DATA = MODEL.parent / "data" / "val"
REPORT = MODEL.parent / "run" / "report.json"
EASYHTR = REPO / ".tools" / "easyhtr" / "bin" / "python"
PAGES_PER_FONT = 2
LINES = 14
TIMED_LINES = 120
CPU = Placement(device="cpu", half=False)


def handwritten_pages() -> list[tuple[str, bytes, str]]:
    """(family, PNG, text) of essay pages in each held-out hand, 1280 px wide."""
    texts = [ESSAY, *OTHER_ESSAYS]
    pages = []
    for family in fonts.installed(fonts.VALIDATION):
        for index in range(PAGES_PER_FONT):
            rotation = texts[index:] + texts[:index]
            font = str(family.paths()[index % len(family.paths())])
            page = render_page(
                "|".join(rotation), width=1280, font_size=34, max_lines=LINES, font_path=font
            )
            pages.append((family.name, png_bytes(page.image), page.text))
    return pages


def recognizers() -> dict[str, dict[str, str]]:
    weights = str(MODEL.resolve())
    return {
        "shipped": {},
        "fine-tuned fp32": {
            "OCR_RECOGNIZER__CRNN_WEIGHTS": weights,
            "OCR_RECOGNIZER__ENGINE": "crnn-onnx",
            "OCR_RECOGNIZER__PRECISION": "fp32",
        },
        "fine-tuned int8": {
            "OCR_RECOGNIZER__CRNN_WEIGHTS": weights,
            "OCR_RECOGNIZER__ENGINE": "crnn-onnx",
            "OCR_RECOGNIZER__PRECISION": "int8",
        },
    }


def read_through_server(
    env: dict[str, str], pages: list[bytes], workdir: Path
) -> tuple[list[str], list[float], dict[str, Any]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full = {"OCR_PORT": str(port), "OCR_DEVICE": "cpu", "OCR_LOG_LEVEL": "WARNING", **env}
    texts, seconds = [], []
    with running_process(
        ["python", "-m", "inference.ocr_server"],
        env=full,
        ready_url=f"{base}/readyz",
        ready_timeout=600,
        log_path=workdir / f"ocr-{port}.log",
    ):
        card = httpx.get(f"{base}/v1/models", timeout=30).json()["data"][1]["details"]
        with httpx.Client(base_url=base, timeout=600) as client:
            client.post("/v1/ocr", files={"file": ("p.png", pages[0])}).raise_for_status()
            for data in pages:
                started = time.perf_counter()
                response = client.post("/v1/ocr", files={"file": ("p.png", data)})
                response.raise_for_status()
                seconds.append(time.perf_counter() - started)
                texts.append(response.json()["text"])
    return texts, seconds, card


def ms_per_line(name: str) -> float | None:
    """The recognizer alone on held-out synthetic lines, batched as the server batches."""
    from inference.ocr_server.ort.cache import default_cache_dir, onnx_model
    from inference.ocr_server.recognizers.crnn_onnx import CrnnOnnxRecognizer
    from inference.ocr_server.settings import packaged_weights
    from inference.ocr_server.training.data import load_rgb

    samples, _ = read_labels(DATA)
    crops = [load_rgb(s) for s in samples[:TIMED_LINES]]
    weights = packaged_weights("english_g2.pth") if name == "shipped" else MODEL
    precision = "fp32" if name.endswith("fp32") else "int8"
    graph = onnx_model("crnn", weights, precision, default_cache_dir())  # type: ignore[arg-type]
    recognizer = CrnnOnnxRecognizer(graph, CPU, precision=precision)
    recognizer.recognize(crops[:8])
    started = time.perf_counter()
    recognizer.recognize(crops)
    return 1000 * (time.perf_counter() - started) / len(crops)


def easyhtr(pages: list[bytes], workdir: Path) -> tuple[list[str], list[float]] | None:
    if not EASYHTR.exists():
        log.warning("easyhtr venv missing (make install): %s", EASYHTR)
        return None
    paths = []
    for index, data in enumerate(pages):
        path = workdir / f"page-{index}.png"
        path.write_bytes(data)
        paths.append(str(path))
    done = subprocess.run(
        [str(EASYHTR), str(REPO / "bench" / "_easyhtr_read.py"), *paths],
        capture_output=True, text=True, timeout=1800, check=True,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])["pages"]
    return [p["text"] for p in result], [p["seconds"] for p in result]


def scores(
    family_of: list[str], truths: list[str], texts: list[str], fold: bool = False
) -> dict[str, float]:
    """Page CER per family (mean of its pages) and ``handwriting`` (all hands)."""
    rows: dict[str, list[float]] = {}
    for family, truth, text in zip(family_of, truths, texts, strict=True):
        if fold:
            truth, text = truth.upper(), text.upper()
        rows.setdefault(family, []).append(cer([(truth, text)]))
    found = {family: round(statistics.mean(values), 4) for family, values in rows.items()}
    hands = [v for f, values in rows.items() if f != "printed" for v in values]
    found["handwriting"] = round(statistics.mean(hands), 4)
    return found


def main() -> None:
    if not MODEL.is_file():
        raise FileNotFoundError(f"{MODEL} is missing: run `make handwriting-model` first")
    hand = handwritten_pages()
    printed = essay_pages()
    family_of = [f for f, _, _ in hand] + ["printed"] * len(printed)
    pages = [data for _, data, _ in hand] + [data for data, _ in printed]
    truths = [text for _, _, text in hand] + [text for _, text in printed]
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, bench_lock():
        workdir = Path(tmp)
        for name, env in recognizers().items():
            texts, seconds, card = read_through_server(env, pages, workdir)
            rows[name] = {
                "cer": scores(family_of, truths, texts),
                # As easyhtr is scored: case-folded (it reads upper case only).
                "cer_case_folded": scores(family_of, truths, texts, fold=True),
                "page_latency_s": round(statistics.median(seconds), 3),
                "printed_page_latency_s": round(
                    statistics.median(
                        s for f, s in zip(family_of, seconds, strict=True) if f == "printed"
                    ),
                    3,
                ),
                "ms_per_line": round(ms_per_line(name) or 0.0, 2),
                "engine": card.get("engine"),
                "weights_sha256": card.get("weights_sha256"),
            }
            log.info("%s: %s", name, rows[name])
        peer = easyhtr(pages, workdir)
        if peer is not None:
            texts, seconds = peer
            lines = [t.count("\n") + 1 for t in truths]
            rows["easyhtr (case-folded)"] = {
                "cer": scores(family_of, truths, texts, fold=True),
                "page_latency_s": round(statistics.median(seconds), 3),
                "ms_per_line": round(1000 * sum(seconds) / sum(lines), 2),
            }
    shipped, tuned = rows["shipped"], rows["fine-tuned int8"]
    payload = {
        "machine": machine(),
        "pages": {
            "handwritten": len(hand),
            "printed": len(printed),
            "fonts": list(fonts.VALIDATION),
        },
        "model": str(MODEL),
        "recognizers": rows,
        "printed_latency_ratio": round(
            tuned["printed_page_latency_s"] / shipped["printed_page_latency_s"], 3
        ),
        "training": _training(),
    }
    write_json("handwriting", payload)
    plot(payload)


def _training() -> dict[str, Any] | None:
    if not REPORT.is_file():
        return None
    report = json.loads(REPORT.read_text())
    epochs = report["epochs"]
    return {
        "device": report["device"],
        "precision": report["precision"],
        "threads": report["threads"],
        "cpu": report.get("cpu"),
        "train_lines": report["train_lines"],
        "epochs": len(epochs),
        "seconds": round(sum(e["seconds"] for e in epochs), 1),
        "lines_per_s": round(statistics.mean(e["lines_per_s"] for e in epochs), 1),
        "val_cer_before": report["before"],
        "val_cer_after": report["after"],
        "stopped_by_time_budget": report.get("stopped_by_time_budget"),
    }


def plot(payload: dict[str, Any]) -> None:
    figure, axis = new_figure(figsize=(10, 4.5))
    groups = [*payload["pages"]["fonts"], "printed"]
    names = list(payload["recognizers"])
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        values = [payload["recognizers"][name]["cer"].get(g, 0.0) for g in groups]
        axis.bar([i + index * width for i in range(len(groups))], values, width, label=name)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], groups)
    axis.axhline(0.05, color="grey", linestyle="--", linewidth=1, label="issue bound 0.05")
    axis.set(ylabel="page CER", title="Handwritten essays in held-out hands, and printed pages")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png_path("handwriting"), dpi=110)
