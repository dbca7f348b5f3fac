"""Following a mission from the Celery result backend (real Redis) and the row (SQLite)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import redis
import sqlalchemy as sa

from demo.missions import Mission, insert_pending_row, read_row, refresh, reopen_row
from worker.store import create_engine, create_schema, files


def _meta(client: redis.Redis, task_id: str, status: str, result: object = None) -> None:
    client.set(f"celery-task-meta-{task_id}", json.dumps({"status": status, "result": result}))


def _finish_row(engine: sa.Engine, file_id: str, status: str, result: dict[str, object]) -> None:
    with engine.begin() as conn:
        conn.execute(
            files.update().where(files.c.id == file_id).values(status=status, result=result)
        )


def test_progress_then_success_from_the_row(tmp_path: Path, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    engine = create_engine(f"sqlite:///{tmp_path / 'files.db'}")
    create_schema(engine)
    file_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    insert_pending_row(engine, file_id, "ASR", "/x.mp3", "a@b.co")
    mission = Mission("ASR_predict", {}, file_id, task_id=task_id, pushed_at=0.0)

    assert refresh(mission, engine, client)
    assert mission.state == "QUEUED"
    _meta(client, task_id, "PROGRESS", {"stage": "transcribing"})
    assert refresh(mission, engine, client)
    assert (mission.state, mission.stage) == ("PROGRESS", "transcribing")
    assert not refresh(mission, engine, client)  # nothing new, no progress line

    result = {"content": "c", "summarize": "s", "details": ["d"], "task": task_id}
    _finish_row(engine, file_id, "SUCCESS", result)
    refresh(mission, engine, client)
    assert mission.state == "SUCCESS"
    assert mission.result == result
    assert mission.finished_at is not None


def test_a_task_that_ends_without_writing_its_row_is_a_failure(
    tmp_path: Path, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    engine = create_engine(f"sqlite:///{tmp_path / 'files.db'}")
    create_schema(engine)
    file_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    insert_pending_row(engine, file_id, "OCR", None, "a@b.co")
    mission = Mission("OCR_predict_Text", {}, file_id, task_id=task_id, pushed_at=0.0)
    _meta(client, task_id, "SUCCESS", {"id": file_id, "status": "skipped: done"})
    refresh(mission, engine, client)
    assert mission.state == "FAILURE"


def test_an_edit_under_the_row_id_is_not_done_until_it_writes_a_newer_result(
    tmp_path: Path, redis_url: str
) -> None:
    """The backend's edit reuses the row id as task id, so the result backend still holds
    the analysis's SUCCESS when the edit is pushed, and the reopened row its result."""
    client = redis.Redis.from_url(redis_url)
    engine = create_engine(f"sqlite:///{tmp_path / 'files.db'}")
    create_schema(engine)
    file_id = str(uuid.uuid4())
    insert_pending_row(engine, file_id, "ASR", "/x.mp3", "a@b.co")
    _finish_row(engine, file_id, "SUCCESS", {"content": "old", "task": file_id, "seq": 100})
    _meta(client, file_id, "SUCCESS", {"id": file_id, "status": "SUCCESS"})
    edit = Mission("NLP_edit_ASR", {}, file_id, after="ASR_predict", task_id=file_id)
    edit.reopened_at_seq, edit.pushed_at = reopen_row(engine, file_id), 0.0
    assert edit.reopened_at_seq == 100
    assert read_row(engine, file_id) == ("PENDING", {"content": "old", "task": file_id, "seq": 100})
    refresh(edit, engine, client)
    assert not edit.done  # the SUCCESS in Redis and the old result are the analysis's
    _finish_row(engine, file_id, "SUCCESS", {"content": "new", "task": file_id, "seq": 101})
    refresh(edit, engine, client)
    assert edit.state == "SUCCESS"
    assert (edit.result or {})["content"] == "new"

    again = Mission("NLP_edit_ASR", {}, file_id, after="ASR_predict", task_id=file_id)
    again.reopened_at_seq, again.pushed_at = reopen_row(engine, file_id), 0.0
    _meta(client, file_id, "FAILURE", {"exc_type": "PermanentError"})
    refresh(again, engine, client)
    assert again.state == "FAILURE"  # its own task failed: the row keeps the old result


def test_mail_mission_follows_the_task_state(tmp_path: Path, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    engine = create_engine(f"sqlite:///{tmp_path / 'files.db'}")
    task_id = str(uuid.uuid4())
    mission = Mission("Mail_sent", {"mail": "a@b.co"}, task_id=task_id, pushed_at=0.0)
    _meta(client, task_id, "STARTED")
    refresh(mission, engine, client)
    assert mission.state == "STARTED"
    _meta(client, task_id, "FAILURE", {"exc_type": "PermanentError"})
    refresh(mission, engine, client)
    assert mission.state == "FAILURE"
