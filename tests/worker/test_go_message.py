"""The Go backend's message (contract.md section 1) and the Celery app's configuration."""

from __future__ import annotations

import base64
import json

import pytest
from kombu.utils.json import loads

from demo.go_backend import build_message
from worker.app import create_celery
from worker.settings import WorkerSettings

KWARGS = {
    "id": "0" * 36,
    "file": "/data/audio/x.mp3",
    "prompt": "主題",
    "api_key": "",
    "access_token": "",
    "key_api_key": "",
    "key_access_token": "",
}


def test_message_matches_the_contract_byte_for_byte() -> None:
    raw = build_message("tasks.ASR_predict", KWARGS, task_id="11111111-2222-3333-4444-555555555555")
    assert b" " not in raw.replace("主題".encode(), b"")  # compact, like Go's encoding/json
    message = json.loads(raw)
    assert list(message) == ["body", "content-encoding", "content-type", "headers", "properties"]
    assert message["content-encoding"] == "utf-8"
    assert message["content-type"] == "application/json"
    headers = message["headers"]
    assert list(headers) == [
        "lang",
        "task",
        "id",
        "shadow",
        "eta",
        "expires",
        "group",
        "group_index",
        "retries",
        "root_id",
        "parent_id",
        "origin",
        "ignore_result",
    ]
    assert headers["lang"] == "Go"
    assert headers["origin"] == "Go-User"
    assert headers["root_id"] == headers["id"]
    for absent in ("argsrepr", "kwargsrepr", "timelimit"):
        assert absent not in headers
    props = message["properties"]
    assert props["delivery_info"] == {"exchange": "", "routing_key": "celery"}
    assert props["body_encoding"] == "base64"
    assert props["delivery_mode"] == 2
    assert props["priority"] == 0
    body = loads(base64.b64decode(message["body"]))
    assert body == [[], KWARGS, {"callbacks": None, "chain": None, "chord": None}]
    # contract.md: the task id is repeated everywhere (the row id, for a row task).
    task_id = headers["id"]
    assert props["correlation_id"] == props["reply_to"] == props["delivery_tag"] == task_id


def test_body_is_go_json_raw_utf8_with_html_escapes() -> None:
    kwargs = {**KWARGS, "prompt": "作文 <My Dream> & 夢想"}
    raw_body = base64.b64decode(json.loads(build_message("tasks.OCR_predict", kwargs))["body"])
    assert '"prompt":"作文 \\u003cMy Dream\\u003e \\u0026 夢想"'.encode() in raw_body
    assert loads(raw_body)[1]["prompt"] == "作文 <My Dream> & 夢想"


@pytest.mark.parametrize("prefix", ["tasks", "studysavvy"])
def test_task_names_follow_the_prefix_and_config_is_safe(prefix: str) -> None:
    settings = WorkerSettings(celery_task=prefix, redis_password="p@ss/word", redis_db=3)
    app = create_celery(settings)
    names = {name for name in app.tasks if not name.startswith("celery.")}
    assert names == {
        f"{prefix}.{n}"
        for n in (
            "ASR_predict",
            "OCR_predict",
            "OCR_predict_Text",
            "NLP_edit_ASR",
            "NLP_edit_OCR",
            "Mail_sent",
        )
    }
    conf = app.conf
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_connection_max_retries is None
    assert conf.worker_send_task_events is True
    timeout = conf.broker_transport_options["visibility_timeout"]
    assert timeout > settings.task_time_limit_s + settings.retry_backoff_max_s
    assert conf.broker_url == "redis://:p%40ss%2Fword@127.0.0.1:6379/3"


def test_visibility_timeout_must_outlast_tasks() -> None:
    with pytest.raises(ValueError, match="visibility"):
        WorkerSettings(visibility_timeout_s=600, task_time_limit_s=3600)
