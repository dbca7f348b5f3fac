"""How long the transport takes to stamp a message after ``BRPOP`` returns.

Across worker processes, the order of a row's saves is exact only for pushes further
apart than this window (docs/worker.md, "Ordering"). Measured here the way the transport
does it: kombu's JSON decode of the item, then one Redis round trip for the seq (the
task-message check comes after the draw), for a short essay up to a long transcript.

    python -m bench receipt      # bench/results/receipt.json + receipt.png
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
import uuid
from typing import Any

import redis

from bench.common import new_figure, png_path, write_json
from demo.go_backend import build_message
from worker.broker import is_task_message
from worker.receipt import NEXT_SEQ, stamp

REDIS = "redis://127.0.0.1:6379/12"  # bench only; keys of its own, never flushed
MESSAGES = 300
SIZES = (1_000, 10_000, 100_000)


def _window(client: redis.Redis, chars: int) -> dict[str, Any]:
    queue, seq_key = f"bench:receipt:{uuid.uuid4()}", f"bench:receipt-seq:{uuid.uuid4()}"
    content = ("老師說期末考範圍到第五章。<重點> & 習題 " * (chars // 20 + 1))[:chars]
    spans: list[float] = []
    try:
        for _ in range(MESSAGES):
            row = str(uuid.uuid4())
            kwargs = {"id": row, "content": content, "prompt": ""}
            client.lpush(queue, build_message("tasks.NLP_edit_ASR", kwargs, row))
            popped = client.rpop(queue)  # what BRPOP returns, without blocking
            assert isinstance(popped, bytes)
            started = time.perf_counter()
            message = json.loads(popped)  # kombu's decode, then the transport's draw
            seq = int(client.eval(NEXT_SEQ, 1, seq_key))
            spans.append(time.perf_counter() - started)
            assert is_task_message(message)  # after the draw: not in the window
            stamp(message, itertools.repeat(seq).__next__)
    finally:
        client.delete(queue, seq_key)
    spans.sort()
    return {
        "chars": chars,
        "messages": MESSAGES,
        "median_ms": round(statistics.median(spans) * 1e3, 3),
        "p99_ms": round(spans[int(len(spans) * 0.99)] * 1e3, 3),
        "max_ms": round(spans[-1] * 1e3, 3),
    }


def main() -> None:
    client = redis.Redis.from_url(REDIS)
    windows = [_window(client, chars) for chars in SIZES]
    write_json("receipt", {"windows": windows})
    fig, ax = new_figure(figsize=(6, 4))
    xs = [str(w["chars"]) for w in windows]
    for key in ("median_ms", "p99_ms", "max_ms"):
        ax.plot(xs, [w[key] for w in windows], "o-", label=key.removesuffix("_ms"))
    ax.set(xlabel="content (chars)", ylabel="ms after BRPOP", title="Stamping window")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path("receipt"))
