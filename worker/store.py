"""The ``files`` table: where the backend reads each mission's outcome.

The backend owns the production table (MySQL); :func:`create_schema` makes the same
table for SQLite (the embedded default) and tests. The worker only updates ``status``
and ``result`` of a row the backend created.

Every write records who wrote it: the Celery task id under ``result["task"]``, the
message's receipt under ``result["message"]`` and its queue order under ``result["seq"]``
(:mod:`worker.receipt`; the task id alone cannot tell them apart, it is the row id).

* A redelivered message that already wrote finds its receipt there and writes nothing.
* A message older than the one that wrote (lower ``seq``) writes nothing: per row, the
  save pushed last wins, whatever order the missions finish in. The check and the write
  are one transaction on the locked row.
* A first analysis only ever replaces a ``PENDING`` row; the two edit tasks overwrite
  whatever result is there.
"""

from __future__ import annotations

import enum
import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout  # no free pooled connection

from worker.errors import TransientError
from worker.receipt import Receipt

log = logging.getLogger(__name__)

metadata = sa.MetaData()

files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.CHAR(36), primary_key=True),
    sa.Column("user_mail", sa.String(254), nullable=False),
    sa.Column("status", sa.Enum("SUCCESS", "FAILURE", "PENDING", name="status"), nullable=False),
    sa.Column("type", sa.Enum("OCR", "ASR", name="type"), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("resource", sa.String(254)),
    sa.Column("result", sa.JSON, nullable=True),
)


class RowState(enum.StrEnum):
    MISSING = "missing"
    OPEN = "open"  # the task still has to do its work
    DONE = "done"  # a final state is already there for this message (or this analysis)
    SUPERSEDED = "superseded"  # a message the backend pushed later already wrote


class Written(enum.StrEnum):
    WRITTEN = "written"
    ALREADY = "already"
    SUPERSEDED = "superseded"
    MISSING = "missing"


@dataclass(frozen=True)
class Row:
    status: str
    result: dict[str, Any] | None


def create_engine(url: str) -> sa.Engine:
    """An engine for MySQL/MariaDB or SQLite, safe to share between worker threads."""
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    # Without read/write timeouts pymysql waits forever on a connection that went silent
    # (a blackholed network), which would pin the task until its hard time limit.
    timeouts = {"connect_timeout": 10, "read_timeout": 30, "write_timeout": 30}
    return sa.create_engine(
        url, pool_pre_ping=True, pool_recycle=1800, pool_size=10, connect_args=timeouts
    )


def create_schema(engine: sa.Engine) -> None:
    """The backend's ``files`` table (SQLite and tests; production has it already)."""
    metadata.create_all(engine)


class ResultStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # SQLite has one writer. Under gevent its busy-wait blocks the hub while the
        # greenlet holding the lock cannot run, so accesses queue on a (patched) lock.
        self._serial: AbstractContextManager[object] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    def _read(self, conn: sa.Connection, file_id: str, lock: bool) -> Row | None:
        query = sa.select(files.c.status, files.c.result).where(files.c.id == file_id)
        if lock and conn.dialect.name != "sqlite":
            query = query.with_for_update()
        found = conn.execute(query).first()
        if found is None:
            return None
        result = found.result if isinstance(found.result, dict) else None
        return Row(status=str(found.status), result=result)

    @staticmethod
    def _state(row: Row | None, receipt: Receipt, overwrite: bool) -> RowState:
        if row is None:
            return RowState.MISSING
        written = row.result or {}
        # Whatever the status: the backend sets it back to PENDING before each edit.
        if written.get("message") == receipt.message:
            return RowState.DONE
        seq = written.get("seq")
        if receipt.seq is not None and type(seq) is int and seq > receipt.seq:
            return RowState.SUPERSEDED
        if not overwrite and row.status != "PENDING":
            return RowState.DONE
        return RowState.OPEN

    def state(self, file_id: str, receipt: Receipt, *, overwrite: bool) -> RowState:
        """Whether this message still has work to do on this row."""
        try:
            with self._serial, self.engine.connect() as conn:
                return self._state(self._read(conn, file_id, False), receipt, overwrite)
        except (OperationalError, DBAPIError, PoolTimeout) as exc:
            raise TransientError("result database is unavailable") from exc

    def finish(
        self,
        file_id: str,
        receipt: Receipt,
        status: str,
        result: dict[str, Any],
        *,
        overwrite: bool,
    ) -> Written:
        """Write the final state once, unless a newer message wrote; ``FAILURE`` merges
        into the existing result."""
        try:
            with self._serial, self.engine.begin() as conn:
                row = self._read(conn, file_id, True)
                state = self._state(row, receipt, overwrite)
                if row is None or state is RowState.MISSING:
                    log.warning("no files row for this id", extra={"file_id": file_id})
                    return Written.MISSING
                if state is RowState.DONE:
                    return Written.ALREADY
                if state is RowState.SUPERSEDED:
                    return Written.SUPERSEDED
                merged = {**(row.result or {}), **result} if status == "FAILURE" else result
                merged = {**merged, "task": receipt.task_id, "message": receipt.message}
                if receipt.seq is not None:
                    merged["seq"] = receipt.seq
                conn.execute(
                    files.update().where(files.c.id == file_id).values(status=status, result=merged)
                )
            return Written.WRITTEN
        except (OperationalError, DBAPIError, PoolTimeout) as exc:
            raise TransientError("result database is unavailable") from exc
