"""The compose CPU stack, built from the project's Dockerfiles and run for real: the six
missions pushed as the Go backend pushes them (raw LPUSH, the row id as task id), the
containers' hardening, their healthchecks, and a worker container killed mid-mission.
`make test-containers` (scripts/containers/test.sh) runs this module."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from Crypto.PublicKey import RSA

from demo.backend import (
    ASR_EDIT_NOTE,
    LECTURE_TOPIC,
    OCR_EDIT_NOTE,
    Media,
    credential_kwargs,
    make_media,
)
from demo.go_backend import push
from demo.media import ESSAY_TITLE, essay_text
from demo.missions import insert_pending_row, read_row
from demo.smtp_sink import plain_text
from inference.asr_server.chinese import ChineseConverter
from tests.containers.engine import Engine
from tests.containers.stack import FACTS, STARTED, VISIBILITY_TIMEOUT_S, RunningStack
from tests.support.fake_llm import FakeLLM
from tests.support.services import final_task_meta
from tests.support.smtp_sink import Sink
from worker.store import files

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]

MAIL = "student@example.com"
CJK = re.compile(r"[\u4e00-\u9fff]")
FINAL = ("SUCCESS", "FAILURE")


def in_container(media: Media, host_root: Path) -> Media:
    """The same uploads as the worker sees them: the media folder is mounted at /media."""

    def inside(path: Path) -> Path:
        return Path("/media") / path.relative_to(host_root)

    return Media(inside(media.audio), media.audio_source, inside(media.image))


def wait_row(db: sa.Engine, file_id: str, timeout: float, content: str | None = None) -> Any:
    """The row once final (and, for an edit, once it holds the edited content)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = read_row(db, file_id)
        if row is not None and row[0] in FINAL:
            result = row[1] or {}
            if content is None or result.get("content") == content or row[0] == "FAILURE":
                return row
        time.sleep(0.5)
    raise AssertionError(f"row {file_id} not final in {timeout:.0f}s: {read_row(db, file_id)}")


def back_to_pending(db: sa.Engine, file_id: str) -> None:
    """What the backend does before it pushes an edit: PENDING, old result left in place."""
    with db.begin() as conn:
        conn.execute(files.update().where(files.c.id == file_id).values(status="PENDING"))


def assert_traditional(text: str) -> None:
    assert text.strip()
    assert ChineseConverter("s2twp").convert(text) == text  # nothing Simplified left


def test_every_container_runs_unprivileged_on_a_read_only_root(
    stack: RunningStack, engine: Engine
) -> None:
    for service in STARTED:
        info = stack.inspect(service)
        assert info["Config"]["User"] == "10001:10001", service
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert "ALL" in host["CapDrop"], service
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["NetworkMode"] == "host", service
        container = info["Id"]
        assert engine.docker("exec", container, "id", "-u").stdout.strip() == "10001"
        write = "import sys; open(sys.argv[1], 'w').write('x')"
        denied = engine.docker("exec", container, "python", "-c", write, "/opt/x", check=False)
        assert denied.returncode != 0
        assert "Read-only file system" in denied.stderr, (service, denied.stderr)
        assert engine.docker("exec", container, "python", "-c", write, "/tmp/x").returncode == 0


def test_six_missions_pushed_as_the_go_backend_does(
    stack: RunningStack,
    broker: redis.Redis,
    database: sa.Engine,
    private_key: RSA.RsaKey,
    llm: FakeLLM,
    mail: tuple[Sink, int],
) -> None:
    uploads = make_media(stack.media / "audio", stack.media / "graph")
    for path in (uploads.audio, uploads.image):
        path.chmod(0o644)  # read by uid 10001 in the worker container
    media = in_container(uploads, stack.media)
    credentials = credential_kwargs("sk-containers-" + uuid.uuid4().hex, private_key.public_key())
    asr_id, ocr_id, text_id = media.audio.stem, media.image.stem, str(uuid.uuid4())
    insert_pending_row(database, asr_id, "ASR", str(media.audio), MAIL)
    insert_pending_row(database, ocr_id, "OCR", str(media.image), MAIL)
    insert_pending_row(database, text_id, "OCR", None, MAIL)
    started = time.monotonic()
    # The row id is the task id of every row task (contract.md section 1).
    lecture_kwargs = mission(asr_id, media.audio, LECTURE_TOPIC, credentials)
    push(broker, "tasks.ASR_predict", lecture_kwargs, task_id=asr_id)
    essay_kwargs = mission(ocr_id, media.image, ESSAY_TITLE, credentials)
    push(broker, "tasks.OCR_predict", essay_kwargs, task_id=ocr_id)
    text = {"id": text_id, "content": essay_text(), "prompt": ESSAY_TITLE, **credentials}
    push(broker, "tasks.OCR_predict_Text", text, task_id=text_id)
    mail_task = push(broker, "tasks.Mail_sent", {"mail": MAIL})

    rows = {file_id: wait_row(database, file_id, 300) for file_id in (asr_id, ocr_id, text_id)}
    assert {status for status, _ in rows.values()} == {"SUCCESS"}, rows
    lecture, essay = rows[asr_id][1], rows[ocr_id][1]
    assert "mitochondria" in lecture["content"].lower()  # transcribed by the ASR container
    assert "autumn" in essay["content"].lower()  # read by the OCR container
    for _, result in rows.values():
        assert CJK.search(result["summarize"]), result  # the LLM's Traditional Chinese
        assert_traditional(result["summarize"])
        assert_traditional(result["content"])

    # The two edits, as a student makes them after reading the first result.
    edits = [
        (asr_id, "NLP_edit_ASR", LECTURE_TOPIC, lecture["content"] + ASR_EDIT_NOTE),
        (ocr_id, "NLP_edit_OCR", ESSAY_TITLE, essay["content"] + OCR_EDIT_NOTE),
    ]
    for file_id, task, prompt, content in edits:
        back_to_pending(database, file_id)
        kwargs = {"id": file_id, "content": content, "prompt": prompt, **credentials}
        push(broker, f"tasks.{task}", kwargs, task_id=file_id)
    for file_id, _, _, content in edits:
        status, result = wait_row(database, file_id, 120, content=content)
        assert status == "SUCCESS", result
        assert result["content"] == content
        assert_traditional(result["summarize"])

    meta = final_task_meta(broker, mail_task, timeout=60, poll_s=0.5)
    assert meta["status"] == "SUCCESS", meta
    raw = broker.get(MAIL)
    assert isinstance(raw, bytes)
    code = raw.decode()
    sink, _ = mail
    received = [m for m in sink.to(MAIL) if code in plain_text(m)]
    assert received, "the code in Redis is in no mail received"
    assert all(call.status == 200 for call in llm.calls())
    FACTS["six_missions_s"] = round(time.monotonic() - started, 1)


def mission(file_id: str, path: Path, prompt: str, credentials: dict[str, str]) -> dict[str, Any]:
    return {"id": file_id, "file": str(path), "prompt": prompt, **credentials}


def test_every_healthcheck_turns_healthy(stack: RunningStack, engine: Engine) -> None:
    for service in STARTED:
        info = stack.inspect(service)
        assert info["Config"]["Healthcheck"]["Test"], service
        # The worker checks every 30 s (compose.yaml), so its first verdict takes that long.
        engine.wait_healthy(info["Id"], timeout=180)


def test_worker_container_killed_mid_mission_loses_nothing(
    stack: RunningStack,
    broker: redis.Redis,
    database: sa.Engine,
    private_key: RSA.RsaKey,
    llm: FakeLLM,
) -> None:
    credentials = credential_kwargs("sk-containers-" + uuid.uuid4().hex, private_key.public_key())
    file_id = str(uuid.uuid4())
    marker = f"kill-{file_id[:8]}"
    insert_pending_row(database, file_id, "OCR", None, MAIL)
    llm.slow_when(marker, 8.0)
    content = f"{essay_text()} {marker}"
    kwargs = {"id": file_id, "content": content, "prompt": ESSAY_TITLE, **credentials}
    push(broker, "tasks.OCR_predict_Text", kwargs, task_id=file_id)
    deadline = time.monotonic() + 60
    while llm.state.in_flight == 0:
        assert time.monotonic() < deadline, "the worker never called the LLM"
        time.sleep(0.1)
    before = stack.inspect("worker")
    os.kill(before["State"]["Pid"], signal.SIGKILL)  # as the OOM killer would
    killed = time.monotonic()
    assert read_row(database, file_id)[0] == "PENDING"  # type: ignore[index]

    # The restart policy brings the container back; the message waited in Redis, unacked.
    status, result = wait_row(database, file_id, VISIBILITY_TIMEOUT_S + 120)
    recovered = time.monotonic() - killed
    after = stack.inspect("worker")
    assert after["RestartCount"] == before["RestartCount"] + 1
    assert status == "SUCCESS", result
    assert result["content"] == content
    assert broker.hlen("unacked") == 0
    assert broker.llen("celery") == 0
    FACTS["killed_worker"] = {
        "recovered_s": round(recovered, 1),
        "visibility_timeout_s": VISIBILITY_TIMEOUT_S,
        "lost": 0,
    }
