"""Server-sent events (the WHATWG ``text/event-stream`` format), read line by line.

Only what the ASR stream uses: ``event`` and ``data`` fields (several ``data`` lines
join with newlines), comment lines (``: keepalive``) surfaced as their own event so a
reader can tell a live but quiet server from a hung one, and a blank line that ends an
event. ``id`` and ``retry`` are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

COMMENT = "comment"


@dataclass(frozen=True)
class SseEvent:
    event: str  # "message" unless the server named it; COMMENT for a comment line
    data: str


def read_events(lines: Iterable[str]) -> Iterator[SseEvent]:
    """The events of a stream of lines (without their line ends). An event left open
    when the lines end is dropped, as the format says: it was cut off."""
    name = ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield SseEvent(name or "message", "\n".join(data))
            name, data = "", []
            continue
        if line.startswith(":"):
            yield SseEvent(COMMENT, line[1:].strip())
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
