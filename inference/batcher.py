"""A generic dynamic batcher: many concurrent callers, one model, batched calls.

Callers ``await batcher.submit(item)``. Items wait in one queue; a batch is cut when it
holds ``max_batch_size`` items or ``max_wait_ms`` after its first item arrived, whichever
comes first. The batch function runs on a single executor thread (the batcher's own, or the model
thread its service shares between batchers), so the event loop never blocks and the model
never runs two batches at once;
while it runs, new items queue up and form the next, usually fuller, batch.

A model that can run several batches at once (``lanes``: CTranslate2 replicas, one per
core, for example) gets an executor of that many threads, and the waiting items are
shared evenly between the lanes (a lane that frees first takes its share, not all).

A batch that fails because one of its items is bad (a client error, 4xx in the error
table) is run again item by item, so only the caller who sent the bad item gets the
error; any other failure reaches every caller of the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import Gauge, Histogram

from inference.errors import InferenceError, Overloaded, http_status_for

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

BATCH_SIZE = Histogram(
    "inference_batch_size",
    "Items per model call",
    ["batcher"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
BATCH_WAIT = Histogram(
    "inference_batch_wait_seconds",
    "Time an item waited in the queue before its batch started",
    ["batcher"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_DURATION = Histogram(
    "inference_batch_duration_seconds",
    "Wall time of one model call",
    ["batcher"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_DEPTH = Gauge("inference_queue_depth", "Items waiting for a batch", ["batcher"])


def model_thread(name: str) -> ThreadPoolExecutor:
    """The one thread a service loads and runs its models on.

    On a CPU, PyTorch (and CTranslate2) keep an OpenMP thread team per calling thread; a
    second thread that touches a model makes the teams oversubscribe the cores and the
    runtime stops spinning between parallel regions. Measured on 2 cores: the CRNN read a
    20-line page in 0.62 s from one thread and in 1.3 s once CRAFT ran on another.
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{name}")


class BatchSizeMismatch(RuntimeError):
    """The batch function returned a different number of results than it was given."""


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class BatcherStats:
    """Counters kept in-process, for tests and the /v1/models endpoint."""

    batches: int = 0
    items: int = 0
    max_batch: int = 0
    dropped: int = 0
    recent_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=1024))


class DynamicBatcher(Generic[T, R]):
    """Collects items from concurrent callers into batches for ``batch_fn``."""

    def __init__(
        self,
        name: str,
        batch_fn: Callable[[list[T]], Sequence[R]],
        *,
        max_batch_size: int = 8,
        max_wait_ms: float = 10.0,
        max_queue: int = 512,
        executor: ThreadPoolExecutor | None = None,
        lanes: int = 1,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if lanes < 1:
            raise ValueError("lanes must be at least 1")
        self.name = name
        self.stats = BatcherStats()
        self._batch_fn = batch_fn
        self._max_batch_size = max_batch_size
        self._max_wait = max_wait_ms / 1000.0
        self._max_queue = max_queue
        self._pending: deque[_Pending[T, R]] = deque()
        self._arrived: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._lanes = lanes
        self._free_lanes = lanes
        # Lanes still to take an equal share of one cut of the queue, and that share.
        self._shares_left = 0
        self._share = 0
        self._running: set[asyncio.Task[None]] = set()
        # Batchers of one service may share its model thread; only an own one is shut down.
        self._owns_executor = executor is None or lanes > 1
        if lanes > 1:
            self._executor = ThreadPoolExecutor(lanes, thread_name_prefix=f"model-{name}")
        else:
            self._executor = executor or model_thread(name)

    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        if self._runner is None:
            self._arrived = asyncio.Event()
            self._runner = asyncio.create_task(self._run(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        for running in list(self._running):
            running.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        while self._pending:
            pending = self._pending.popleft()
            if not pending.future.done():
                pending.future.set_exception(Overloaded("the service is shutting down"))
        if self._owns_executor:
            self._executor.shutdown(wait=True)

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (or its batch's exception)."""
        if self._runner is None or self._arrived is None:
            raise RuntimeError(f"batcher {self.name} is not started")
        if len(self._pending) >= self._max_queue:
            raise Overloaded("too many requests are waiting; retry later")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(item, future))
        QUEUE_DEPTH.labels(self.name).set(len(self._pending))
        self._arrived.set()
        # If the caller is cancelled (client gone), the future is cancelled with it and the
        # runner skips the item.
        return await future

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Queue several items of one request; they may land in different batches."""
        return list(await asyncio.gather(*(self.submit(item) for item in items)))

    async def _run(self) -> None:
        lane_freed = asyncio.Event()
        while True:
            while self._free_lanes == 0:
                lane_freed.clear()
                await lane_freed.wait()
            batch = await self._next_batch()
            if not batch:
                continue
            self._free_lanes -= 1
            task = asyncio.create_task(self._run_batch(batch))
            self._running.add(task)

            def freed(done: asyncio.Task[None]) -> None:
                self._running.discard(done)
                self._free_lanes += 1
                lane_freed.set()

            task.add_done_callback(freed)
            if self._lanes == 1:
                await asyncio.wait({task})  # one lane: the next batch forms meanwhile

    async def _run_batch(self, batch: list[_Pending[T, R]]) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        for pending in batch:
            BATCH_WAIT.labels(self.name).observe(started - pending.enqueued)
        self._record(len(batch))
        try:
            results = await loop.run_in_executor(
                self._executor, self._batch_fn, [p.item for p in batch]
            )
            if len(results) != len(batch):
                raise BatchSizeMismatch(
                    f"{self.name}: {len(results)} results for {len(batch)} inputs"
                )
        except Exception as exc:
            if len(batch) > 1 and _caused_by_an_item(exc):
                extra = {"batcher": self.name, "size": len(batch)}
                log.info("an item was refused; running the batch item by item", extra=extra)
                answers = await loop.run_in_executor(
                    self._executor, self._one_by_one, [p.item for p in batch]
                )
                for pending, answer in zip(batch, answers, strict=True):
                    _settle(pending.future, answer)
                return
            # Every caller of the batch learns why it failed.
            if not isinstance(exc, BatchSizeMismatch | Overloaded):
                log.warning("batch failed", extra={"batcher": self.name, "size": len(batch)})
            for pending in batch:
                _settle(pending.future, exc)
            return
        finally:
            BATCH_DURATION.labels(self.name).observe(time.monotonic() - started)
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    def _one_by_one(self, items: list[T]) -> list[R | Exception]:
        answers: list[R | Exception] = []
        for item in items:
            try:
                (result,) = self._batch_fn([item])
                answers.append(result)
            except Exception as exc:
                answers.append(exc)
        return answers

    async def _next_batch(self) -> list[_Pending[T, R]]:
        arrived = self._arrived
        if arrived is None:
            raise RuntimeError(f"batcher {self.name} is not started")
        while not self._pending:
            self._shares_left = 0  # a cut that ran dry: its shares are gone
            arrived.clear()
            await arrived.wait()
        deadline = time.monotonic() + self._max_wait
        while len(self._pending) < self._max_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), remaining)
            except TimeoutError:
                break
        size = min(self._max_batch_size, self._share_size())
        batch: list[_Pending[T, R]] = []
        while self._pending and len(batch) < size:
            pending = self._pending.popleft()
            if pending.future.done():  # the caller has gone
                self.stats.dropped += 1
                continue
            batch.append(pending)
        QUEUE_DEPTH.labels(self.name).set(len(self._pending))
        return batch

    def _share_size(self) -> int:
        """How many waiting items the lane about to run takes.

        Lanes free at once split the queue evenly (19 items on two lanes are 10 and 9, not
        16 and 3). A lane that frees while others work takes its share as if they were
        free too: they soon will be, and taking all that waits would leave them idle
        (measured on a lecture: 7 windows in one call for 5.1 s while the other lane idled).
        """
        if self._shares_left:
            self._shares_left -= 1
            return self._share
        waiting = len(self._pending)
        if self._free_lanes == self._lanes:
            self._share = -(-waiting // self._free_lanes)
            self._shares_left = self._free_lanes - 1
            return self._share
        return -(-waiting // self._lanes)

    def _record(self, size: int) -> None:
        BATCH_SIZE.labels(self.name).observe(size)
        self.stats.batches += 1
        self.stats.items += size
        self.stats.max_batch = max(self.stats.max_batch, size)
        self.stats.recent_sizes.append(size)


def _caused_by_an_item(exc: Exception) -> bool:
    """A client error (4xx): some item of the batch is bad, the model itself is fine.
    Not 429: an overloaded model server is not helped by one call per item."""
    if not isinstance(exc, InferenceError) or isinstance(exc, Overloaded):
        return False
    return http_status_for(exc) < 500


def _settle(future: asyncio.Future[R], answer: R | Exception) -> None:
    if future.done():  # the caller has gone
        return
    if isinstance(answer, Exception):
        future.set_exception(answer)
    else:
        future.set_result(answer)
