"""The six tasks end to end: Go-style raw LPUSH -> real worker -> MariaDB / SQLite / Redis."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable

from tests.support.stub_inference import ESSAY, TRANSCRIPT
from tests.worker.conftest import GOOD_KEY, TOKEN, WorkerEnv

ASR_SECTIONS = ["## 重要觀念", "## 可能考題", "## 考試時間與範圍"]
OCR_SECTIONS = ["## 分數", "## 詳細建議", "## 簡短鼓勵"]


def wait_final(env: WorkerEnv, file_id: str, task_id: str) -> tuple[str, dict]:
    env.meta(task_id)
    status, result = env.row(file_id)
    assert result is not None
    return status, result


def which(outcome: dict) -> dict:
    """The message an outcome names: its receipt and its queue-order seq (worker.receipt)."""
    assert re.fullmatch(r"[0-9a-f]{32}", outcome["message"])
    assert isinstance(outcome["seq"], int)
    return {"message": outcome["message"], "seq": outcome["seq"]}


def check_success(result: dict, prompt: str, content: str, sections: list[str]) -> None:
    assert result["prompt"] == prompt
    assert result["content"] == content
    assert [d.splitlines()[0] for d in result["details"]] == sections
    assert result["summarize"] == "\n\n".join(result["details"])
    assert result["usage"]["prompt_tokens"] > 0


def test_asr_predict(worker_env: WorkerEnv) -> None:
    file_id = worker_env.add_row("ASR")
    path = worker_env.media("ASR", b"ID3 fake mp3 bytes", ".mp3")
    kwargs = {"id": file_id, "file": path, "prompt": "訊號與系統", **worker_env.credentials()}
    task_id = worker_env.push("ASR_predict", kwargs)
    meta = worker_env.meta(task_id)
    assert meta["status"] == "SUCCESS"
    assert meta["result"] == {"id": file_id, "status": "SUCCESS", **which(meta["result"])}
    status, result = worker_env.row(file_id)
    assert (result["message"], result["seq"]) == (meta["result"]["message"], meta["result"]["seq"])
    assert status == "SUCCESS"
    check_success(result, "訊號與系統", TRANSCRIPT, ASR_SECTIONS)
    assert any(
        u.path == "/v1/audio/transcriptions" and u.head.startswith(b"ID3 fake")
        for u in worker_env.stub.state.uploads
    )


def test_ocr_predict_token_refused_falls_through_to_api_key(worker_env: WorkerEnv) -> None:
    worker_env.llm.reject(TOKEN + "-revoked")
    file_id = worker_env.add_row("OCR")
    path = worker_env.media("OCR", b"\x89PNG fake image", ".png")
    creds = worker_env.credentials(api_key=GOOD_KEY, token=TOKEN + "-revoked", v2=True)
    task_id = worker_env.push(
        "OCR_predict", {"id": file_id, "file": path, "prompt": "My Dream", **creds}
    )
    status, result = wait_final(worker_env, file_id, task_id)
    assert status == "SUCCESS"
    check_success(result, "My Dream", ESSAY, OCR_SECTIONS)
    assert result["usage"]["calls"] == 1


def test_ocr_predict_text_with_access_token(worker_env: WorkerEnv) -> None:
    file_id = worker_env.add_row("OCR")
    creds = worker_env.credentials(api_key="", token=TOKEN)
    before = len(worker_env.llm.calls())
    task_id = worker_env.push(
        "OCR_predict_Text", {"id": file_id, "content": ESSAY, "prompt": "", **creds}
    )
    status, result = wait_final(worker_env, file_id, task_id)
    assert status == "SUCCESS"
    check_success(result, "", ESSAY, OCR_SECTIONS)
    assert [c.key for c in worker_env.llm.calls()[before:]] == [TOKEN]


def test_nlp_edit_tasks_overwrite_the_result(worker_env: WorkerEnv) -> None:
    old = {"prompt": "p", "content": "old", "summarize": "old", "details": ["old"]}
    for task, kind, sections in (
        ("NLP_edit_ASR", "ASR", ASR_SECTIONS),
        ("NLP_edit_OCR", "OCR", OCR_SECTIONS),
    ):
        file_id = worker_env.add_row(kind, "SUCCESS", old)
        content = (
            "使用者修改後的內容。" * 3 if kind == "ASR" else "An edited essay.\n\nSecond paragraph."
        )
        kwargs = {"id": file_id, "content": content, "prompt": "p", **worker_env.credentials()}
        task_id = worker_env.push(task, kwargs)
        status, result = wait_final(worker_env, file_id, task_id)
        assert status == "SUCCESS"
        check_success(result, "p", content, sections)
        assert result["task"] == task_id


def test_mail_sent_stores_the_code_after_sending_once(worker_env: WorkerEnv) -> None:
    mail = f"user-{uuid.uuid4().hex[:8]}@example.com"
    task_id = worker_env.push("Mail_sent", {"mail": mail})
    meta = worker_env.meta(task_id)
    assert meta["status"] == "SUCCESS"
    assert meta["result"] == {"sent": True}
    code = worker_env.redis.get(mail)
    assert code is not None
    assert re.fullmatch(rb"[A-Za-z0-9]{6}", code)
    assert 590 <= worker_env.redis.ttl(mail) <= 600
    (message,) = worker_env.sink.to(mail)
    assert code.decode() in message.get_body(("plain",)).get_content()
    assert code.decode() in message.get_body(("html",)).get_content()
    # Redelivery of the same message: no second mail, same code.
    worker_env.redis.delete(f"celery-task-meta-{task_id}")
    worker_env.push("Mail_sent", {"mail": mail}, task_id=task_id)
    assert worker_env.meta(task_id)["result"] == {"sent": False}
    assert len(worker_env.sink.to(mail)) == 1
    assert worker_env.redis.get(mail) == code
    assert code.decode() not in worker_env.log_text()


def test_redelivery_after_success_changes_nothing(worker_env: WorkerEnv) -> None:
    file_id = worker_env.add_row("OCR")
    kwargs = {"id": file_id, "content": ESSAY, "prompt": "t", **worker_env.credentials()}
    task_id = worker_env.push("OCR_predict_Text", kwargs)
    first = wait_final(worker_env, file_id, task_id)
    calls = len(worker_env.llm.calls())
    worker_env.redis.delete(f"celery-task-meta-{task_id}")
    worker_env.push("OCR_predict_Text", kwargs, task_id=task_id)
    assert worker_env.meta(task_id)["result"]["status"] == "skipped: done"
    assert worker_env.row(file_id) == first
    assert len(worker_env.llm.calls()) == calls


def test_missing_row_is_logged_not_crashed(worker_env: WorkerEnv) -> None:
    missing = str(uuid.uuid4())
    kwargs = {"id": missing, "content": ESSAY, "prompt": "", **worker_env.credentials()}
    meta = worker_env.meta(worker_env.push("OCR_predict_Text", kwargs))
    assert meta["status"] == "SUCCESS"
    assert meta["result"] == {"id": missing, "status": "skipped: missing", **which(meta["result"])}


def test_long_lecture_publishes_progress(worker_env: WorkerEnv) -> None:
    file_id = worker_env.add_row("ASR", "SUCCESS", {"content": "old"})
    content = "老師說期末考範圍到第五章。" * 2000
    worker_env.llm.state.latency_s = 0.15
    try:
        task_id = worker_env.push(
            "NLP_edit_ASR",
            {"id": file_id, "content": content, "prompt": "", **worker_env.credentials()},
        )
        stages: set[str] = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            raw = worker_env.redis.get(f"celery-task-meta-{task_id}")
            meta = json.loads(raw) if raw else {}
            if meta.get("status") == "PROGRESS":
                stages.add(meta["result"]["stage"])
                if meta["result"]["stage"] == "prompting":
                    assert meta["result"]["total"] > 0
                    assert meta["result"]["done"] <= meta["result"]["total"]
            if meta.get("status") == "SUCCESS":
                break
            time.sleep(0.02)
    finally:
        worker_env.llm.state.latency_s = 0.0
    assert "prompting" in stages
    assert worker_env.row(file_id)[0] == "SUCCESS"


def _progress_events(env: WorkerEnv, task_id: str, run: Callable[[], None]) -> list[dict]:
    """Celery events about ``task_id``, read the way Flower reads them: from the broker's
    ``celeryev`` fanout (Redis pub/sub), while ``run`` pushes and waits for the task."""
    pubsub = env.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("*celeryev*")
    try:
        while pubsub.get_message(timeout=0.2) is not None:  # the subscription is live
            pass
        run()
        events: list[dict] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.2)
            if message is None:
                continue
            envelope = json.loads(message["data"])
            body = envelope["body"]
            if envelope.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            decoded = json.loads(body)
            # The worker buffers its own task events and sends them as a list.
            for event in decoded if isinstance(decoded, list) else [decoded]:
                if event.get("uuid") == task_id:
                    events.append(event)
                    if event["type"] == "task-succeeded":
                        return events
        return events
    finally:
        pubsub.close()


def test_audio_mission_reports_every_stage_to_monitors(worker_env: WorkerEnv) -> None:
    file_id = worker_env.add_row("ASR")
    path = worker_env.media("ASR", b"ID3 stages", ".mp3")
    task_id = str(uuid.uuid4())
    kwargs = {"id": file_id, "file": path, "prompt": "", **worker_env.credentials()}

    def run() -> None:
        worker_env.push("ASR_predict", kwargs, task_id)
        assert worker_env.meta(task_id)["status"] == "SUCCESS"

    events = _progress_events(worker_env, task_id, run)
    kinds = [event["type"] for event in events]
    assert kinds[-1] == "task-succeeded", kinds
    stages = [event["stage"] for event in events if event["type"] == "task-progress"]
    assert stages[:2] == ["queued", "transcribing"], stages
    assert stages[-1] == "saving", stages
    prompting = [e for e in events if e["type"] == "task-progress" and e["stage"] == "prompting"]
    assert prompting
    assert prompting[-1]["done"] == prompting[-1]["total"]
