"""What the transport's take costs, and the ordering window it closed.

The transport takes a task message and draws its seq in one Redis script, after a
``BLMOVE celery celery RIGHT RIGHT`` wake-up (docs/worker.md, "Ordering"): no window in
which another worker can pop or draw. Measured here, paired in one run, for a short
essay up to a long transcript, the item already in the queue:

* ``atomic``: the take as it is now: the wake-up, the script, kombu's JSON decode;
* ``brpop``: the take without BLMOVE (Redis < 6.2, the fallback): ``BRPOP``, the decode,
  then the seq in a second round trip; ``window`` is the part after ``BRPOP`` returned,
  in which another worker's pop could be ordered before this one.

    python -m bench receipt      # bench/results/receipt.json + receipt.png
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

import redis

from bench.common import new_figure, png_path, write_json
from demo.go_backend import build_message
from worker.receipt import NEXT_SEQ, POP_WITH_SEQ

REDIS = "redis://127.0.0.1:6379/12"  # bench only; keys of its own, never flushed
MESSAGES = 300
SIZES = (1_000, 10_000, 100_000)


def _stats(spans: list[float]) -> dict[str, float]:
    spans = sorted(spans)
    return {
        "median_ms": round(statistics.median(spans) * 1e3, 3),
        "p99_ms": round(spans[int(len(spans) * 0.99)] * 1e3, 3),
        "max_ms": round(spans[-1] * 1e3, 3),
    }


def _takes(client: redis.Redis, chars: int) -> dict[str, Any]:
    queue, seq_key = f"bench:receipt:{uuid.uuid4()}", f"bench:receipt-seq:{uuid.uuid4()}"
    content = ("老師說期末考範圍到第五章。<重點> & 習題 " * (chars // 20 + 1))[:chars]
    atomic: list[float] = []
    brpop: list[float] = []
    window: list[float] = []
    try:
        for _ in range(MESSAGES):
            row = str(uuid.uuid4())
            raw = build_message("tasks.NLP_edit_ASR", {"id": row, "content": content}, row)
            client.lpush(queue, raw)
            started = time.perf_counter()
            client.blmove(queue, queue, 1, "RIGHT", "RIGHT")
            _, item, _ = client.eval(POP_WITH_SEQ, 2, queue, seq_key)
            json.loads(item)
            atomic.append(time.perf_counter() - started)

            client.lpush(queue, raw)
            started = time.perf_counter()
            popped = client.brpop([queue], 1)
            assert popped is not None
            returned = time.perf_counter()
            json.loads(popped[1])
            int(client.eval(NEXT_SEQ, 1, seq_key))
            ended = time.perf_counter()
            brpop.append(ended - started)
            window.append(ended - returned)
    finally:
        client.delete(queue, seq_key)
    return {
        "chars": chars,
        "messages": MESSAGES,
        "atomic": _stats(atomic),
        "brpop": _stats(brpop),
        "brpop_window": _stats(window),
    }


def main() -> None:
    client = redis.Redis.from_url(REDIS)
    takes = [_takes(client, chars) for chars in SIZES]
    write_json("receipt", {"takes": takes})
    fig, ax = new_figure(figsize=(6, 4))
    xs = [str(t["chars"]) for t in takes]
    for key, label in (
        ("atomic", "atomic take"),
        ("brpop", "BRPOP + seq"),
        ("brpop_window", "window"),
    ):
        ax.plot(xs, [t[key]["median_ms"] for t in takes], "o-", label=f"{label} (median)")
    ax.set(xlabel="content (chars)", ylabel="ms", title="Taking a message off the queue")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path("receipt"))
