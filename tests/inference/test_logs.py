"""JSON-lines logging: one object per line with extra fields kept."""

from __future__ import annotations

import json
import logging

from inference.logs import JsonFormatter


def test_record_becomes_one_json_object_with_extras() -> None:
    record = logging.LogRecord("svc.mod", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.task_id = "abc"
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["msg"] == "hello you"
    assert payload["level"] == "info"
    assert payload["logger"] == "svc.mod"
    assert payload["task_id"] == "abc"
    assert "\n" not in line


def test_warning_with_exception_keeps_only_its_type() -> None:
    try:
        raise ValueError("secret-value-123")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "oops", (), sys.exc_info())
    payload = json.loads(JsonFormatter().format(record))
    assert payload["exc_type"] == "ValueError"
    assert "secret-value-123" not in json.dumps(payload)
