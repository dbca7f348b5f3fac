"""The ASR client against a real HTTP server (the stub): the upload streams from the open
file, the transcript arrives as events, and each way a stream can go wrong maps to a
retry or a failure, with timeouts that follow the work."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stub_inference import TRANSCRIPT, StubInference
from worker.deadline import Deadline
from worker.errors import PermanentError, TransientError
from worker.inference_client import InferenceClient, StreamTimeouts
from worker.transcript_stream import Keepalive, TranscriptDelta, TranscriptDone

pytestmark = pytest.mark.timeout(60)


class CountingFile(io.FileIO):
    """A file that records how much each read asked for."""

    reads: list[int]

    def read(self, size: int = -1) -> bytes:
        self.reads.append(size)
        return super().read(size)


@pytest.fixture
def stub() -> Iterator[StubInference]:
    with StubInference() as server:
        yield server


def client(stub: StubInference, **limits: float) -> InferenceClient:
    return InferenceClient(
        "ASR", stub.url, None, limits.pop("first_s", 10.0), StreamTimeouts(**limits)
    )


def test_upload_streams_in_pieces_and_the_transcript_arrives_in_order(
    stub: StubInference, tmp_path: Path
) -> None:
    path = tmp_path / "a.wav"
    path.write_bytes(b"RIFF" + bytes(1_000_000))
    with CountingFile(path) as media:
        media.reads = []
        events = list(client(stub).stream_transcript("a.wav", media))
    # httpx read the open file in 64 KiB pieces, never whole.
    assert media.reads
    assert max(media.reads) <= 64 * 1024
    assert stub.state.uploads[-1].size == 1_000_004
    deltas = [e for e in events if isinstance(e, TranscriptDelta)]
    assert "".join(d.delta for d in deltas) == TRANSCRIPT
    assert "" in [d.delta for d in deltas]  # a window without speech still reports progress
    done = [d.done_s for d in deltas]
    assert done == sorted(done)
    assert done[-1] == 60.0
    assert any(isinstance(e, Keepalive) for e in events)
    assert events[-1] == TranscriptDone(TRANSCRIPT)


def test_a_slow_start_gets_the_first_wait_a_silent_stream_only_the_idle_wait(
    stub: StubInference,
) -> None:
    stub.state.latency_s = 1.5  # the service decodes and plans before the stream begins
    events = list(client(stub, idle_s=0.5).stream_transcript("a.wav", io.BytesIO(b"RIFF")))
    assert events[-1] == TranscriptDone(TRANSCRIPT)
    stub.state.latency_s = 0.0
    stub.state.stall_s = 3.0
    stub.break_next_stream("stall")
    started = time.monotonic()
    with pytest.raises(TransientError, match="unreachable or timed out"):
        list(client(stub, idle_s=0.5).stream_transcript("a.wav", io.BytesIO(b"RIFF")))
    assert time.monotonic() - started < 2.5  # noticed after the idle wait, not the stall


def test_the_whole_wait_scales_with_the_audio(stub: StubInference) -> None:
    stub.state.stream_gap_s = 0.4
    stub.state.stream_total_s = 1.0
    slow = client(stub, base_s=0.5, per_audio_s=0.1)  # 0.6 s for 1 s of audio
    with pytest.raises(TransientError, match="took longer than"):
        list(slow.stream_transcript("a.wav", io.BytesIO(b"RIFF")))
    stub.state.stream_total_s = 3600.0  # the same pace is fine for an hour of audio
    events = list(slow.stream_transcript("a.wav", io.BytesIO(b"RIFF")))
    assert events[-1] == TranscriptDone(TRANSCRIPT)


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("error:overloaded", TransientError, "the stream failed"),
        ("error:corrupt_media", PermanentError, "the stream failed"),
        ("cut", TransientError, "ended before the transcript"),
    ],
)
def test_a_stream_that_fails_after_it_began(
    stub: StubInference, fault: str, error: type, match: str
) -> None:
    stub.break_next_stream(fault)
    events = client(stub).stream_transcript("a.wav", io.BytesIO(b"RIFF"))
    with pytest.raises(error, match=match) as caught:
        list(events)
    assert type(caught.value) is error


@pytest.mark.parametrize(("status", "error"), [(413, PermanentError), (503, TransientError)])
def test_refusals_before_the_stream_keep_their_status(
    stub: StubInference, status: int, error: type
) -> None:
    stub.fail_next(status)
    with pytest.raises(error) as caught:
        list(client(stub).stream_transcript("a.wav", io.BytesIO(b"RIFF")))
    assert type(caught.value) is error


def test_the_mission_deadline_still_holds(stub: StubInference) -> None:
    stub.state.stream_gap_s = 0.6
    deadline = Deadline.after(1.0)
    with pytest.raises(PermanentError, match="time limit"):
        list(client(stub).stream_transcript("a.wav", io.BytesIO(b"RIFF"), deadline))
