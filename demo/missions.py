"""The six missions the demo plays, and how it follows each one to its end.

The demo acts as the Go backend: it creates the PENDING ``files`` rows, then pushes raw
Celery messages (built by :mod:`demo.go_backend`). The two edit missions wait for the
analysis they edit, as a user would: they edit what the first mission produced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa

from worker.store import files

FINAL = frozenset({"SUCCESS", "FAILURE"})


@dataclass
class Mission:
    task: str  # the fixed name, without the CELERY_TASK prefix
    kwargs: dict[str, Any]
    file_id: str | None = None
    after: str | None = None  # another mission that must succeed first
    # Builds the kwargs from the mission it waits for (the edit missions).
    derive: Callable[[Mission], dict[str, Any]] | None = None
    task_id: str | None = None
    # An edit reopens its row, which keeps the result (and its seq) of the last write: the
    # edit has written once the row holds a result with a higher seq.
    reopened_at_seq: int | None = None
    pushed_at: float | None = None
    finished_at: float | None = None
    state: str = "WAITING"
    stage: str = ""
    result: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def is_edit(self) -> bool:
        """An edit of a row that a first analysis already wrote, under the same task id."""
        return self.file_id is not None and self.after is not None

    @property
    def done(self) -> bool:
        return self.state in FINAL

    def elapsed(self, now: float | None = None) -> float:
        if self.pushed_at is None:
            return 0.0
        return (self.finished_at or now or time.monotonic()) - self.pushed_at


def insert_pending_row(
    engine: sa.Engine, file_id: str, kind: str, resource: str | None, mail: str
) -> None:
    """What the backend does before it enqueues: a PENDING row under its own id."""
    with engine.begin() as conn:
        conn.execute(
            files.insert().values(
                id=file_id,
                user_mail=mail,
                status="PENDING",
                type=kind,
                created_at=datetime.now().replace(microsecond=0),
                resource=resource,
                result=None,
            )
        )


def reopen_row(engine: sa.Engine, file_id: str) -> int | None:
    """What the backend does before it pushes an edit: the row back to PENDING, its old
    result left in place; the seq of that result (None without one)."""
    with engine.begin() as conn:
        conn.execute(files.update().where(files.c.id == file_id).values(status="PENDING"))
    row = read_row(engine, file_id)
    return _seq(row[1]) if row is not None else None


def _seq(result: dict[str, Any] | None) -> int | None:
    try:
        return int((result or {})["seq"])
    except (KeyError, TypeError, ValueError):
        return None


def read_row(engine: sa.Engine, file_id: str) -> tuple[str, dict[str, Any] | None] | None:
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(files.c.status, files.c.result).where(files.c.id == file_id)
        ).first()
    if found is None:
        return None
    result = found.result if isinstance(found.result, dict) else None
    return str(found.status), result


def task_meta(client: redis.Redis, task_id: str) -> dict[str, Any]:
    """The worker's progress record in the Celery result backend (empty while queued)."""
    raw = client.get(f"celery-task-meta-{task_id}")
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def refresh(mission: Mission, engine: sa.Engine, client: redis.Redis) -> bool:
    """Update ``mission`` from the result backend and the row; True when it changed."""
    if mission.task_id is None or mission.done:
        return False
    before = (mission.state, mission.stage)
    meta = task_meta(client, mission.task_id)
    status = str(meta.get("status") or "QUEUED")
    info = meta.get("result")
    mission.stage = str(info.get("stage", "")) if isinstance(info, dict) else ""
    mission.state = "RETRY" if status == "RETRY" else status
    if mission.file_id is not None:
        _settle_from_row(mission, mission.file_id, engine, status)
    elif status in FINAL:
        mission.state = status
    if mission.done and mission.finished_at is None:
        mission.finished_at = time.monotonic()
    return (mission.state, mission.stage) != before


def _settle_from_row(mission: Mission, file_id: str, engine: sa.Engine, status: str) -> None:
    """A file mission is over once its task ended, or once its own write is in the row.

    The row decides the outcome: a task that ended without writing a final state there
    (the backend would never see a result) counts as a failure. The task id is the row
    id (contract.md), so an edit's result-backend record starts as the analysis's
    SUCCESS: an edit is over once the row holds a newer write, or once its task failed.
    """
    row = read_row(engine, file_id)
    row_status, result = row if row is not None else ("MISSING", None)
    if mission.is_edit:
        seq, before = _seq(result), mission.reopened_at_seq
        written = row_status in FINAL and seq is not None and (before is None or seq > before)
        ended = status == "FAILURE"
    else:
        written, ended = row_status in FINAL, status in FINAL
    if ended or written:
        final = row_status if written else "FAILURE"
        if status == "FAILURE":
            final = "FAILURE"
        mission.state, mission.result = final, result
    elif mission.state in FINAL:
        mission.state = "STARTED"
