"""Worker overhead and LLM efficiency.

1. Missions per second through Redis: raw Go-style messages (``OCR_predict_Text``) into a
   real worker process (thread pool) backed by SQLite, with a local OpenAI-compatible
   server answering in fixed latency. Baseline in the same run: the same worker on the
   ``solo`` pool, one mission at a time (the seed's shape of work per slot).
2. Prompt tokens and wall time of a long lecture: the map-reduce conversation against the
   seed's growing conversation, same server, same prompts, same run.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from Crypto.PublicKey import RSA

from bench.common import new_figure, png_path, write_json
from demo.go_backend import push
from tests.support.fake_llm import FakeLLM
from worker.crypto import encrypt_v1
from worker.llm import ChatSession, Credentials, Endpoints, build_routes
from worker.prompts import PromptBook
from worker.seed_conversation import summarize_like_seed
from worker.store import create_engine, create_schema, files
from worker.summarize import summarize_lecture

log = logging.getLogger("bench.worker")

REDIS_DB = 15
LATENCY_S = 0.2
ESSAY = "My Dream\n    I want to be a teacher because I like helping people learn. " * 3
SENTENCE = "今天我們討論傅立葉轉換與頻譜分析，老師提醒期末考會考這個部分，範圍到第五章。"


def _throughput(pool: list[str], missions: int, llm: FakeLLM, base: Path) -> dict[str, Any]:
    key = RSA.generate(2048)
    (base / "key.pem").write_bytes(key.export_key("PEM"))
    db_url = f"sqlite:///{base / f'bench-{uuid.uuid4().hex[:6]}.db'}"
    engine = create_engine(db_url)
    create_schema(engine)
    client = redis.Redis(db=REDIS_DB)
    client.flushdb()
    env = {
        "REDIS_DB": str(REDIS_DB),
        "DATABASE_URL": db_url,
        "PRIVATE_KEY_PATH": str(base / "key.pem"),
        "OPENAI_BASE_URL": llm.url,
        "LOG_LEVEL": "WARNING",
    }
    credential = encrypt_v1("sk-bench", key.public_key())
    ids = [str(uuid.uuid4()) for _ in range(missions)]
    with engine.begin() as conn:
        conn.execute(
            files.insert(),
            [
                {
                    "id": i,
                    "user_mail": "b@example.com",
                    "status": "PENDING",
                    "type": "OCR",
                    "created_at": datetime(2024, 1, 1),
                }
                for i in ids
            ],
        )
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.app",
        "worker",
        *pool,
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"bench-{uuid.uuid4().hex[:6]}@%h",
    ]
    import os

    proc = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        # Warm-up mission: process start and first connections are not per-mission cost.
        warm = str(uuid.uuid4())
        with engine.begin() as conn:
            conn.execute(
                files.insert().values(
                    id=warm,
                    user_mail="b@example.com",
                    status="PENDING",
                    type="OCR",
                    created_at=datetime(2024, 1, 1),
                )
            )
        kwargs = {
            "content": ESSAY,
            "prompt": "",
            "api_key": credential.data,
            "key_api_key": credential.key,
            "access_token": "",
            "key_access_token": "",
        }
        push(client, "tasks.OCR_predict_Text", {"id": warm, **kwargs})
        _wait(engine, [warm], 120)
        started = time.perf_counter()
        for file_id in ids:
            push(client, "tasks.OCR_predict_Text", {"id": file_id, **kwargs})
        _wait(engine, ids, 120)
        wall = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)
        engine.dispose()
    return {
        "pool": " ".join(pool),
        "missions": missions,
        "wall_s": round(wall, 3),
        "missions_per_s": round(missions / wall, 2),
        "overhead_per_mission_s": round(wall / missions - LATENCY_S, 4)
        if pool[-1] == "solo"
        else None,
    }


def _wait(engine: sa.Engine, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = sa.select(sa.func.count()).where(files.c.id.in_(ids), files.c.status == "SUCCESS")
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one() == len(ids):
                return
        time.sleep(0.05)
    raise TimeoutError("missions did not finish")


def _lecture(llm: FakeLLM, chars: int) -> dict[str, Any]:
    prompts = PromptBook()
    transcript = (SENTENCE * (chars // len(SENTENCE) + 1))[:chars]
    endpoints = Endpoints(llm.url, "bench", None, None, 60.0, 2)

    def chat() -> ChatSession:
        routes = build_routes(Credentials("sk-bench", None), endpoints)
        return ChatSession(
            routes, continue_prompt=prompts.text("continue"), max_continuations=2, concurrency=4
        )

    out: dict[str, Any] = {"chars": chars}
    for name in ("new", "seed"):
        llm.reset()
        session = chat()
        started = time.perf_counter()
        if name == "new":
            summarize_lecture(
                session,
                prompts,
                transcript,
                "訊號與系統",
                chunk_chars=2500,
                notes_max_tokens=400,
                answer_max_tokens=1200,
            )
        else:
            summarize_like_seed(
                session, prompts, transcript, "訊號與系統", chunk_chars=2500, max_tokens=400
            )
        out[name] = {
            "prompt_tokens": llm.prompt_tokens(),
            "calls": len(llm.calls()),
            "wall_s": round(time.perf_counter() - started, 3),
        }
    out["token_ratio_seed_over_new"] = round(
        out["seed"]["prompt_tokens"] / out["new"]["prompt_tokens"], 2
    )
    out["wall_ratio_seed_over_new"] = round(out["seed"]["wall_s"] / out["new"]["wall_s"], 2)
    return out


def main() -> None:
    with FakeLLM(latency_s=LATENCY_S) as llm, tempfile.TemporaryDirectory() as tmp:
        lectures = [_lecture(llm, chars) for chars in (10_000, 30_000, 60_000)]
        threads = _throughput(["-P", "threads", "-c", "16"], 80, llm, Path(tmp))
        gevent = _throughput(["-P", "gevent", "-c", "64"], 80, llm, Path(tmp))
        solo = _throughput(["-P", "solo"], 10, llm, Path(tmp))
    payload = {
        "llm_latency_s": LATENCY_S,
        "lectures": lectures,
        "throughput": {
            "threads": threads,
            "gevent": gevent,
            "baseline_solo": solo,
            "speedup": round(threads["missions_per_s"] / solo["missions_per_s"], 2),
        },
    }
    write_json("worker", payload)
    fig, (left, right) = new_figure(1, 2, figsize=(11, 4))
    xs = [lecture["chars"] / 1000 for lecture in lectures]
    left.plot(xs, [lecture["seed"]["prompt_tokens"] for lecture in lectures], "o-", label="seed")
    left.plot(
        xs, [lecture["new"]["prompt_tokens"] for lecture in lectures], "o-", label="map-reduce"
    )
    left.set(xlabel="lecture length (k chars)", ylabel="prompt tokens", title="LLM prompt tokens")
    left.legend()
    right.bar(
        ["solo (baseline)", "threads x16", "gevent x64"],
        [solo["missions_per_s"], threads["missions_per_s"], gevent["missions_per_s"]],
    )
    right.set(ylabel="missions / s", title=f"End-to-end throughput (LLM {LATENCY_S}s)")
    fig.tight_layout()
    fig.savefig(png_path("worker"))
    log.info("worker bench", extra={"summary": payload})
