"""Reading the ASR service's event stream: events, keepalives, errors, cut streams."""

from __future__ import annotations

import pytest

from worker.errors import PermanentError, TransientError
from worker.sse import COMMENT, SseEvent, read_events
from worker.transcript_stream import (
    Keepalive,
    TranscriptDelta,
    TranscriptDone,
    transcript_events,
)

STREAM = """: keepalive

data: {"type":"transcript.text.delta","delta":"Good morning","done_s":30.0,"total_s":90.5}

event: message
data: {"type":"transcript.text.delta","delta":"","done_s":60,"total_s":90.5}

: keepalive

data: {"type":"transcript.text.delta",
data: "delta":" everyone.","done_s":90.5,"total_s":90.5}

data: {"type":"transcript.text.done","text":"Good morning everyone."}

"""


def lines(text: str) -> list[str]:
    return text.split("\n")


def test_events_keepalives_and_multi_line_data() -> None:
    events = list(read_events(lines(STREAM)))
    assert events[0] == SseEvent(COMMENT, "keepalive")
    assert events[2].event == "message"
    assert events[4].data.count("\n") == 1  # two data lines joined by a newline
    assert [e.event for e in events] == [
        COMMENT,
        "message",
        "message",
        COMMENT,
        "message",
        "message",
    ]


def test_transcript_events_in_order() -> None:
    got = list(transcript_events(read_events(lines(STREAM))))
    assert got == [
        Keepalive(),
        TranscriptDelta("Good morning", 30.0, 90.5),
        TranscriptDelta("", 60.0, 90.5),
        Keepalive(),
        TranscriptDelta(" everyone.", 90.5, 90.5),
        TranscriptDone("Good morning everyone."),
    ]


def test_a_delta_without_progress_fields_still_reads() -> None:
    stream = 'data: {"type":"transcript.text.delta","delta":"Hi"}\n\n'
    stream += 'data: {"type":"transcript.text.done","text":"Hi"}\n\n'
    got = list(transcript_events(read_events(lines(stream))))
    assert got == [TranscriptDelta("Hi", None, None), TranscriptDone("Hi")]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("overloaded", TransientError),
        ("model_not_ready", TransientError),
        ("internal_error", TransientError),
        ("corrupt_media", PermanentError),
        ("media_too_large", PermanentError),
        ("unsupported_media", PermanentError),
    ],
)
def test_an_error_event_retries_or_fails_like_its_status(kind: str, error: type) -> None:
    stream = 'data: {"type":"transcript.text.delta","delta":"Hi","done_s":1,"total_s":9}\n\n'
    stream += f'event: error\ndata: {{"error":{{"message":"it broke","type":"{kind}"}}}}\n\n'
    events = transcript_events(read_events(lines(stream)))
    assert next(events) == TranscriptDelta("Hi", 1.0, 9.0)
    with pytest.raises(error, match="ASR service: it broke") as caught:
        next(events)
    assert type(caught.value) is error


@pytest.mark.parametrize(
    "stream",
    [
        "",  # nothing at all
        'data: {"type":"transcript.text.delta","delta":"Hi"}\n\n',  # no done event
        # The done event cut off before its blank line: never dispatched.
        'data: {"type":"transcript.text.delta","delta":"Hi"}\n\ndata: {"type":"transcr',
    ],
)
def test_a_stream_cut_before_done_is_transient(stream: str) -> None:
    with pytest.raises(TransientError, match="ended before the transcript"):
        list(transcript_events(read_events(lines(stream))))


def test_an_unreadable_event_is_transient() -> None:
    with pytest.raises(TransientError, match="unreadable"):
        list(transcript_events(read_events(lines("data: {not json\n\n"))))
