"""Triton dynamic batching on vs off for the OCR recognizer (crnn), concurrency 8.

Both variants are served by one local tritonserver in the same run: ``crnn`` as
configured (max_batch_size 32, dynamic batching) and ``crnn_unbatched`` (max_batch_size
1: every request is its own ``execute``). Eight client threads send rendered line crops
as fast as answers come back; throughput is lines per second. Needs `make triton-local`
(run here when missing).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import new_figure, png_path, write_json
from triton_models.repository import write_model

log = logging.getLogger("bench.triton")

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY = 8
REQUESTS = 96
ROUNDS = 3
VARIANTS = {"batching on": "crnn", "batching off (max_batch_size 1)": "crnn_unbatched"}
WORDS = [
    "students",
    "review",
    "the",
    "chapter",
    "on",
    "energy",
    "and",
    "motion",
    "before",
    "the",
    "final",
    "exam",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _crops(count: int) -> list[np.ndarray]:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 26)
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(count):
        text = " ".join(rng.choice(WORDS, size=4))
        image = Image.new("RGB", (int(font.getlength(text)) + 16, 40), "white")
        ImageDraw.Draw(image).text((8, 4), text, fill="black", font=font)
        crops.append(np.asarray(image, dtype=np.uint8))
    return crops


@contextmanager
def _triton(repository: Path, weights: Path, log_path: Path) -> Iterator[str]:
    subprocess.run(["bash", str(REPO / "scripts" / "triton_local.sh")], check=True)
    http = _free_port()
    args = [
        "bash",
        str(REPO / "scripts" / "triton_start.sh"),
        "--repository",
        str(repository),
        "--http-port",
        str(http),
        "--grpc-port",
        str(_free_port()),
        "--metrics-port",
        str(_free_port()),
    ]
    env = {**os.environ, "TRITON_MODELS_WEIGHTS_ROOT": str(weights)}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{http}/v2/health/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            else:
                raise RuntimeError(f"tritonserver did not start; see {log_path}")
            yield f"127.0.0.1:{http}"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _run(url: str, model: str, crops: list[np.ndarray]) -> float:
    """Lines per second with CONCURRENCY clients each waiting for its answer."""
    import tritonclient.http as httpclient

    lock = threading.Lock()
    queue = list(range(len(crops)))

    def client_loop() -> None:
        with httpclient.InferenceServerClient(url, network_timeout=300.0) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    index = queue.pop()
                crop = crops[index][np.newaxis]
                image = httpclient.InferInput("IMAGE", list(crop.shape), "UINT8")
                image.set_data_from_numpy(crop)
                client.infer(model, [image])

    threads = [threading.Thread(target=client_loop) for _ in range(CONCURRENCY)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(crops) / (time.perf_counter() - started)


def _batch_sizes(url: str, model: str) -> dict[int, int]:
    stats = httpx.get(f"http://{url}/v2/models/{model}/stats").json()["model_stats"]
    return {
        int(b["batch_size"]): int(b["compute_infer"]["count"])
        for s in stats
        for b in s.get("batch_stats", [])
    }


def _plot(results: dict[str, Any]) -> Path:
    fig, ax = new_figure(figsize=(6, 4))
    names = list(results)
    ax.bar(names, [results[n]["lines_per_second"] for n in names], color=["#3a7", "#999"])
    ax.set_ylabel("lines per second (higher is better)")
    ax.set_title(f"Triton crnn, concurrency {CONCURRENCY}, CPU")
    path = png_path("triton")
    fig.tight_layout()
    fig.savefig(path)
    return path


def main() -> None:
    import easyocr_en_models

    with tempfile.TemporaryDirectory(prefix="bench-triton-") as tmp:
        root = Path(tmp)
        weights = root / "weights"
        (weights / "crnn").mkdir(parents=True)
        (weights / "crnn" / "1").symlink_to(Path(easyocr_en_models.__file__).parent / "models")
        repository = root / "models"
        write_model(repository, "crnn", kind="KIND_CPU")
        write_model(
            repository,
            "crnn",
            name="crnn_unbatched",
            kind="KIND_CPU",
            max_batch_size=1,
            parameters={"weights": "crnn/{version}"},
        )
        crops = _crops(REQUESTS)
        with _triton(repository, weights, root / "tritonserver.log") as url:
            for model in VARIANTS.values():
                httpx.post(f"http://{url}/v2/repository/models/{model}/load", timeout=300)
                _run(url, model, crops[:16])  # warm-up
            rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for _ in range(ROUNDS):  # interleaved, so drift hits both alike
                for name, model in VARIANTS.items():
                    rates[name].append(_run(url, model, crops))
            results: dict[str, dict[str, Any]] = {
                name: {
                    "model": model,
                    "lines_per_second": float(np.median(rates[name])),
                    "rounds": rates[name],
                    "batch_sizes": _batch_sizes(url, model),
                }
                for name, model in VARIANTS.items()
            }
    on, off = (float(results[name]["lines_per_second"]) for name in VARIANTS)
    write_json(
        "triton",
        {
            "concurrency": CONCURRENCY,
            "requests_per_round": REQUESTS,
            "rounds": ROUNDS,
            "results": results,
            "speedup_batching_on_vs_off": on / off,
        },
    )
    _plot(results)
    log.info(
        "triton bench",
        extra={"on": round(on, 1), "off": round(off, 1), "ratio": round(on / off, 2)},
    )
