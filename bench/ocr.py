"""OCR benchmark: the seed's way against the server's, on the same 20-line essay pages.

* ``seed``: what each seed task did: load the detector and recognizer, detect, then one
  recognizer call per line (``generate`` per line for TrOCR).
* ``batched``: the models loaded once and every line of a page in one recognizer call.
* ``server``: the running OCR server over HTTP at concurrency 1, 4 and 8 (pages/s and
  page latency), with detection and recognition batched across requests.

Recognition is compared for the real CRNN and for a tiny random-weight TrOCR (same
``generate`` path as a real checkpoint; its absolute times are small, the ratio is the
point). Writes ``bench/results/ocr.json`` and ``ocr.png``.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import new_figure, png_path, write_json
from inference.device import choose_placement
from inference.ocr_server.detectors.craft import CraftDetector
from inference.ocr_server.layout import lay_out_lines
from inference.ocr_server.recognizers import LineRecognizer
from inference.ocr_server.recognizers.crnn import CrnnRecognizer
from inference.ocr_server.recognizers.trocr import TrocrRecognizer
from inference.ocr_server.settings import packaged_weights
from tests.inference.ocr.pages import ESSAY, OTHER_ESSAYS, png_bytes, render_page
from tests.inference.ocr.tiny_trocr import build_tiny_trocr
from tests.support.services import free_port, running_process

log = logging.getLogger("bench.ocr")

PAGES = 3
LINES = 20
CONCURRENCY = (1, 4, 8)
# Enough requests for every concurrency level to be full once; kept small because a page
# takes seconds on a CPU and the whole run must stay within a few minutes.
MIN_REQUESTS = 4
REPEATS = 3
CANVAS = 1280


def essay_pages() -> list[np.ndarray]:
    texts = [ESSAY, *OTHER_ESSAYS]
    pages = []
    for index in range(PAGES):
        rotation = texts[index:] + texts[:index]
        page = render_page("|".join(rotation * 2), max_lines=LINES)
        assert len(page.lines) == LINES
        pages.append(np.asarray(page.image))
    return pages


def seed_page(page: np.ndarray, load_recognizer: Callable[[], LineRecognizer]) -> float:
    """One seed task: load both models, detect, recognize line by line."""
    started = time.perf_counter()
    detector = CraftDetector(
        packaged_weights("craft_mlt_25k.pth"), choose_placement("auto"), canvas_size=CANVAS
    )
    recognizer = load_recognizer()
    lines = lay_out_lines(page, detector.detect([page])[0])
    for line in lines:
        recognizer.recognize([line.crop])
    return time.perf_counter() - started


def recognition_times(recognizer: LineRecognizer, crops: list[np.ndarray]) -> dict[str, float]:
    """Best of ``REPEATS`` alternating runs: the machine is shared, and the minimum is the
    least disturbed measurement of each way."""
    recognizer.recognize(crops[:2])  # warm-up
    per_line, batched = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for crop in crops:
            recognizer.recognize([crop])
        per_line.append(time.perf_counter() - started)
        started = time.perf_counter()
        recognizer.recognize(crops)
        batched.append(time.perf_counter() - started)
    best_line, best_batch = min(per_line), min(batched)
    return {"per_line_s": best_line, "batched_s": best_batch, "speedup": best_line / best_batch}


def batched_page(page: np.ndarray, detector: CraftDetector, recognizer: LineRecognizer) -> float:
    started = time.perf_counter()
    lines = lay_out_lines(page, detector.detect([page])[0])
    recognizer.recognize([line.crop for line in lines])
    return time.perf_counter() - started


async def load_server(base: str, pages: list[bytes], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    requests = max(MIN_REQUESTS, concurrency)
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

    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "pages": requests,
        "pages_per_s": requests / wall,
        "latency_p50_s": statistics.median(latencies),
        "latency_max_s": max(latencies),
    }


def measure_server(pages: list[np.ndarray], workdir: Path) -> list[dict[str, float]]:
    port = free_port()
    env = {
        "OCR_PORT": str(port),
        "OCR_DETECTOR__CANVAS_SIZE": str(CANVAS),
        "OCR_LOG_LEVEL": "WARNING",
    }
    base = f"http://127.0.0.1:{port}"
    encoded = [png_bytes(_image(page)) for page in pages]
    with running_process(
        ["python", "-m", "inference.ocr_server"],
        env=env,
        ready_url=f"{base}/readyz",
        log_path=workdir / "server.log",
    ):
        asyncio.run(load_server(base, encoded[:1], 1))  # warm-up
        return [asyncio.run(load_server(base, encoded, level)) for level in CONCURRENCY]


def _image(page: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(page)


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    placement = choose_placement("auto")
    pages = essay_pages()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        trocr_dir = build_tiny_trocr(workdir / "tiny-trocr")
        crnn_path = packaged_weights("english_g2.pth")

        def load_crnn() -> LineRecognizer:
            return CrnnRecognizer(crnn_path, placement)

        detector = CraftDetector(
            packaged_weights("craft_mlt_25k.pth"), placement, canvas_size=CANVAS
        )
        crnn = CrnnRecognizer(crnn_path, placement)
        trocr = TrocrRecognizer(trocr_dir, placement, max_new_tokens=32)
        # Warm-up (kernels, allocator) so a seed page pays only what every seed task paid:
        # loading the models. Then the two ways alternate page by page, so both see the
        # same load on a shared machine.
        batched_page(pages[0], detector, crnn)
        seed_times, batched_times = [], []
        for page in pages:
            seed_times.append(seed_page(page, load_crnn))
            batched_times.append(batched_page(page, detector, crnn))
        log.info("pages done", extra={"seed_s": seed_times, "batched_s": batched_times})
        crops = [line.crop for line in lay_out_lines(pages[0], detector.detect([pages[0]])[0])]
        recognition = {
            "crnn": recognition_times(crnn, crops),
            "trocr_tiny": recognition_times(trocr, crops),
        }
        server = measure_server(pages, workdir)

    # Medians: one page disturbed by a neighbour on the shared machine must not decide.
    seed_pps = 1.0 / statistics.median(seed_times)
    batched_pps = 1.0 / statistics.median(batched_times)
    best = max(server, key=lambda row: row["pages_per_s"])
    payload = {
        "device": placement.device,
        "pages": PAGES,
        "lines_per_page": LINES,
        "canvas_size": CANVAS,
        "seed": {"page_s": seed_times, "pages_per_s": seed_pps},
        "batched_in_process": {"page_s": batched_times, "pages_per_s": batched_pps},
        "recognition_per_page": recognition,
        "server": server,
        "reading": (
            "On a CPU, CRAFT takes most of a page and already keeps every core busy, so "
            "concurrent pages wait for each other (latency grows, pages/s stays) and the "
            "seed's model loading (CRAFT + CRNN, about 0.3 s) is a small share of a page; "
            "batching pays where the per-call overhead is large: TrOCR's generate, and "
            "every model on a GPU."
            if placement.device == "cpu"
            else "GPU run: batching shares each model call across lines and pages."
        ),
        "note": (
            f"batched pipeline {batched_pps / seed_pps:.2f}x the seed's pages/s in process; "
            f"server best {best['pages_per_s'] / seed_pps:.2f}x at concurrency "
            f"{best['concurrency']} (c=8 vs c=1: "
            f"{server[-1]['pages_per_s'] / server[0]['pages_per_s']:.2f}x); "
            f"recognition of {LINES} lines batched vs per line (best of {REPEATS}): "
            f"CRNN {recognition['crnn']['speedup']:.1f}x, "
            f"TrOCR generate {recognition['trocr_tiny']['speedup']:.1f}x"
        ),
    }
    write_json("ocr", payload)
    plot(payload)
    log.info(payload["note"])


def plot(payload: dict[str, Any]) -> None:
    figure, (pages_axis, recog_axis) = new_figure(1, 2, figsize=(11, 4))
    labels = ["seed\n(load+per line)", "batched\nin process"]
    values = [payload["seed"]["pages_per_s"], payload["batched_in_process"]["pages_per_s"]]
    for row in payload["server"]:
        labels.append(f"server\nc={row['concurrency']}")
        values.append(row["pages_per_s"])
    pages_axis.bar(labels, values, color=["grey", "tab:blue"] + ["tab:green"] * len(CONCURRENCY))
    pages_axis.set_ylabel("pages / s (20-line essays)")
    pages_axis.set_title("Page throughput")
    names = list(payload["recognition_per_page"])
    x = np.arange(len(names))
    per_line = [payload["recognition_per_page"][n]["per_line_s"] for n in names]
    batched = [payload["recognition_per_page"][n]["batched_s"] for n in names]
    recog_axis.bar(x - 0.2, per_line, 0.4, label="one call per line (seed)", color="grey")
    recog_axis.bar(x + 0.2, batched, 0.4, label="one batched call", color="tab:blue")
    recog_axis.set_xticks(x, names)
    recog_axis.set_ylabel("seconds per page")
    recog_axis.set_title(f"Recognition of {LINES} lines")
    recog_axis.legend()
    figure.tight_layout()
    figure.savefig(png_path("ocr"), dpi=120)


if __name__ == "__main__":
    from inference.logs import configure_logging

    configure_logging("INFO", json_lines=False)
    main()
