"""What the Go backend does to enqueue a task: build the raw Celery message, LPUSH it.

The message is byte-for-byte the shape of contract.md section 1 (Celery protocol v2 as
the Go client writes it): compact JSON as Go's ``encoding/json`` writes it (raw UTF-8,
``<`` ``>`` ``&`` escaped as ``\u003c`` ``\u003e`` ``\u0026``), ``lang`` Go, ``origin``
Go-User, none of the ``argsrepr`` / ``kwargsrepr`` / ``timelimit`` headers Python clients
add, and the task id repeated as ``root_id``, ``correlation_id``, ``reply_to`` and
``delivery_tag``. For a row task the backend passes the row id as task id.

    python -m demo.go_backend --redis redis://127.0.0.1:6379/0 Mail_sent mail=a@b.co
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import uuid
from typing import Any, Protocol

EMBED = {"callbacks": None, "chain": None, "chord": None}


class ListPusher(Protocol):
    def lpush(self, name: str, *values: Any) -> Any: ...


# Go's encoding/json escapes these inside strings (HTML safety); JSON has them nowhere else.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _compact(value: Any) -> bytes:
    # Go's encoding/json: no spaces, non-ASCII kept as UTF-8, HTML characters escaped.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def build_message(task: str, kwargs: dict[str, Any], task_id: str | None = None) -> bytes:
    """The raw bytes the Go backend LPUSHes for ``task`` (full name: ``tasks.ASR_predict``)."""
    task_id = task_id or str(uuid.uuid4())
    body = base64.b64encode(_compact([[], kwargs, EMBED])).decode("ascii")
    message = {
        "body": body,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "Go",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "root_id": task_id,
            "parent_id": None,
            "origin": "Go-User",
            "ignore_result": False,
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": task_id,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "celery"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": task_id,
        },
    }
    return _compact(message)


def push(
    client: ListPusher,
    task: str,
    kwargs: dict[str, Any],
    task_id: str | None = None,
    queue: str = "celery",
) -> str:
    """LPUSH one task the way the backend does; returns the task id."""
    task_id = task_id or str(uuid.uuid4())
    client.lpush(queue, build_message(task, kwargs, task_id))
    return task_id


def main(argv: list[str] | None = None) -> int:
    import redis

    parser = argparse.ArgumentParser(prog="python -m demo.go_backend", description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--prefix", default="tasks", help="CELERY_TASK of the backend")
    parser.add_argument("task", help="e.g. ASR_predict, Mail_sent")
    parser.add_argument("kwargs", nargs="*", help="key=value pairs")
    args = parser.parse_args(argv)
    kwargs = dict(pair.split("=", 1) for pair in args.kwargs)
    task_id = push(redis.Redis.from_url(args.redis), f"{args.prefix}.{args.task}", kwargs)
    sys.stdout.write(task_id + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
