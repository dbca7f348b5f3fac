"""Local LLM server: dynamic batching vs one request at a time, same model, same run.

Eight concurrent chat requests go through the shared DynamicBatcher in front of the
SmolLM2 engine, with ``max_batch_size`` 1 (the baseline: what a server without batching
does) and then 2, 4 and 8. Reported per setting: wall time, completion tokens per second
and mean request latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bench.common import new_figure, png_path, write_json
from inference.batcher import DynamicBatcher
from inference.llm_server.app import load_engine
from inference.llm_server.engine import Generation, GenerationJob, TransformersChatEngine, Turn
from inference.llm_server.settings import LlmSettings

log = logging.getLogger(__name__)

QUESTIONS = [
    "Name three planets.",
    "What is photosynthesis?",
    "Give me a tip for an English essay.",
    "Why is the sky blue?",
    "What does a mitochondrion do?",
    "Describe autumn in one sentence.",
    "What is an exam?",
    "Name a famous scientist.",
]
NEW_TOKENS = 32
BATCH_SIZES = (1, 2, 4, 8)


async def _serve(
    engine: TransformersChatEngine, jobs: list[GenerationJob], size: int
) -> dict[str, Any]:
    batcher: DynamicBatcher[GenerationJob, Generation] = DynamicBatcher(
        f"bench-{size}", engine.generate, max_batch_size=size, max_wait_ms=20.0
    )
    await batcher.start()
    latencies: list[float] = []

    async def one(job: GenerationJob) -> Generation:
        started = time.perf_counter()
        result = await batcher.submit(job)
        latencies.append(time.perf_counter() - started)
        return result

    started = time.perf_counter()
    results = await asyncio.gather(*(one(job) for job in jobs))
    wall = time.perf_counter() - started
    await batcher.stop()
    tokens = sum(r.completion_tokens for r in results)
    return {
        "max_batch_size": size,
        "wall_s": round(wall, 3),
        "completion_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 2),
        "mean_latency_s": round(sum(latencies) / len(latencies), 3),
        "batches": batcher.stats.batches,
    }


def main() -> None:
    settings = LlmSettings(device="cpu")
    started = time.perf_counter()
    engine = load_engine(settings)
    load_s = time.perf_counter() - started
    jobs = [
        GenerationJob(tuple(engine.render([Turn("user", q)])), NEW_TOKENS, temperature=0.0)
        for q in QUESTIONS
    ]
    engine.generate(jobs[:1])  # warm-up: first call pays one-off allocation costs
    runs = [asyncio.run(_serve(engine, jobs, size)) for size in BATCH_SIZES]
    baseline = runs[0]
    for run in runs:
        run["speedup_vs_baseline"] = round(run["tokens_per_s"] / baseline["tokens_per_s"], 2)
        log.info("llm batching", extra=run)
    write_json(
        "demo",
        {
            "what": "local LLM server: 8 concurrent chat requests through the dynamic batcher",
            "model": settings.served_model_name,
            "model_load_s": round(load_s, 2),
            "new_tokens_per_request": NEW_TOKENS,
            "baseline": baseline,
            "runs": runs,
        },
    )
    fig, (left, right) = new_figure(1, 2, figsize=(10, 4))
    labels = [str(r["max_batch_size"]) for r in runs]
    left.bar(labels, [r["tokens_per_s"] for r in runs], color=["grey"] + ["C0"] * (len(runs) - 1))
    left.set(xlabel="max_batch_size (1 = baseline)", ylabel="completion tokens / s")
    right.bar(
        labels, [r["mean_latency_s"] for r in runs], color=["grey"] + ["C1"] * (len(runs) - 1)
    )
    right.set(xlabel="max_batch_size (1 = baseline)", ylabel="mean request latency (s)")
    fig.suptitle("SmolLM2-135M on CPU: dynamic batching vs one request at a time")
    fig.tight_layout()
    fig.savefig(png_path("demo"))
