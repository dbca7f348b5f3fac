"""The six tasks of contract.md: thin wrappers that parse kwargs and call a mission.

Outcome policy, the same for every task:

* :class:`TransientError` -> ``self.retry`` with exponential backoff and jitter, up to
  ``TASK_MAX_RETRIES``; then the row gets ``FAILURE`` and the task ends ``FAILURE``.
* :class:`PermanentError` -> the row gets ``FAILURE`` with ``{"error": ...}`` and the task
  ends ``FAILURE`` with the same readable message.
* Any other exception is a bug: logged here with its traceback, reported to the row and
  the result backend only as "internal worker error".

The task id of an analysis is its row id (contract.md section 1), shared by the row's
first mission and all its edits, so everything per message here (delivery count,
computed result, the row write, progress) is keyed by the message's receipt
(:mod:`worker.receipt`) instead.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery, Task

from worker import missions
from worker.deadline import Deadline
from worker.errors import MissionError, PermanentError, TransientError
from worker.metrics import DURATION, LLM_TOKENS, RETRIES, TASKS
from worker.receipt import Receipt, receipt_of
from worker.requests import MailKwargs, MediaKwargs, TextKwargs, file_id_of, parse_kwargs
from worker.runtime import Runtime, get_runtime
from worker.settings import WorkerSettings
from worker.store import RowState, Written

log = logging.getLogger(__name__)

Mission = Callable[..., dict[str, Any]]
# name -> (kwargs model, mission, whether it overwrites an existing result)
ANALYSES: dict[str, tuple[type[MediaKwargs] | type[TextKwargs], Mission, bool]] = {
    "ASR_predict": (MediaKwargs, missions.lecture_from_audio, False),
    "OCR_predict": (MediaKwargs, missions.essay_from_image, False),
    "OCR_predict_Text": (TextKwargs, missions.essay_from_text, False),
    "NLP_edit_ASR": (TextKwargs, missions.lecture_from_text, True),
    "NLP_edit_OCR": (TextKwargs, missions.essay_from_text, True),
}
MAIL = "Mail_sent"
DELIVERIES = "studysavvy:deliveries:"
COMPUTED = "studysavvy:computed:"
REDACTED = "{'…': 'redacted'}"


def backoff_s(retries: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter, so a crowd of retries does not return at once."""
    return random.uniform(0.5, 1.0) * min(cap, base * 2.0**retries)  # noqa: S311  # nosec B311


def _reporter(task: Task[Any, Any], receipt: Receipt) -> Callable[..., None]:
    """Publishes a stage: task state ``PROGRESS`` and a ``task-progress`` event (Flower).

    Both are keyed by task id, which a row's messages share, so each names its message."""
    # Captured here: the request context is thread-local, and the map step reports from
    # its own threads.
    task_id = task.request.id
    hostname = task.request.hostname
    direct = task.request.called_directly
    which = {"message": receipt.message, "seq": receipt.seq}

    def report(stage: str, **meta: Any) -> None:
        if not task_id or direct:
            return
        meta = {"stage": stage, **meta, **which}
        try:
            task.update_state(task_id=task_id, state="PROGRESS", meta=meta)
            with task.app.events.default_dispatcher(hostname=hostname) as events:
                events.send("task-progress", uuid=task_id, retry=False, **meta)
        except Exception:  # progress is best effort; the mission goes on without it
            log.warning("could not publish progress", extra={"stage": stage})

    return report


def _take_over_progress(task: Task[Any, Any], receipt: Receipt) -> None:
    """Clears the result-backend state an older message of the row left behind.

    The result backend keys states by task id, and Celery never overwrites a ``SUCCESS``
    (its guard against lost tasks), so without this the row's first mission would hold
    the state forever and no later edit's progress or outcome would show."""
    if receipt.seq is None or task.request.called_directly:
        return
    try:
        meta = task.backend.get_task_meta(receipt.task_id, cache=False)  # fresh, not memoised
        result = meta.get("result")
        seq = result.get("seq") if isinstance(result, dict) else None
        if meta.get("status") == "SUCCESS" and (type(seq) is not int or seq < receipt.seq):
            task.backend.forget(receipt.task_id)
    except Exception:  # progress is best effort, like the reports themselves
        log.warning("could not clear an older state", extra={"receipt": receipt.message})


def _retry_or_give_up(task: Task[Any, Any], name: str, rt: Runtime, exc: TransientError) -> None:
    """Schedules a retry (raises ``Retry``) or returns when the retries are spent."""
    retries = task.request.retries
    if retries >= rt.settings.task_max_retries:
        return
    countdown = backoff_s(retries, rt.settings.retry_backoff_s, rt.settings.retry_backoff_max_s)
    RETRIES.labels(name).inc()
    log.info(
        "transient failure, retrying",
        extra={"task": name, "reason": exc.message, "retry": retries + 1, "in_s": countdown},
    )
    # kwargsrepr: Celery logs and emits the republished message's kwargs otherwise.
    raise task.retry(
        exc=exc,
        countdown=countdown,
        max_retries=rt.settings.task_max_retries,
        argsrepr="()",
        kwargsrepr=REDACTED,
    )


def _count_delivery(rt: Runtime, message: str, retries: int) -> None:
    """Refuses a message delivered more than ``TASK_MAX_DELIVERIES`` times: each earlier
    delivery died with its worker (killed, out of memory) before it could finish.

    ``message`` is the receipt (the task id for mail, whose ids are fresh): a new message
    of the same row starts its own count."""
    key = f"{DELIVERIES}{message}:{retries}"
    try:
        with rt.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, rt.settings.visibility_timeout_s * 2)
            deliveries = int(pipe.execute()[0])
    except redis.RedisError:
        log.warning("could not count deliveries", extra={"receipt": message})
        return
    limit = rt.settings.task_max_deliveries
    if deliveries > limit:
        raise PermanentError(f"the mission stopped its worker {limit} times and was dropped")
    if deliveries > 1:
        log.warning("redelivered mission", extra={"receipt": message, "delivery": deliveries})


def _computed(rt: Runtime, message: str) -> dict[str, Any] | None:
    """A result this message computed on an earlier try or delivery whose save did not
    happen (MySQL down, worker killed)."""
    try:
        kept = rt.redis.get(COMPUTED + message)
    except redis.RedisError:
        return None
    return json.loads(kept) if kept else None


def _keep_computed(rt: Runtime, message: str, result: dict[str, Any]) -> None:
    """Keep the result until it is saved, so a retry does not spend the user's LLM budget
    again; it holds transcript and answers, never credentials."""
    try:
        rt.redis.set(COMPUTED + message, json.dumps(result), ex=rt.settings.visibility_timeout_s)
    except redis.RedisError:
        log.warning("could not keep the computed result", extra={"receipt": message})


def _forget_computed(rt: Runtime, message: str) -> None:
    try:
        rt.redis.delete(COMPUTED + message)
    except redis.RedisError:  # it expires on its own
        log.warning("could not drop the computed result", extra={"receipt": message})


def _fail_row(
    rt: Runtime, file_id: str | None, receipt: Receipt, message: str, overwrite: bool
) -> None:
    if file_id is None:
        log.warning("failed task has no row id", extra={"reason": message})
        return
    try:
        rt.store.finish(file_id, receipt, "FAILURE", {"error": message}, overwrite=overwrite)
    except TransientError:
        log.error("could not record the failure", extra={"file_id": file_id, "reason": message})


def run_analysis(task: Task[Any, Any], name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    model, mission, overwrite = ANALYSES[name]
    rt = get_runtime()
    receipt = receipt_of(task.request)
    file_id = file_id_of(kwargs)
    deadline = Deadline.after(rt.settings.task_time_limit_s)
    report = _reporter(task, receipt)
    which = {"message": receipt.message, "seq": receipt.seq}
    started = time.perf_counter()
    _take_over_progress(task, receipt)
    try:
        report("queued")
        parsed = parse_kwargs(model, kwargs)
        state = rt.store.state(parsed.id, receipt, overwrite=overwrite)
        if state is not RowState.OPEN:
            log.warning("nothing to do", extra={"task": name, "file_id": parsed.id, "row": state})
            TASKS.labels(name, f"skipped_{state}").inc()
            return {"id": parsed.id, "status": f"skipped: {state}", **which}
        _count_delivery(rt, receipt.message, task.request.retries)
        result = _computed(rt, receipt.message)
        if result is None:
            result = mission(rt, parsed, report, deadline)
            _keep_computed(rt, receipt.message, result)
        report("saving")
        written = rt.store.finish(parsed.id, receipt, "SUCCESS", result, overwrite=overwrite)
        _forget_computed(rt, receipt.message)
    except TransientError as exc:
        _retry_or_give_up(task, name, rt, exc)
        message = f"{exc.message} (gave up after {task.request.retries} retries)"
        _fail_row(rt, file_id, receipt, message, overwrite)
        TASKS.labels(name, "failure").inc()
        raise PermanentError(message) from None
    except PermanentError as exc:
        _fail_row(rt, file_id, receipt, exc.message, overwrite)
        TASKS.labels(name, "failure").inc()
        raise
    except Exception:
        log.exception("internal worker error", extra={"task": name})
        _fail_row(rt, file_id, receipt, "internal worker error", overwrite)
        TASKS.labels(name, "failure").inc()
        raise PermanentError("internal worker error") from None
    finally:
        DURATION.labels(name).observe(time.perf_counter() - started)
    for kind in ("prompt", "completion"):
        LLM_TOKENS.labels(name, kind).inc(result["usage"][f"{kind}_tokens"])
    if written is not Written.WRITTEN:
        # Computed, but a later save of the row (or this very message) wrote first.
        log.info("result not saved", extra={"task": name, "file_id": parsed.id, "row": written})
        TASKS.labels(name, f"skipped_{written}").inc()
        return {"id": parsed.id, "status": f"skipped: {written}", **which}
    TASKS.labels(name, "success").inc()
    return {"id": parsed.id, "status": "SUCCESS", **which}


def run_mail(task: Task[Any, Any], kwargs: dict[str, Any]) -> dict[str, bool]:
    rt = get_runtime()
    try:
        parsed = parse_kwargs(MailKwargs, kwargs)
        _count_delivery(rt, str(task.request.id), task.request.retries)
        sent = missions.send_verification(rt, parsed, str(task.request.id))
    except TransientError as exc:
        _retry_or_give_up(task, MAIL, rt, exc)
        TASKS.labels(MAIL, "failure").inc()
        raise PermanentError(
            f"{exc.message} (gave up after {task.request.retries} retries)"
        ) from None
    except PermanentError:
        TASKS.labels(MAIL, "failure").inc()
        raise
    except Exception as exc:
        # Logged by type only: the message may quote the address or the SMTP dialogue.
        log.error("internal worker error", extra={"task": MAIL, "error_type": type(exc).__name__})
        TASKS.labels(MAIL, "failure").inc()
        raise PermanentError("internal worker error") from None
    TASKS.labels(MAIL, "success" if sent else "skipped_done").inc()
    return {"sent": sent}


def register_tasks(app: Celery, settings: WorkerSettings) -> None:
    """The six tasks under ``<CELERY_TASK>.<name>``."""

    def analysis(name: str) -> Callable[..., dict[str, Any]]:
        def run(self: Task[Any, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
            return run_analysis(self, name, kwargs)

        run.__name__ = name
        return run

    def mail(self: Task[Any, Any], *args: Any, **kwargs: Any) -> dict[str, bool]:
        return run_mail(self, kwargs)

    options: dict[str, Any] = {
        "bind": True,
        "throws": (MissionError,),
        "acks_late": True,
        "shared": False,
    }
    for name in ANALYSES:
        app.task(name=settings.task_name(name), **options)(analysis(name))
    app.task(name=settings.task_name(MAIL), **options)(mail)
