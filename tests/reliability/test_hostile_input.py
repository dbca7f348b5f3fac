"""The hostile-input corpus through the real path: raw Go-style LPUSH -> worker -> the
real ASR and OCR services. Each case ends with the right outcome and a readable error (or
the message is dropped), the worker keeps serving, and no secret reaches any log line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.reliability.harness import Stack, final_status, record, wait_for
from tests.reliability.hostile import (
    RAW_CASES,
    REJECTED_BODY_CASES,
    ROW_CASES,
    RawCase,
    RowCase,
    envelope,
)
from tests.support.services import REPO, free_port, running_process
from tests.worker.conftest import GOOD_KEY, TOKEN

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def services(stack: Stack) -> Iterator[dict[str, str]]:
    asr_port, ocr_port = free_port(), free_port()
    asr_env = {"ASR_HOST": "127.0.0.1", "ASR_PORT": str(asr_port), "ASR_DEVICE": "cpu"}
    ocr_env = {
        "OCR_HOST": "127.0.0.1",
        "OCR_PORT": str(ocr_port),
        "OCR_DEVICE": "cpu",
        "OCR_DETECTOR__CANVAS_SIZE": "320",
    }
    asr_url, ocr_url = f"http://127.0.0.1:{asr_port}", f"http://127.0.0.1:{ocr_port}"
    with (
        running_process(
            ["python", "-m", "inference.asr_server"],
            env=asr_env,
            ready_url=f"{asr_url}/readyz",
            log_path=stack.base / "asr.log",
        ),
        running_process(
            ["python", "-m", "inference.ocr_server"],
            env=ocr_env,
            ready_url=f"{ocr_url}/readyz",
            log_path=stack.base / "ocr.log",
        ),
    ):
        yield {"INFERENCE_ASR_URL": asr_url, "INFERENCE_OCR_URL": ocr_url}


@pytest.fixture(scope="module")
def worker(stack: Stack, services: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with stack.worker(concurrency=4, TASK_MAX_RETRIES="1", **services) as proc:
        yield proc


def still_serving(stack: Stack, proc: subprocess.Popen[bytes]) -> None:
    assert proc.poll() is None
    file_id, _ = stack.text_mission()
    assert final_status(stack.env, file_id, 40) == "SUCCESS"


@pytest.mark.parametrize("case", ROW_CASES, ids=[c.name for c in ROW_CASES])
def test_row_case(stack: Stack, worker: subprocess.Popen[bytes], case: RowCase) -> None:
    file_id = stack.env.add_row(case.kind)
    task, kwargs = case.build(stack)
    started = time.monotonic()
    if case.escaped:
        stack.env.redis.lpush("celery", envelope(f"tasks.{task}", {"id": file_id, **kwargs}))
    else:
        stack.env.push(task, {"id": file_id, **kwargs})
    status = final_status(stack.env, file_id, 60)
    took = time.monotonic() - started
    _, result = stack.env.row(file_id)
    assert result is not None
    assert status == case.status, result
    if case.status == "FAILURE":
        assert case.error in result["error"]
        assert "Traceback" not in result["error"]
        assert stack.writes(file_id) == ["FAILURE"]
    else:
        assert result["prompt"] == kwargs["prompt"]  # stored verbatim, never interpreted
    assert worker.poll() is None
    _record(case.name, status, result.get("error", ""), took)


@pytest.mark.parametrize("case", RAW_CASES, ids=[c.name for c in RAW_CASES])
def test_raw_message_is_dropped(
    stack: Stack, worker: subprocess.Popen[bytes], case: RawCase
) -> None:
    stack.env.redis.lpush("celery", case.raw(stack))
    started = time.monotonic()
    wait_for(lambda: stack.env.redis.llen("celery") == 0, 30, worker)
    still_serving(stack, worker)
    took = time.monotonic() - started
    # Dropped, not parked: nothing is left for a redelivery loop.
    wait_for(lambda: stack.unacked() == 0, 30, worker)
    _record(case.name, "dropped", "message rejected and logged", took)


@pytest.mark.parametrize("case", REJECTED_BODY_CASES, ids=[c.name for c in REJECTED_BODY_CASES])
def test_missions_queued_behind_a_rejected_body_still_run(
    stack: Stack, worker: subprocess.Popen[bytes], case: RawCase
) -> None:
    """The bad message is taken first (BRPOP takes the oldest); those queued behind it run
    at once, and the bad one leaves nothing unacked to come back after the timeout."""
    stack.env.redis.lpush("celery", case.raw(stack))
    queued = [stack.text_mission()[0] for _ in range(3)]
    for file_id in queued:
        assert final_status(stack.env, file_id, 40) == "SUCCESS"
    wait_for(lambda: stack.unacked() == 0, 30, worker)


def test_remote_control_still_reaches_the_guarded_worker(
    stack: Stack, worker: subprocess.Popen[bytes]
) -> None:
    """The guard checks the task queue only: `celery inspect` (Flower) still works."""
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker.app", "inspect", "ping", "-t", "10"],
        env={**os.environ, **stack.worker_env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "pong" in done.stdout, done.stdout + done.stderr


def test_no_secret_in_any_log(stack: Stack, worker: subprocess.Popen[bytes]) -> None:
    mail = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    task_id = stack.env.push("Mail_sent", {"mail": mail})
    assert stack.env.meta(task_id)["status"] == "SUCCESS"
    code = stack.env.redis.get(mail)
    assert code is not None
    # Credential tasks with both secrets, a success and a refusal, then the header-injection
    # mail address.
    creds = stack.env.credentials(api_key=GOOD_KEY, token=TOKEN)
    for task_kwargs in (
        {"content": "Essay.", "prompt": "", **creds},
        {"content": "Essay.", "prompt": "", **creds, "key_api_key": "garbage"},
    ):
        file_id = stack.env.add_row("OCR")
        stack.env.push("OCR_predict_Text", {"id": file_id, **task_kwargs})
        final_status(stack.env, file_id, 30)
    bad_mail = "a@example.com\r\nBcc: evil@example.com"
    assert stack.env.meta(stack.env.push("Mail_sent", {"mail": bad_mail}))["status"] == "FAILURE"
    still_serving(stack, worker)
    logs = stack.log_text() + "".join(
        (stack.base / name).read_text(errors="replace") for name in ("asr.log", "ocr.log")
    )
    assert "Task tasks.Mail_sent" in logs  # the log is really captured
    for secret in (GOOD_KEY, TOKEN, GOOD_KEY[-8:], TOKEN[-8:]):
        assert secret not in logs
    # Six random letters and digits can occur inside a task id or a timestamp; a leaked
    # code stands on its own.
    assert not re.search(rf"(?<![0-9A-Za-z]){code.decode()}(?![0-9A-Za-z])", logs)
    private_key = (stack.base / "private_key.pem").read_text().splitlines()[1]
    assert private_key not in logs


def _record(name: str, outcome: str, error: str, took: float) -> None:
    record(
        f"hostile input: {name}",
        happened=f"{outcome}: {error}" if error else outcome,
        recover_s=round(took, 2),
        lost=0,
        duplicates=0,
    )
