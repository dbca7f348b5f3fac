"""The `files` table on SQLite and the real MariaDB: idempotent, once-only final writes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from worker.store import ResultStore, RowState, Written, create_engine, create_schema, files


@pytest.fixture(params=["sqlite", "mariadb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResultStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'files.db'}"
    else:
        url = request.getfixturevalue("mariadb_url")
    engine = create_engine(url)
    create_schema(engine)
    yield ResultStore(engine)
    engine.dispose()


def add_row(store: ResultStore, status: str = "PENDING", result: dict | None = None) -> str:
    file_id = str(uuid.uuid4())
    with store.engine.begin() as conn:
        conn.execute(
            files.insert().values(
                id=file_id,
                user_mail="u@example.com",
                status=status,
                type="ASR",
                created_at=datetime(2024, 1, 1),
                resource="/a.mp3",
                result=result,
            )
        )
    return file_id


def row(store: ResultStore, file_id: str) -> tuple[str, dict]:
    with store.engine.connect() as conn:
        found = conn.execute(
            sa.select(files.c.status, files.c.result).where(files.c.id == file_id)
        ).one()
    return found.status, found.result


def test_success_is_written_once(store: ResultStore) -> None:
    file_id = add_row(store)
    result = {"prompt": "", "content": "c", "summarize": "s", "details": ["s"]}
    assert store.state(file_id, "t1", overwrite=False) is RowState.OPEN
    assert store.finish(file_id, "t1", "SUCCESS", result, overwrite=False) is Written.WRITTEN
    assert store.state(file_id, "t1", overwrite=False) is RowState.DONE
    assert store.finish(file_id, "t1", "SUCCESS", {"x": 1}, overwrite=False) is Written.ALREADY
    assert (
        store.finish(file_id, "t2", "FAILURE", {"error": "x"}, overwrite=False) is Written.ALREADY
    )
    assert row(store, file_id) == ("SUCCESS", {**result, "task": "t1"})


def test_edit_overwrites_once_and_failure_merges(store: ResultStore) -> None:
    file_id = add_row(store, "SUCCESS", {"content": "old", "summarize": "old", "task": "t0"})
    assert store.state(file_id, "t1", overwrite=True) is RowState.OPEN
    assert (
        store.finish(file_id, "t1", "SUCCESS", {"content": "new"}, overwrite=True)
        is Written.WRITTEN
    )
    assert (
        store.finish(file_id, "t1", "SUCCESS", {"content": "again"}, overwrite=True)
        is Written.ALREADY
    )
    assert row(store, file_id) == ("SUCCESS", {"content": "new", "task": "t1"})
    assert (
        store.finish(file_id, "t2", "FAILURE", {"error": "bad"}, overwrite=True) is Written.WRITTEN
    )
    assert row(store, file_id) == ("FAILURE", {"content": "new", "error": "bad", "task": "t2"})


def test_missing_row_is_reported_not_raised(store: ResultStore) -> None:
    missing = str(uuid.uuid4())
    assert store.state(missing, "t", overwrite=False) is RowState.MISSING
    assert store.finish(missing, "t", "SUCCESS", {}, overwrite=False) is Written.MISSING


def test_unreachable_database_is_transient() -> None:
    from tests.support.services import free_port
    from worker.errors import TransientError

    engine = create_engine(f"mysql+pymysql://root@127.0.0.1:{free_port()}/none")
    with pytest.raises(TransientError, match="unavailable"):
        ResultStore(engine).state(str(uuid.uuid4()), "t", overwrite=False)
    with pytest.raises(TransientError, match="unavailable"):
        ResultStore(engine).finish(str(uuid.uuid4()), "t", "SUCCESS", {}, overwrite=False)
