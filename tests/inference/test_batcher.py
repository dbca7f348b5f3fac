"""The shared dynamic batcher, driven by a fake model that records every call."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from inference.batcher import BatchSizeMismatch, DynamicBatcher
from inference.errors import InvalidRequest, Overloaded


class RecordingModel:
    """Doubles each input; remembers batch sizes and the thread each batch ran on."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[int]] = []
        self.threads: set[int] = set()
        self.fail_next = False

    def __call__(self, items: list[int]) -> list[int]:
        self.threads.add(threading.get_ident())
        self.batches.append(list(items))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_next:
            self.fail_next = False
            raise ValueError("model exploded")
        return [item * 2 for item in items]


async def started(batcher: DynamicBatcher[int, int]) -> DynamicBatcher[int, int]:
    await batcher.start()
    return batcher


async def test_concurrent_submitters_form_batches_and_keep_their_results() -> None:
    model = RecordingModel(delay=0.02)
    batcher = await started(DynamicBatcher("t1", model, max_batch_size=8, max_wait_ms=20))
    try:
        results = await asyncio.gather(*(batcher.submit(i) for i in range(32)))
    finally:
        await batcher.stop()
    assert results == [i * 2 for i in range(32)]
    assert max(len(batch) for batch in model.batches) > 1
    assert all(len(batch) <= 8 for batch in model.batches)
    assert sum(len(batch) for batch in model.batches) == 32
    assert batcher.stats.items == 32
    assert batcher.stats.max_batch == max(len(b) for b in model.batches)


async def test_batch_fn_runs_off_the_event_loop_on_one_thread() -> None:
    model = RecordingModel(delay=0.01)
    batcher = await started(DynamicBatcher("t2", model, max_batch_size=2, max_wait_ms=1))
    try:
        await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    finally:
        await batcher.stop()
    assert threading.get_ident() not in model.threads
    assert len(model.threads) == 1


async def test_max_wait_cuts_a_partial_batch() -> None:
    model = RecordingModel()
    batcher = await started(DynamicBatcher("t3", model, max_batch_size=64, max_wait_ms=50))
    try:
        began = time.monotonic()
        assert await batcher.submit(21) == 42
        elapsed = time.monotonic() - began
    finally:
        await batcher.stop()
    assert model.batches == [[21]]
    assert 0.04 <= elapsed < 1.0


async def test_full_batch_does_not_wait_for_max_wait() -> None:
    model = RecordingModel()
    batcher = await started(DynamicBatcher("t4", model, max_batch_size=4, max_wait_ms=5_000))
    try:
        began = time.monotonic()
        await asyncio.gather(*(batcher.submit(i) for i in range(4)))
        elapsed = time.monotonic() - began
    finally:
        await batcher.stop()
    assert model.batches == [[0, 1, 2, 3]]
    assert elapsed < 1.0


async def test_failed_batch_fails_every_member_then_keeps_serving() -> None:
    model = RecordingModel(delay=0.01)
    batcher = await started(DynamicBatcher("t5", model, max_batch_size=4, max_wait_ms=30))
    try:
        model.fail_next = True
        outcomes = await asyncio.gather(
            *(batcher.submit(i) for i in range(4)), return_exceptions=True
        )
        assert all(isinstance(outcome, ValueError) for outcome in outcomes)
        assert await batcher.submit(5) == 10
    finally:
        await batcher.stop()


async def test_a_bad_item_fails_alone_and_its_batch_mates_get_their_answers() -> None:
    calls: list[list[int]] = []

    def strict_model(items: list[int]) -> list[int]:
        calls.append(list(items))
        if any(item < 0 for item in items):
            raise InvalidRequest("negative input")  # the whole call fails, as Triton's does
        return [item * 2 for item in items]

    batcher = await started(DynamicBatcher("t5b", strict_model, max_batch_size=4, max_wait_ms=50))
    try:
        outcomes = await asyncio.gather(
            *(batcher.submit(i) for i in (1, -1, 3, 4)), return_exceptions=True
        )
        assert outcomes[0] == 2
        assert isinstance(outcomes[1], InvalidRequest)
        assert outcomes[2:] == [6, 8]
        assert calls[0] == [1, -1, 3, 4]  # one batch first, then each item alone
        assert calls[1:] == [[1], [-1], [3], [4]]
    finally:
        await batcher.stop()


async def test_an_overloaded_model_is_not_called_once_per_item() -> None:
    calls: list[list[int]] = []

    def busy_model(items: list[int]) -> list[int]:
        calls.append(list(items))
        raise Overloaded("the model server is overloaded")

    batcher = await started(DynamicBatcher("t5c", busy_model, max_batch_size=4, max_wait_ms=50))
    try:
        outcomes = await asyncio.gather(
            *(batcher.submit(i) for i in range(4)), return_exceptions=True
        )
        assert all(isinstance(outcome, Overloaded) for outcome in outcomes)
        assert calls == [[0, 1, 2, 3]]
    finally:
        await batcher.stop()


async def test_wrong_number_of_results_is_an_error_for_the_batch() -> None:
    batcher: DynamicBatcher[int, int] = DynamicBatcher(
        "t6", lambda items: items[:-1], max_batch_size=2, max_wait_ms=20
    )
    await batcher.start()
    try:
        outcomes = await asyncio.gather(
            batcher.submit(1), batcher.submit(2), return_exceptions=True
        )
    finally:
        await batcher.stop()
    assert all(isinstance(outcome, BatchSizeMismatch) for outcome in outcomes)


async def test_cancelled_callers_are_dropped_before_the_model_sees_them() -> None:
    model = RecordingModel(delay=0.2)
    batcher = await started(DynamicBatcher("t7", model, max_batch_size=1, max_wait_ms=0))
    try:
        busy = asyncio.create_task(batcher.submit(1))  # occupies the model for 0.2 s
        await asyncio.sleep(0.05)
        gone = asyncio.create_task(batcher.submit(2))
        await asyncio.sleep(0.01)
        gone.cancel()
        assert await busy == 2
        assert await batcher.submit(3) == 6
    finally:
        await batcher.stop()
    assert [2] not in model.batches
    assert batcher.stats.dropped == 1


async def test_full_queue_answers_overloaded() -> None:
    model = RecordingModel(delay=0.3)
    batcher = await started(
        DynamicBatcher("t8", model, max_batch_size=1, max_wait_ms=0, max_queue=2)
    )
    try:
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.05)  # the model is busy with item 0
        queued = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded):
            await batcher.submit(3)
        assert await first == 0
        assert [await task for task in queued] == [2, 4]
    finally:
        await batcher.stop()


async def test_submit_before_start_is_refused() -> None:
    batcher: DynamicBatcher[int, int] = DynamicBatcher("t9", RecordingModel())
    with pytest.raises(RuntimeError):
        await batcher.submit(1)


async def test_metrics_are_exported() -> None:
    from prometheus_client import REGISTRY

    model = RecordingModel()
    batcher = await started(DynamicBatcher("t10", model, max_batch_size=4, max_wait_ms=10))
    try:
        await asyncio.gather(*(batcher.submit(i) for i in range(4)))
    finally:
        await batcher.stop()
    count = REGISTRY.get_sample_value("inference_batch_size_count", {"batcher": "t10"})
    total = REGISTRY.get_sample_value("inference_batch_size_sum", {"batcher": "t10"})
    assert count is not None
    assert count >= 1
    assert total == 4


async def test_batchers_of_one_service_share_its_model_thread() -> None:
    from inference.batcher import model_thread

    thread = model_thread("svc")
    first, second = RecordingModel(), RecordingModel()
    a = await started(
        DynamicBatcher("t11", first, max_batch_size=2, max_wait_ms=1, executor=thread)
    )
    b = await started(
        DynamicBatcher("t12", second, max_batch_size=2, max_wait_ms=1, executor=thread)
    )
    try:
        assert await a.submit(1) == 2
        assert await b.submit(2) == 4
        await a.stop()  # a shared thread outlives the batchers that use it
        assert await b.submit(3) == 6
    finally:
        await b.stop()
        thread.shutdown()
    assert first.threads == second.threads
    assert len(first.threads) == 1


async def test_lanes_run_batches_at_once_and_share_the_queue_evenly() -> None:
    model = RecordingModel(delay=0.3)
    batcher = await started(
        DynamicBatcher("lanes", model, max_batch_size=16, max_wait_ms=20.0, lanes=2)
    )
    try:
        begun = time.monotonic()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(19)))
        wall = time.monotonic() - begun
    finally:
        await batcher.stop()
    assert results == [i * 2 for i in range(19)]
    assert sorted(len(b) for b in model.batches) == [9, 10]  # not 16 and 3
    assert len(model.threads) == 2
    assert wall < 0.55  # the two batches overlapped (one after the other is 0.6 s)


async def test_a_lane_freed_while_another_works_takes_its_share_not_the_queue() -> None:
    batches: list[list[int]] = []

    def model(items: list[int]) -> list[int]:
        batches.append(list(items))
        time.sleep(1.0 if 0 in items else 0.1)  # item 0 keeps its lane busy
        return items

    batcher = await started(
        DynamicBatcher("share", model, max_batch_size=16, max_wait_ms=5.0, lanes=2)
    )
    try:
        first = asyncio.gather(batcher.submit(0), batcher.submit(1))
        await asyncio.sleep(0.05)  # both lanes took one item; 8 more arrive
        rest = asyncio.gather(*(batcher.submit(i) for i in range(2, 10)))
        assert await first == [0, 1]
        assert await rest == list(range(2, 10))
    finally:
        await batcher.stop()
    assert sorted(map(len, batches[:2])) == [1, 1]
    # The lane that freed first took half of the 8 (the other was still busy), not all 8.
    assert batches[2] == [2, 3, 4, 5]


async def test_one_lane_never_overlaps_batches() -> None:
    running = 0
    overlapped = False
    lock = threading.Lock()

    def model(items: list[int]) -> list[int]:
        nonlocal running, overlapped
        with lock:
            running += 1
            overlapped |= running > 1
        time.sleep(0.05)
        with lock:
            running -= 1
        return items

    batcher = await started(DynamicBatcher("one", model, max_batch_size=2, max_wait_ms=1.0))
    try:
        await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    finally:
        await batcher.stop()
    assert not overlapped
