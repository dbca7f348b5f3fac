"""The Celery application: ``celery -A worker.app worker -P threads -c 32``.

The tasks wait on HTTP (inference services, LLM) and SMTP, so a thread (or gevent)
pool with high concurrency keeps one small process busy; no task runs a model here.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals
from prometheus_client import REGISTRY

from inference.logs import configure_logging
from worker.liveness import (
    BrokerCheck,
    ConsumerHeartbeat,
    WorkerGauges,
    liveness,
    on_shutting_down,
)
from worker.metrics import serve
from worker.settings import WorkerSettings, get_settings
from worker.tasks import register_tasks

_SENSITIVE = ("args", "kwargs")
_REDACTED = "[redacted]"


class RedactTaskArguments(logging.Filter):
    """Celery logs a task's arguments on receipt and on failure; they carry encrypted
    credentials and mail addresses, so they never reach a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict) and any(key in record.args for key in _SENSITIVE):
            record.args = {
                **record.args,
                **{key: _REDACTED for key in _SENSITIVE if key in record.args},
            }
        if record.name.startswith("celery.worker.consumer") and isinstance(record.args, tuple):
            # Unknown or invalid task: Celery dumps the raw body (encrypted credentials,
            # mail address) after the reason; keep only the reason.
            record.args = tuple(
                arg if index == 0 else _REDACTED for index, arg in enumerate(record.args)
            )
        data = getattr(record, "data", None)
        if isinstance(data, dict) and any(key in data for key in _SENSITIVE):
            record.data = {**data, **{key: _REDACTED for key in _SENSITIVE if key in data}}
        return True


def setup_logging(settings: WorkerSettings) -> None:
    configure_logging(settings.log_level, json_lines=settings.log_json)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTaskArguments())


def create_celery(settings: WorkerSettings) -> Celery:
    app = Celery("studysavvy", broker=settings.broker_url(), backend=settings.backend_url())
    app.conf.update(
        accept_content=["json"],
        result_accept_content=["json"],
        task_serializer="json",
        result_serializer="json",
        task_default_queue="celery",
        # Drops queue items that are not Celery envelopes instead of dying on them, and
        # beats the consumer's heartbeat on every broker reply (worker/liveness.py).
        broker_transport="worker.liveness:HeartbeatTransport",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Longer than the longest task plus its retry countdowns, or Redis redelivers
        # a message that is still being worked on.
        # A worker that died (OOM, SIGKILL) leaves its message unacked; a live worker puts
        # it back once it is older than the visibility timeout. kombu sweeps only every
        # 10th tick of 10 s by default (100 s late): every tick (10 s) instead.
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        result_backend_always_retry=True,
        result_expires=86400,
        task_time_limit=settings.task_time_limit_s,
        task_track_started=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        enable_utc=True,
    )
    app.steps["consumer"].add(ConsumerHeartbeat)
    register_tasks(app, settings)
    return app


settings = get_settings()
app = create_celery(settings)


def _logging(**_: Any) -> None:
    setup_logging(settings)


def _metrics(**_: Any) -> None:
    if settings.metrics_port <= 0:
        return
    broker = BrokerCheck(settings.broker_url())
    REGISTRY.register(WorkerGauges(broker))
    window = settings.liveness_window_s
    serve(settings.metrics_port, {"/livez": lambda: liveness(window), "/readyz": broker.readiness})


# Connected, Celery leaves the root logger to us (JSON lines, argument redaction).
signals.setup_logging.connect(_logging, weak=False)
signals.worker_init.connect(_metrics, weak=False)
signals.worker_shutting_down.connect(on_shutting_down, weak=False)
