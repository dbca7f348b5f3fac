"""Bad input and broken dependencies: each task ends FAILURE with a readable error, the
row says why, the worker keeps serving, and no secret reaches the log."""

from __future__ import annotations

import uuid

import pytest

from tests.support.stub_inference import ESSAY, TRANSCRIPT
from tests.worker.conftest import BAD_KEY, GOOD_KEY, TOKEN, WorkerEnv
from worker.settings import WorkerSettings
from worker.tasks import DELIVERIES


def expect_failure(env: WorkerEnv, task: str, kwargs: dict, match: str) -> dict:
    task_id = env.push(task, kwargs)
    meta = env.meta(task_id)
    assert meta["status"] == "FAILURE", meta
    assert meta["result"]["exc_type"] in {"PermanentError", "CredentialError"}
    assert match in str(meta["result"]["exc_message"])
    return meta


def failed_row(env: WorkerEnv, file_id: str, match: str) -> None:
    status, result = env.row(file_id)
    assert status == "FAILURE"
    assert result is not None
    assert match in result["error"]


def still_serving(env: WorkerEnv) -> None:
    file_id = env.add_row("OCR")
    kwargs = {"id": file_id, "content": ESSAY, "prompt": "", **env.credentials()}
    assert env.meta(env.push("OCR_predict_Text", kwargs))["status"] == "SUCCESS"
    assert env.row(file_id)[0] == "SUCCESS"


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("missing file kwarg", "task arguments are invalid: file"),
        ("traversal", "outside the media directory"),
        ("absolute elsewhere", "outside the media directory"),
        ("missing file", "media file not found"),
        ("corrupt media", "unsupported media type"),
        ("undecryptable credential", "credential could not be decrypted"),
        ("no credential", "no usable LLM credential"),
        ("refused credential", "every credential was refused"),
    ],
)
def test_bad_asr_input_fails_readably(worker_env: WorkerEnv, case: str, match: str) -> None:
    file_id = worker_env.add_row("ASR")
    good = worker_env.media("ASR", b"ID3 ok", ".mp3")
    kwargs = {"id": file_id, "file": good, "prompt": "", **worker_env.credentials()}
    if case == "missing file kwarg":
        del kwargs["file"]
    elif case == "traversal":
        kwargs["file"] = f"{worker_env.audio}/../../../etc/passwd.mp3"
    elif case == "absolute elsewhere":
        kwargs["file"] = str(worker_env.graph / "x.mp3")
    elif case == "missing file":
        kwargs["file"] = str(worker_env.audio / "nope.mp3")
    elif case == "corrupt media":
        kwargs["file"] = worker_env.media("ASR", b"CORRUPT bytes", ".m4a")
    elif case == "undecryptable credential":
        # The RSA-wrapped key: OAEP always detects the change (v1 data has no integrity).
        kwargs["key_api_key"] = "AAAA" + kwargs["key_api_key"][4:]
    elif case == "no credential":
        kwargs.update(worker_env.credentials(api_key=""))
    elif case == "refused credential":
        kwargs.update(worker_env.credentials(api_key=BAD_KEY))
    meta = expect_failure(worker_env, "ASR_predict", kwargs, match)
    failed_row(worker_env, file_id, match)
    assert "Traceback" not in str(meta["result"]["exc_message"])
    still_serving(worker_env)


def test_message_without_id_fails_without_a_row(worker_env: WorkerEnv) -> None:
    expect_failure(
        worker_env, "OCR_predict_Text", {"content": ESSAY}, "task arguments are invalid: id"
    )
    expect_failure(worker_env, "Mail_sent", {}, "task arguments are invalid: mail")
    still_serving(worker_env)


def test_inference_503_is_retried_then_succeeds(worker_env: WorkerEnv) -> None:
    worker_env.stub.fail_next(503, times=2)
    file_id = worker_env.add_row("ASR")
    path = worker_env.media("ASR", b"ID3 retry", ".wav")
    kwargs = {"id": file_id, "file": path, "prompt": "", **worker_env.credentials()}
    assert worker_env.meta(worker_env.push("ASR_predict", kwargs))["status"] == "SUCCESS"
    status, result = worker_env.row(file_id)
    assert status == "SUCCESS"
    assert result is not None
    assert result["content"] == TRANSCRIPT


def test_transcript_stream_cut_midway_is_retried_with_a_new_upload(worker_env: WorkerEnv) -> None:
    worker_env.stub.break_next_stream("cut")
    file_id = worker_env.add_row("ASR")
    path = worker_env.media("ASR", b"ID3 cut stream", ".mp3")
    name = path.rsplit("/", 1)[1]
    kwargs = {"id": file_id, "file": path, "prompt": "", **worker_env.credentials()}
    assert worker_env.meta(worker_env.push("ASR_predict", kwargs))["status"] == "SUCCESS"
    status, result = worker_env.row(file_id)
    assert status == "SUCCESS"
    assert result is not None
    assert result["content"] == TRANSCRIPT
    # The retry uploaded the file again: the stream cannot resume halfway.
    assert sum(u.filename == name for u in worker_env.stub.state.uploads) == 2


def test_error_event_in_the_stream_fails_or_retries_by_its_type(worker_env: WorkerEnv) -> None:
    worker_env.stub.break_next_stream("error:corrupt_media")
    file_id = worker_env.add_row("ASR")
    path = worker_env.media("ASR", b"ID3 broken later", ".m4a")
    kwargs = {"id": file_id, "file": path, "prompt": "", **worker_env.credentials()}
    expect_failure(worker_env, "ASR_predict", kwargs, "ASR service: the stream failed")
    failed_row(worker_env, file_id, "ASR service: the stream failed")
    worker_env.stub.break_next_stream("error:overloaded")
    file_id = worker_env.add_row("ASR")
    kwargs = {"id": file_id, "file": path, "prompt": "", **worker_env.credentials()}
    assert worker_env.meta(worker_env.push("ASR_predict", kwargs))["status"] == "SUCCESS"
    still_serving(worker_env)


def test_llm_down_fails_after_bounded_retries(worker_env: WorkerEnv) -> None:
    # SDK: 1 retry per attempt; Celery: 2 retries -> 6 calls, all refused with 503.
    worker_env.llm.fail_next(503, times=6, retry_after=0.01)
    file_id = worker_env.add_row("OCR")
    kwargs = {"id": file_id, "content": ESSAY, "prompt": "", **worker_env.credentials()}
    meta = expect_failure(worker_env, "OCR_predict_Text", kwargs, "gave up after 2 retries")
    assert "LLM service is busy (HTTP 503)" in str(meta["result"]["exc_message"])
    failed_row(worker_env, file_id, "LLM service is busy")
    still_serving(worker_env)


def test_invalid_mail_address_fails(worker_env: WorkerEnv) -> None:
    expect_failure(worker_env, "Mail_sent", {"mail": "not-an-address"}, "mail address is not valid")
    still_serving(worker_env)


def test_no_secret_in_the_worker_log(worker_env: WorkerEnv) -> None:
    still_serving(worker_env)
    text = worker_env.log_text()
    assert "Task tasks.OCR_predict_Text" in text  # the log is really captured
    for secret in (GOOD_KEY, BAD_KEY, TOKEN, GOOD_KEY[-6:], BAD_KEY[-4:]):
        assert secret not in text
    # Celery's own failure lines keep the task but not its arguments.
    assert "[redacted]" in text


def test_mail_that_stopped_its_worker_too_often_is_dropped(worker_env: WorkerEnv) -> None:
    # Three earlier deliveries of this message each died with their worker (counted in
    # Redis before the work); the fourth gives up instead of crashing a worker again.
    task_id = str(uuid.uuid4())
    worker_env.redis.set(f"{DELIVERIES}{task_id}:0", WorkerSettings().task_max_deliveries)
    mail = f"poison-{task_id[:8]}@example.com"
    worker_env.push("Mail_sent", {"mail": mail}, task_id)
    meta = worker_env.meta(task_id)
    assert meta["status"] == "FAILURE"
    assert "stopped its worker 3 times" in str(meta["result"]["exc_message"])
    assert worker_env.sink.to(mail) == []
    assert worker_env.redis.get(mail) is None
    still_serving(worker_env)


def test_mail_refused_for_now_is_retried_then_sent_once(worker_env: WorkerEnv) -> None:
    mail = f"busy-{uuid.uuid4().hex[:8]}@example.com"
    worker_env.sink.refuse_next(times=2)  # the relay answers 451 twice, then accepts
    task_id = worker_env.push("Mail_sent", {"mail": mail})
    assert worker_env.meta(task_id)["status"] == "SUCCESS"
    (message,) = worker_env.sink.to(mail)
    code = worker_env.redis.get(mail)
    assert code is not None
    assert code.decode() in message.get_body(("plain",)).get_content()
    assert 590 <= worker_env.redis.ttl(mail) <= 600


def test_mail_refused_every_time_fails_and_stores_no_code(worker_env: WorkerEnv) -> None:
    mail = f"down-{uuid.uuid4().hex[:8]}@example.com"
    before = worker_env.sink.attempts
    worker_env.sink.refuse_next(times=3)  # the first try and both retries
    meta = expect_failure(
        worker_env, "Mail_sent", {"mail": mail}, "mail server is unavailable (gave up after 2"
    )
    assert "retries" in str(meta["result"]["exc_message"])
    assert worker_env.sink.attempts - before == 3
    assert worker_env.sink.to(mail) == []
    assert worker_env.redis.get(mail) is None  # no code the user could never receive
    still_serving(worker_env)


def test_refused_recipient_fails_at_once(worker_env: WorkerEnv) -> None:
    mail = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    worker_env.sink.refused_recipients.add(mail)
    before = worker_env.sink.attempts
    expect_failure(worker_env, "Mail_sent", {"mail": mail}, "mail address was refused")
    assert worker_env.sink.attempts == before  # never reached DATA, never retried
    assert worker_env.redis.get(mail) is None
