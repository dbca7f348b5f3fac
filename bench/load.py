"""Load: text missions pushed at once through real Redis, and a fixed-concurrency HTTP run
against the real ASR and OCR services.

* Missions: N ``OCR_predict_Text`` messages LPUSHed at once (the Go wire format) to a
  gevent worker, a local OpenAI-compatible server answering in 200-500 ms, results in
  MariaDB. A trigger on ``files`` records every write, so lost (not SUCCESS) and
  duplicated (written twice) rows are counted, not assumed. Baseline: missions sent one
  at a time to the idle system, in the same run.
* Services: a headless load generator (the Locust role) holds C requests in flight for a
  fixed number of requests; p50/p95 latency and error ratio. Baseline: concurrency 1.

``python -m bench load`` writes bench/results/load.json and load.png (1,000 missions);
tests/reliability/test_load.py runs the same code with 200.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa
from Crypto.PublicKey import RSA

from bench.common import new_figure, png_path, write_json
from demo.go_backend import build_message
from tests.reliability.harness import install_audit
from tests.support.fake_llm import FakeLLM
from tests.support.services import REPO, free_port, running_process
from worker.crypto import encrypt_v1
from worker.store import create_engine, create_schema, files

log = logging.getLogger(__name__)

REDIS = "redis://127.0.0.1:6379"
REDIS_DB = 12
MARIADB = "mysql+pymysql://root@127.0.0.1:3306"
ESSAY = "My Dream {n}\n    I want to be a teacher because I like helping people learn."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


@dataclass
class MissionStack:
    engine: sa.Engine
    redis: redis.Redis
    env: dict[str, str]
    public_key: RSA.RsaKey
    llm: FakeLLM


@contextmanager
def mission_stack(tmp: Path) -> Iterator[MissionStack]:
    server = sa.create_engine(f"{MARIADB}/test")
    name = f"studysavvy_load_{uuid.uuid4().hex[:8]}"
    with server.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    url = f"{MARIADB}/{name}?charset=utf8mb4"
    engine = create_engine(url)
    create_schema(engine)
    install_audit(engine)
    client = redis.Redis.from_url(f"{REDIS}/{REDIS_DB}")
    client.flushdb()
    key = RSA.generate(2048)
    (tmp / "key.pem").write_bytes(key.export_key("PEM"))
    try:
        with FakeLLM(latency_s=0.2) as llm:
            llm.state.latency_jitter_s = 0.3  # 200-500 ms per reply
            env = {
                "REDIS_HOST": "127.0.0.1",
                "REDIS_PORT": "6379",
                "REDIS_DB": str(REDIS_DB),
                "DATABASE_URL": url,
                "PRIVATE_KEY_PATH": str(tmp / "key.pem"),
                "OPENAI_BASE_URL": llm.url,
                "LOG_LEVEL": "WARNING",
            }
            yield MissionStack(engine, client, env, key.public_key(), llm)
    finally:
        engine.dispose()
        with server.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


def _messages(stack: MissionStack, count: int) -> tuple[list[str], list[bytes]]:
    envelope = encrypt_v1("sk-load-test-key", stack.public_key)
    creds = {"api_key": envelope.data, "key_api_key": envelope.key}
    creds |= {"access_token": "", "key_access_token": ""}
    ids = [str(uuid.uuid4()) for _ in range(count)]
    rows = [
        {"id": i, "user_mail": "load@example.com", "status": "PENDING", "type": "OCR",
         "created_at": datetime(2024, 5, 1), "resource": ""}
        for i in ids
    ]  # fmt: skip
    with stack.engine.begin() as conn:
        conn.execute(files.insert(), rows)
    messages = [
        build_message(
            "tasks.OCR_predict_Text", {"id": i, "content": ESSAY.format(n=n), "prompt": "", **creds}
        )
        for n, i in enumerate(ids)
    ]
    return ids, messages


def _outcome(stack: MissionStack, ids: list[str], pushed_at: dict[str, float]) -> dict[str, Any]:
    with stack.engine.connect() as conn:
        written = conn.execute(
            sa.text("SELECT id, status, UNIX_TIMESTAMP(at) AS at FROM files_audit")
        ).all()
        statuses = dict(conn.execute(sa.select(files.c.id, files.c.status)).all())
    wanted = set(ids)
    first: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in written:
        if row.id in wanted:
            counts[row.id] = counts.get(row.id, 0) + 1
            first.setdefault(row.id, float(row.at))
    latencies = [first[i] - pushed_at[i] for i in ids if i in first]
    return {
        "missions": len(ids),
        "success": sum(statuses.get(i) == "SUCCESS" for i in ids),
        "lost": sum(statuses.get(i) != "SUCCESS" for i in ids),
        "duplicates": sum(c - 1 for c in counts.values()),
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "latency_max_s": percentile(latencies, 100),
    }


def _wait_done(stack: MissionStack, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.engine.connect() as conn:
            pending = conn.execute(
                sa.select(sa.func.count()).where(files.c.id.in_(ids), files.c.status == "PENDING")
            ).scalar_one()
        if pending == 0:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{pending} of {len(ids)} missions still PENDING after {timeout}s")


def run_missions(count: int, baseline: int = 10, concurrency: int = 64) -> dict[str, Any]:
    """``count`` missions at once, and ``baseline`` one at a time, on one gevent worker."""
    with tempfile.TemporaryDirectory() as tmp, mission_stack(Path(tmp)) as stack:
        args = ["python", "-m", "celery", "-A", "worker.app", "worker", "-P", "gevent",
                "-c", str(concurrency), "--without-mingle", "--without-gossip",
                "-n", f"load-{uuid.uuid4().hex[:6]}@%h"]  # fmt: skip
        with running_process(args, env=stack.env, log_path=Path(tmp) / "worker.log"):
            solo_ids, solo_messages = _messages(stack, baseline)
            solo_pushed: dict[str, float] = {}
            for file_id, message in zip(solo_ids, solo_messages, strict=True):
                solo_pushed[file_id] = time.time()
                stack.redis.lpush("celery", message)
                _wait_done(stack, [file_id], 60)
            ids, messages = _messages(stack, count)
            started = time.time()
            stack.redis.lpush("celery", *messages)
            pushed = dict.fromkeys(ids, started)
            _wait_done(stack, ids, 60 + count * 0.5)
            elapsed = time.time() - started
        load = _outcome(stack, ids, pushed)
        load["wall_s"] = round(elapsed, 2)
        load["missions_per_s"] = round(count / elapsed, 1)
        llm_calls = len(stack.llm.calls())
        solo = _outcome(stack, solo_ids, solo_pushed)
    return {
        "worker": f"gevent x{concurrency}",
        "llm_latency_s": [0.2, 0.5],
        "llm_calls": llm_calls,
        "load": load,
        "baseline_one_at_a_time": solo,
    }


# -- ASR and OCR services at a fixed concurrency ----------------------------------------


def _speech(tmp: Path) -> bytes:
    wav = tmp / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav),
         "We will have a short quiz about the solar system next week."],
        check=True, capture_output=True,
    )  # fmt: skip
    return wav.read_bytes()


def _page() -> bytes:
    import io

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("DejaVuSans.ttf", 20)
    image = Image.new("RGB", (480, 140), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(["My Dream", "I want to be a teacher.", "I like helping people."]):
        draw.text((30, 20 + 36 * row), line, font=font, fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def _drive(url: str, name: str, data: bytes, total: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue = iter(range(total))
    async with httpx.AsyncClient(timeout=120) as client:

        async def user() -> None:
            for _ in queue:
                started = time.perf_counter()
                try:
                    response = await client.post(url, files={"file": (name, data)})
                    ok = response.status_code == 200
                    kind = str(response.status_code)
                except httpx.HTTPError as exc:
                    ok, kind = False, type(exc).__name__
                latencies.append(time.perf_counter() - started)
                if not ok:
                    errors[kind] = errors.get(kind, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "requests": total,
        "concurrency": concurrency,
        "p50_s": percentile(latencies, 50),
        "p95_s": percentile(latencies, 95),
        "error_ratio": round(sum(errors.values()) / total, 4),
        "errors": errors,
        "requests_per_s": round(total / wall, 2),
    }


def _service(module: str, prefix: str, extra: dict[str, str], log_path: Path) -> Any:
    port = free_port()
    env = {f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port), f"{prefix}_DEVICE": "cpu"}
    base = f"http://127.0.0.1:{port}"
    return base, running_process(
        ["python", "-m", module], env={**env, **extra}, ready_url=f"{base}/readyz",
        log_path=log_path,
    )  # fmt: skip


def run_services(total: int, concurrency: int) -> dict[str, Any]:
    """Each service at ``concurrency``, and at 1 as the baseline; raises on any error."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        plans = [
            ("asr", "inference.asr_server", "ASR", {}, "/v1/audio/transcriptions",
             "speech.wav", _speech(tmp)),
            ("ocr", "inference.ocr_server", "OCR", {"OCR_DETECTOR__CANVAS_SIZE": "480"},
             "/v1/ocr", "page.png", _page()),
        ]  # fmt: skip
        for key, module, prefix, extra, route, name, data in plans:
            base, server = _service(module, prefix, extra, tmp / f"{key}.log")
            with server:
                url = base + route
                asyncio.run(_drive(url, name, data, 2, 1))  # warm-up
                out[key] = {
                    "loaded": asyncio.run(_drive(url, name, data, total, concurrency)),
                    "baseline_concurrency_1": asyncio.run(
                        _drive(url, name, data, max(4, total // concurrency), 1)
                    ),
                }
    failed = [k for k, v in out.items() if v["loaded"]["error_ratio"] > 0]
    if failed:
        raise RuntimeError(f"errors under load from {failed}: {out}")
    return out


def _plot(missions: dict[str, Any], services: dict[str, Any]) -> None:
    fig, (left, right) = new_figure(1, 2, figsize=(11, 4))
    load, solo = missions["load"], missions["baseline_one_at_a_time"]
    labels = ["p50", "p95"]
    xs = range(len(labels))
    left.bar([x - 0.2 for x in xs], [solo["latency_p50_s"], solo["latency_p95_s"]], 0.4,
             label="one at a time (baseline)")  # fmt: skip
    left.bar([x + 0.2 for x in xs], [load["latency_p50_s"], load["latency_p95_s"]], 0.4,
             label=f"{load['missions']} at once")  # fmt: skip
    left.set_xticks(list(xs), labels)
    left.set(ylabel="mission latency (s)",
             title=f"{load['missions']} missions: {load['missions_per_s']}/s, "
                   f"lost {load['lost']}, dup {load['duplicates']}")  # fmt: skip
    left.legend()
    names = list(services)
    right.bar([i - 0.2 for i in range(len(names))],
              [services[n]["baseline_concurrency_1"]["p95_s"] for n in names], 0.4,
              label="concurrency 1 (baseline)")  # fmt: skip
    right.bar([i + 0.2 for i in range(len(names))],
              [services[n]["loaded"]["p95_s"] for n in names], 0.4,
              label=f"concurrency {services[names[0]]['loaded']['concurrency']}")  # fmt: skip
    right.set_xticks(range(len(names)), [n.upper() for n in names])
    right.set(ylabel="p95 latency (s)", title="Inference services under load")
    right.legend()
    fig.tight_layout()
    fig.savefig(png_path("load"))


def main() -> None:
    sys.path.insert(0, str(REPO))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    missions = run_missions(1000)
    services = run_services(total=48, concurrency=8)
    write_json("load", {"missions": missions, "services": services})
    _plot(missions, services)
    load = missions["load"]
    if load["lost"] or load["duplicates"]:
        raise RuntimeError(f"missions lost or duplicated: {load}")
