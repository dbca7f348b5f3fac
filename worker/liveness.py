"""Is the consumer alive and making progress? Can the worker reach its broker?

The metrics endpoint runs on a thread of its own and keeps answering when the consumer
is stuck (a hung broker connection, a blocked event loop), so it says nothing about the
consumer. The consumer beats a heartbeat instead:

* every reply to its ``BRPOP`` (a message, or the nil that Redis answers once the
  command's one-second server-side timeout is up) beats, read by the consumer loop itself;
* while every execution slot is taken, kombu sends no ``BRPOP`` at all, so a timer of
  the consumer loop beats as long as the loop runs and the prefetch window is full;
* once a warm shutdown has begun, liveness holds: running tasks are finishing.

``/livez`` fails once the last beat is older than ``LIVENESS_WINDOW_S``; ``/readyz``
fails when a ``PING`` to the broker does not come back within two seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from queue import Empty
from typing import Any

import redis
from celery import bootsteps
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.broker import TASK_QUEUES, GuardedChannel, GuardedTransport

log = logging.getLogger(__name__)

BROKER_CHECK_TIMEOUT_S = 2.0


class Heartbeat:
    """The monotonic time of the consumer's last sign of progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = time.monotonic()  # process start: the window covers the first connect
        # Warm shutdown: the consumer stops on purpose while running tasks finish (up to
        # the termination grace period); a restart then would kill them.
        self.draining = False

    def beat(self) -> None:
        with self._lock:
            self._last = time.monotonic()

    def age_s(self) -> float:
        with self._lock:
            return time.monotonic() - self._last


HEARTBEAT = Heartbeat()


class HeartbeatChannel(GuardedChannel):
    """The guarded channel, beating on each BRPOP reply the consumer reads."""

    def _brpop_read(self, **options: Any) -> Any:
        try:
            delivered = super()._brpop_read(**options)
        except Empty:  # the broker answered: nothing waiting (or a dropped bad item)
            HEARTBEAT.beat()
            raise
        HEARTBEAT.beat()
        return delivered


class HeartbeatTransport(GuardedTransport):
    Channel = HeartbeatChannel


class ConsumerHeartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
    """Beats from the consumer loop while the prefetch window is full (no BRPOP then)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    interval_s = 1.0

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self._tref: Any = None

    def start(self, c: Any) -> None:
        HEARTBEAT.beat()  # connected and consuming
        self._tref = c.timer.call_repeatedly(self.interval_s, self._tick, (c,))

    def _tick(self, c: Any) -> None:
        consumer = c.task_consumer
        channel = getattr(consumer, "channel", None)
        qos = getattr(channel, "qos", None)
        if qos is not None and not qos.can_consume():
            HEARTBEAT.beat()

    def stop(self, c: Any) -> None:
        if self._tref is not None:
            self._tref.cancel()
            self._tref = None

    shutdown = stop


def liveness(window_s: float) -> tuple[bool, dict[str, Any]]:
    age = HEARTBEAT.age_s()
    if HEARTBEAT.draining:
        return True, {"status": "shutting down", "heartbeat_age_s": round(age, 3)}
    alive = age <= window_s
    if not alive:
        log.warning("consumer heartbeat is stale", extra={"age_s": round(age, 1)})
    return alive, {"status": "alive" if alive else "stalled", "heartbeat_age_s": round(age, 3)}


def on_shutting_down(**_: Any) -> None:
    HEARTBEAT.draining = True


class BrokerCheck:
    """A short-timeout Redis client of its own: PING for readiness, LLEN for the backlog."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=BROKER_CHECK_TIMEOUT_S,
            socket_connect_timeout=BROKER_CHECK_TIMEOUT_S,
            retry_on_timeout=False,
        )

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        try:
            self._client.ping()
        except redis.RedisError as exc:
            return False, {"status": "broker unreachable", "error": type(exc).__name__}
        return True, {"status": "ready"}

    def queue_lengths(self) -> dict[str, int]:
        return {queue: int(self._client.llen(queue)) for queue in sorted(TASK_QUEUES)}


class WorkerGauges(Collector):
    """The backlog (length of the ``celery`` list), read at scrape time, and the heartbeat."""

    def __init__(self, broker: BrokerCheck) -> None:
        self._broker = broker

    def collect(self) -> Iterable[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "studysavvy_worker_queue_length",
            "Messages waiting in the broker list the backend pushes to",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            "studysavvy_worker_broker_up", "1 when this scrape could read the broker"
        )
        try:
            for queue, length in self._broker.queue_lengths().items():
                backlog.add_metric([queue], length)
            up.add_metric([], 1)
        except redis.RedisError:
            up.add_metric([], 0)
        yield backlog
        yield up
        yield GaugeMetricFamily(
            "studysavvy_worker_consumer_heartbeat_age_seconds",
            "Seconds since the consumer loop last showed progress",
            value=HEARTBEAT.age_s(),
        )
