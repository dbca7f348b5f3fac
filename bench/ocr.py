"""OCR benchmark: torch float32 against the ONNX Runtime engines, beside the eager CRAFT floor.

One run, on 20-line 1280x960 essay pages, canvas 1280:

* ``floor``: one float32 eager torch CRAFT forward at 1280x960 (best of a few, measured at
  the start and the end of the run; the smaller counts);
* per engine (torch fp32, ORT fp32, ORT int8, and the server's default): a page profiled
  in process by stage (decode, resize, forward, post-processing, layout and crops,
  recognition), the CER against the rendered text and the share of torch's line boxes
  matched at IoU >= 0.9, then the running server at concurrency 1 and 4 (page latency
  and pages/s), with each latency as a multiple of the floor.

The whole run holds the machine's bench lock (``/tmp/cpu-bench.lock``, shared with the
other benchmarks), so that no other benchmark shares the cores with the floor or a page.
Writes ``bench/results/ocr.json`` and ``ocr.png``. GPU figures are not measured here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import bench_lock, new_figure, png_path, write_json
from inference.images import decode_image
from inference.ocr_server.detectors.craft_net import load_craft
from inference.ocr_server.detectors.postprocess import Thresholds, boxes_from_maps, prepare_batch
from inference.ocr_server.layout import lay_out_lines
from inference.ocr_server.settings import OcrSettings, packaged_weights
from tests.inference.ocr.compare import Reading, box_matches, build, cer
from tests.inference.ocr.pages import ESSAY, OTHER_ESSAYS, png_bytes, render_page
from tests.support.services import free_port, running_process

log = logging.getLogger("bench.ocr")

PAGES = 2
LINES = 20
WIDTH, HEIGHT = 1280, 960
CANVAS = 1280
CONCURRENCY = (1, 4)
REQUESTS = {1: PAGES, 4: 4}
PAIRED_ROUNDS = 3
ISSUE_BOUND = 0.35  # page latency / eager CRAFT forward, at most
# name -> (detector engine, precision, recognizer engine, precision); "default" is auto.
ENGINES: dict[str, tuple[str, str, str, str]] = {
    "torch fp32": ("craft", "auto", "crnn", "auto"),
    "ort fp32": ("craft-onnx", "fp32", "crnn-onnx", "fp32"),
    "ort int8": ("craft-onnx", "int8", "crnn-onnx", "int8"),
    "torch winograd": ("craft", "winograd", "crnn-onnx", "int8"),
    "default": ("auto", "auto", "auto", "auto"),
}


def essay_pages() -> list[tuple[bytes, str]]:
    """PNG bytes and text of 20-line 1280x960 pages."""
    texts = [ESSAY, *OTHER_ESSAYS]
    pages = []
    for index in range(PAGES):
        rotation = texts[index:] + texts[:index]
        page = render_page("|".join(rotation * 2), width=WIDTH, font_size=26, max_lines=LINES)
        assert len(page.lines) == LINES, len(page.lines)
        assert page.image.size == (WIDTH, HEIGHT), page.image.size
        pages.append((png_bytes(page.image), page.text))
    return pages


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def craft_floor() -> float:
    """One eager float32 torch CRAFT forward on a 1280x960 page (best of 2, after warm-up)."""
    import torch

    model = load_craft(packaged_weights("craft_mlt_25k.pth"))
    batch = torch.rand(1, 3, HEIGHT, WIDTH)
    with torch.inference_mode():
        model(batch)
        return best_of(lambda: model(batch), 2)


def paired_ratios(detector: Any, recognizer: Any, data: bytes) -> list[float]:
    """In one process, each round one eager CRAFT forward then one default page (in process,
    as profiled), and their ratio: load from other work on the machine moves both alike,
    where the floor and the server pages, minutes apart, may see different load."""
    import torch

    model = load_craft(packaged_weights("craft_mlt_25k.pth"))
    batch = torch.rand(1, 3, HEIGHT, WIDTH)
    ratios = []
    with torch.inference_mode():
        model(batch)
        for _ in range(PAIRED_ROUNDS):
            floor = best_of(lambda: model(batch), 1)
            stages, _ = profile_page(detector, recognizer, data, runs=1)
            ratios.append(stages["page"] / floor)
    return ratios


def engine_env(engine: tuple[str, str, str, str]) -> dict[str, str]:
    detector, det_precision, recognizer, rec_precision = engine
    return {
        "OCR_DETECTOR__ENGINE": detector,
        "OCR_DETECTOR__PRECISION": det_precision,
        "OCR_RECOGNIZER__ENGINE": recognizer,
        "OCR_RECOGNIZER__PRECISION": rec_precision,
        "OCR_DETECTOR__CANVAS_SIZE": str(CANVAS),
    }


def engine_settings(engine: tuple[str, str, str, str]) -> OcrSettings:
    detector, det_precision, recognizer, rec_precision = engine
    return OcrSettings(
        device="cpu",
        detector={"engine": detector, "precision": det_precision, "canvas_size": CANVAS},  # type: ignore[arg-type]
        recognizer={"engine": recognizer, "precision": rec_precision},  # type: ignore[arg-type]
    )


def profile_page(
    detector: Any, recognizer: Any, data: bytes, runs: int = 2
) -> tuple[dict[str, float], Reading]:
    """Seconds per stage of one page, as the server runs them (the last of ``runs``)."""
    stages: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
        stages[name] = elapsed
        return result

    thresholds = Thresholds()
    for _ in range(runs):
        page = timed("decode", lambda: np.asarray(decode_image(data)))
        batch, resized = timed("resize", lambda: prepare_batch([page], CANVAS, 1.0))  # noqa: B023
        maps = timed("forward", lambda: detector.forward(batch))  # noqa: B023
        quads = timed("postprocess", lambda: boxes_from_maps(maps, resized, thresholds)[0])  # noqa: B023
        lines = timed("layout_crops", lambda: lay_out_lines(page, quads))  # noqa: B023
        results = timed("recognize", lambda: recognizer.recognize([ln.crop for ln in lines]))  # noqa: B023
    stages["page"] = sum(stages.values())
    reading = Reading([line.box for line in lines], "\n".join(r.text for r in results))
    return stages, reading


async def load_server(
    base: str, pages: list[bytes], concurrency: int, requests: int
) -> tuple[dict[str, float], dict[int, Any]]:
    """Pages/s and latency at ``concurrency``; the answers by page index."""
    latencies: list[float] = []
    answers: dict[int, Any] = {}
    queue = list(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            index = queue.pop()
            started = time.perf_counter()
            response = await client.post(
                "/v1/ocr", files={"file": ("p.png", pages[index % len(pages)])}
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
            answers[index % len(pages)] = response.json()

    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    row = {
        "concurrency": concurrency,
        "pages": requests,
        "pages_per_s": requests / wall,
        "latency_p50_s": statistics.median(latencies),
        "latency_max_s": max(latencies),
    }
    return row, answers


def measure_server(
    engine: tuple[str, str, str, str], pages: list[bytes], workdir: Path
) -> tuple[list[dict[str, float]], list[Reading], dict[str, Any]]:
    """The server at each concurrency, its readings of the pages (from c=1), and the
    engine each model resolved to (from /v1/models)."""
    port = free_port()
    env = {"OCR_PORT": str(port), "OCR_DEVICE": "cpu", "OCR_LOG_LEVEL": "WARNING"}
    env.update(engine_env(engine))
    base = f"http://127.0.0.1:{port}"
    rows: list[dict[str, float]] = []
    answers: dict[int, Any] = {}
    with running_process(
        ["python", "-m", "inference.ocr_server"],
        env=env,
        ready_url=f"{base}/readyz",
        log_path=workdir / f"server-{port}.log",
    ):
        models = httpx.get(f"{base}/v1/models", timeout=30).json()["data"]
        resolved: dict[str, Any] = {
            card["role"]: card["details"].get("engine", "torch") for card in models
        }
        for card in models:  # how an auto engine was chosen here, and what each candidate took
            if "choice" in card["details"]:
                resolved[f"{card['role']}_choice"] = card["details"]["choice"]
        asyncio.run(load_server(base, pages[:1], 1, 1))  # warm-up
        for level in CONCURRENCY:
            row, got = asyncio.run(load_server(base, pages, level, REQUESTS[level]))
            rows.append(row)
            answers = answers or got
    readings = [
        Reading(
            [tuple(line["box"]) for line in answers[i]["lines"]],
            "\n".join(line["text"] for line in answers[i]["lines"]),
        )
        for i in range(len(pages))
    ]
    return rows, readings, resolved  # type: ignore[return-value]


def measure_engine(
    name: str, pages: list[tuple[bytes, str]], torch_boxes: list[list[Any]] | None, workdir: Path
) -> dict[str, Any]:
    engine = ENGINES[name]
    server, readings, resolved = measure_server(engine, [data for data, _ in pages], workdir)
    row: dict[str, Any] = {
        "engines": dict(
            zip(("detector", "det_precision", "recognizer", "rec_precision"), engine, strict=True)
        ),
        "resolved": resolved,
        "server": server,
        "cer": float(
            np.mean([cer(text, r.text) for (_, text), r in zip(pages, readings, strict=True)])
        ),
        "boxes": [r.boxes for r in readings],
    }
    if torch_boxes is not None:
        matched = total = 0
        for ref, reading in zip(torch_boxes, readings, strict=True):
            m, t = box_matches(ref, reading.boxes)
            matched, total = matched + m, total + t
        row["box_share_vs_torch"] = matched / total
    if name == "default":
        detector, recognizer = build(engine_settings(engine))
        row["in_process_s"], _ = profile_page(detector, recognizer, pages[0][0])
        row["paired_page_x_floor"] = paired_ratios(detector, recognizer, pages[0][0])
    log.info("engine measured", extra={"engine": name, "server": server})
    return row


def trocr_split(workdir: Path) -> dict[str, float]:
    """Where the tiny TrOCR's time goes for 20 lines: is an ONNX encoder worth it?"""
    import torch
    from PIL import Image

    from inference.device import Placement
    from inference.ocr_server.recognizers.trocr import TrocrRecognizer
    from tests.inference.ocr.tiny_trocr import build_tiny_trocr
    from tests.triton import media

    recognizer = TrocrRecognizer(
        build_tiny_trocr(workdir / "tiny-trocr"), Placement("cpu", False), max_new_tokens=32
    )
    crops = [media.line_crop(media.LINES[i % len(media.LINES)]) for i in range(LINES)]
    recognizer.recognize(crops)  # warm-up
    total = best_of(lambda: recognizer.recognize(crops), 3)
    images = [Image.fromarray(crop) for crop in crops]
    pixels = recognizer._processor(images=images, return_tensors="pt").pixel_values
    with torch.inference_mode():
        encoder = best_of(lambda: recognizer._model.encoder(pixel_values=pixels), 3)
    return {"recognize_20_lines_s": total, "encoder_s": encoder, "encoder_share": encoder / total}


def main() -> None:
    with bench_lock():
        measure()


def measure() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    pages = essay_pages()
    floors = [craft_floor()]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ENGINES:
            torch_boxes = results["torch fp32"]["boxes"] if results else None
            results[name] = measure_engine(name, pages, torch_boxes, Path(tmp))
        trocr = trocr_split(Path(tmp))
    floors.append(craft_floor())
    floor = min(floors)
    torch_cer = results["torch fp32"]["cer"]
    for row in results.values():
        row.pop("boxes")
        row["cer_increase_vs_torch"] = row["cer"] - torch_cer
        for level in row["server"]:
            level["latency_x_floor"] = level["latency_p50_s"] / floor
    default = results["default"]
    payload = {
        "device": "cpu",
        "cpu_count": os.cpu_count(),
        "pages": PAGES,
        "lines_per_page": LINES,
        "page_size": [WIDTH, HEIGHT],
        "canvas_size": CANVAS,
        "craft_floor_s": floor,
        "craft_floor_runs_s": floors,
        "engines": results,
        "trocr_tiny": trocr,
        "gpu": "not measured (no GPU in this run)",
        "note": (
            f"default page {default['server'][0]['latency_p50_s']:.2f} s through the server "
            f"= {default['server'][0]['latency_x_floor']:.2f}x the eager CRAFT forward "
            f"({floor:.2f} s; bound {ISSUE_BOUND}x); in process "
            f"{default['in_process_s']['page']:.2f} s = "
            f"{default['in_process_s']['page'] / floor:.2f}x; paired in process (median of "
            f"{PAIRED_ROUNDS}) {statistics.median(default['paired_page_x_floor']):.2f}x; "
            f"CER {default['cer']:.4f} vs torch {torch_cer:.4f}"
        ),
    }
    write_json("ocr", payload)
    plot(payload)
    log.info(payload["note"])


def plot(payload: dict[str, Any]) -> None:
    figure, (latency_axis, stage_axis) = new_figure(1, 2, figsize=(12, 4.5))
    names = list(payload["engines"])
    x = np.arange(len(names))
    floor = payload["craft_floor_s"]
    for offset, level in ((-0.2, 0), (0.2, 1)):
        values = [payload["engines"][n]["server"][level]["latency_p50_s"] for n in names]
        concurrency = payload["engines"][names[0]]["server"][level]["concurrency"]
        latency_axis.bar(x + offset, values, 0.4, label=f"server page latency, c={concurrency}")
    latency_axis.axhline(floor, color="black", linestyle="--", label="eager CRAFT forward")
    latency_axis.axhline(
        ISSUE_BOUND * floor, color="tab:red", linestyle=":", label=f"{ISSUE_BOUND}x floor"
    )
    labels = [f"{n}\nCER {payload['engines'][n]['cer']:.3f}" for n in names]
    latency_axis.set_xticks(x, labels)
    latency_axis.set_ylabel("seconds per 20-line 1280x960 page")
    latency_axis.legend(fontsize=8)
    stages = payload["engines"]["default"]["in_process_s"]
    parts = [key for key in stages if key != "page"]
    stage_axis.barh(parts, [stages[key] for key in parts], color="tab:green")
    stage_axis.axvline(floor, color="black", linestyle="--", label="eager CRAFT forward")
    stage_axis.set_xlabel("seconds (default engines, in process)")
    stage_axis.set_title("Where a default page goes")
    stage_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png_path("ocr"), dpi=120)


if __name__ == "__main__":
    from inference.logs import configure_logging

    configure_logging("INFO", json_lines=False)
    main()
