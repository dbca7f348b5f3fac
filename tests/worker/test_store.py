"""The `files` table on SQLite and the real MariaDB: idempotent, once-only final writes,
and per row the message pushed last wins (worker.receipt)."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from worker.receipt import Receipt
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


def msg(file_id: str, name: str, seq: int | None) -> Receipt:
    """A message of the row; like the backend, its task id is the row id."""
    return Receipt(file_id, name, seq)


def test_success_is_written_once(store: ResultStore) -> None:
    file_id = add_row(store)
    first, other = msg(file_id, "m1", 1), msg(file_id, "m2", 2)
    result = {"prompt": "", "content": "c", "summarize": "s", "details": ["s"]}
    assert store.state(file_id, first, overwrite=False) is RowState.OPEN
    assert store.finish(file_id, first, "SUCCESS", result, overwrite=False) is Written.WRITTEN
    assert store.state(file_id, first, overwrite=False) is RowState.DONE
    assert store.finish(file_id, first, "SUCCESS", {"x": 1}, overwrite=False) is Written.ALREADY
    assert (
        store.finish(file_id, other, "FAILURE", {"error": "x"}, overwrite=False) is Written.ALREADY
    )
    written = {**result, "task": file_id, "message": "m1", "seq": 1}
    assert row(store, file_id) == ("SUCCESS", written)


def test_edit_overwrites_once_and_failure_merges(store: ResultStore) -> None:
    file_id = add_row(store, "SUCCESS", {"content": "old", "summarize": "old", "task": "t0"})
    one, two = msg(file_id, "m1", 10), msg(file_id, "m2", 11)
    assert store.state(file_id, one, overwrite=True) is RowState.OPEN
    assert (
        store.finish(file_id, one, "SUCCESS", {"content": "new"}, overwrite=True) is Written.WRITTEN
    )
    assert (
        store.finish(file_id, one, "SUCCESS", {"content": "again"}, overwrite=True)
        is Written.ALREADY
    )
    assert row(store, file_id) == (
        "SUCCESS",
        {"content": "new", "task": file_id, "message": "m1", "seq": 10},
    )
    assert (
        store.finish(file_id, two, "FAILURE", {"error": "bad"}, overwrite=True) is Written.WRITTEN
    )
    assert row(store, file_id) == (
        "FAILURE",
        {"content": "new", "error": "bad", "task": file_id, "message": "m2", "seq": 11},
    )


def set_pending(store: ResultStore, file_id: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(files.update().where(files.c.id == file_id).values(status="PENDING"))


def test_an_older_message_never_overwrites_a_newer_one(store: ResultStore) -> None:
    file_id = add_row(store)
    first, edit1, edit2 = msg(file_id, "a", 1), msg(file_id, "b", 2), msg(file_id, "c", 3)
    set_pending(store, file_id)
    assert store.finish(file_id, edit2, "SUCCESS", {"content": "2"}, overwrite=True) == "written"
    for older, overwrite in ((edit1, True), (first, False)):
        assert store.state(file_id, older, overwrite=overwrite) is RowState.SUPERSEDED
        for status in ("SUCCESS", "FAILURE"):
            written = store.finish(file_id, older, status, {"content": "x"}, overwrite=overwrite)
            assert written is Written.SUPERSEDED
    assert row(store, file_id)[1]["content"] == "2"
    # The backend sets the row back to PENDING for the next edit: the message that wrote
    # is still done, and the new one is open.
    set_pending(store, file_id)
    assert store.state(file_id, edit2, overwrite=True) is RowState.DONE
    assert store.state(file_id, msg(file_id, "d", 4), overwrite=True) is RowState.OPEN


def test_concurrent_saves_of_one_row_keep_the_newest(store: ResultStore) -> None:
    file_id = add_row(store)
    seqs = list(range(1, 25))
    random.shuffle(seqs)  # they finish in any order
    barrier = threading.Barrier(len(seqs))

    def save(seq: int) -> None:
        barrier.wait()
        store.finish(file_id, msg(file_id, f"m{seq}", seq), "SUCCESS", {"n": seq}, overwrite=True)

    threads = [threading.Thread(target=save, args=(seq,)) for seq in seqs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert row(store, file_id)[1]["n"] == max(seqs)


def test_missing_row_is_reported_not_raised(store: ResultStore) -> None:
    missing = str(uuid.uuid4())
    assert store.state(missing, msg(missing, "m", 1), overwrite=False) is RowState.MISSING
    written = store.finish(missing, msg(missing, "m", 1), "SUCCESS", {}, overwrite=False)
    assert written is Written.MISSING


def test_unreachable_database_is_transient() -> None:
    from tests.support.services import free_port
    from worker.errors import TransientError

    engine = create_engine(f"mysql+pymysql://root@127.0.0.1:{free_port()}/none")
    receipt = msg("x", "m", 1)
    with pytest.raises(TransientError, match="unavailable"):
        ResultStore(engine).state(str(uuid.uuid4()), receipt, overwrite=False)
    with pytest.raises(TransientError, match="unavailable"):
        ResultStore(engine).finish(str(uuid.uuid4()), receipt, "SUCCESS", {}, overwrite=False)
