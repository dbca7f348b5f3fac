"""A lecture summarised while it is still being transcribed.

The ASR service streams the transcript window by window. Each full chunk of
:func:`worker.chunking.split_chunks` is known as soon as the text after it is longer than
a chunk, so its notes (the map step of :func:`worker.summarize.summarize_lecture`) are
asked for at once, on the session's pool, while the audio is still being decoded. The
last chunk waits for the stream's end: it alone is marked "recording ends". Then the
reduce call runs as before. The chunks, the prompts and the result are the ones the
sequential path makes, with one difference: a chunk sent while streaming cannot know
how many chunks there will be, so its ``$total`` is an estimate
(:func:`worker.chunking.estimate_total`); the chunks sent at the end get the exact count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from worker.chunking import StreamingChunker, estimate_total, split_chunks
from worker.errors import PermanentError
from worker.llm import ChatSession, Message
from worker.prompts import PromptBook
from worker.summarize import Answer, lecture_answer, lecture_note, lecture_system
from worker.transcript_stream import Keepalive, TranscriptDelta, TranscriptDone, TranscriptEvent

log = logging.getLogger(__name__)

Report = Callable[..., None]
# A progress state at least every 1 % of the audio, and again after this long without
# one: the service sends a keepalive every 15 s while nothing else is due, so no two
# states are more than 14 + 15 s apart.
PROGRESS_STEP = 0.01
PROGRESS_QUIET_S = 14.0


class TranscriptProgress:
    """Publishes ``transcribing`` with ``done_s`` / ``total_s``, in order, ending at
    ``done_s == total_s``, often enough for a student and rarely enough for Redis."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._done = -1.0
        self._total: float | None = None
        self._at = 0.0

    def _publish(self, done: float, total: float) -> None:
        self._done, self._total, self._at = done, total, time.monotonic()
        self._report("transcribing", done_s=round(done, 1), total_s=round(total, 1))

    def update(self, event: TranscriptDelta) -> None:
        if event.done_s is None or not event.total_s:
            return
        total = event.total_s
        done = min(max(event.done_s, 0.0), total)
        if done < self._done:
            return  # never backwards
        due = (
            self._total is None
            or done >= total
            or done - self._done >= PROGRESS_STEP * total
            or time.monotonic() - self._at >= PROGRESS_QUIET_S
        )
        if due and (done, total) != (self._done, self._total):
            self._publish(done, total)

    def keepalive(self) -> None:
        if self._total is not None and time.monotonic() - self._at >= PROGRESS_QUIET_S:
            self._publish(self._done, self._total)

    def finish(self) -> None:
        if self._total is not None and self._done < self._total:
            self._publish(self._total, self._total)


@dataclass(frozen=True)
class NoteSettings:
    chunk_chars: int
    notes_max_tokens: int
    answer_max_tokens: int


class StreamedNotes:
    """The map step, fed with the transcript as it streams."""

    def __init__(
        self,
        session: ChatSession,
        prompts: PromptBook,
        system: list[Message],
        pool: ThreadPoolExecutor,
        chunk_chars: int,
        max_tokens: int,
    ) -> None:
        self._session, self._prompts, self._system = session, prompts, system
        self._pool, self._size, self._max_tokens = pool, chunk_chars, max_tokens
        self._chunker = StreamingChunker(chunk_chars)
        self._sent: list[tuple[str, Future[str]]] = []

    def _submit(self, chunk: str, total: int) -> None:
        index = len(self._sent) + 1
        args = (self._session, self._prompts, self._system, chunk, index, total)
        future = self._pool.submit(lecture_note, *args, self._max_tokens)
        self._sent.append((chunk, future))
        log.debug("lecture chunk sent", extra={"index": index, "total": total})

    def feed(self, event: TranscriptDelta) -> None:
        for chunk in self._chunker.feed(event.delta):
            index, chars = len(self._sent) + 1, len(self._chunker.text)
            done_s, total_s = event.done_s or 0.0, event.total_s or 0.0
            self._submit(chunk, estimate_total(index, chars, done_s, total_s, self._size))
        for _, future in self._sent:  # a failed call ends the mission now, not at the end
            if future.done() and future.exception() is not None:
                future.result()

    def finish(self, transcript: str) -> list[Future[str]]:
        """Sends the chunks left once the whole transcript is known; every chunk's notes
        in order (none when the transcript fits one chunk: no map step)."""
        chunks = split_chunks(transcript, self._size)
        streamed = [chunk for chunk, _ in self._sent]
        if chunks[: len(streamed)] != streamed:
            # The done text is the deltas joined; if a service ever differs, the notes
            # are taken again on the final text rather than on pieces of another one.
            log.warning("transcript differs from its streamed deltas, notes taken again")
            for _, future in self._sent:
                future.cancel()
            self._sent = []
        if len(chunks) <= 1:
            return []
        while len(self._sent) < len(chunks):
            self._submit(chunks[len(self._sent)], len(chunks))
        return [future for _, future in self._sent]


def summarize_while_transcribing(
    session: ChatSession,
    prompts: PromptBook,
    events: Iterable[TranscriptEvent],
    topic: str,
    settings: NoteSettings,
    report: Report,
) -> tuple[str, Answer]:
    """The transcript and its summary, the map calls made while ``events`` stream."""
    system = lecture_system(prompts, topic)
    progress = TranscriptProgress(report)
    transcript = ""
    with session.pool() as pool:
        notes = StreamedNotes(
            session, prompts, system, pool, settings.chunk_chars, settings.notes_max_tokens
        )
        for event in events:
            if isinstance(event, TranscriptDelta):
                progress.update(event)
                notes.feed(event)
            elif isinstance(event, Keepalive):
                progress.keepalive()
            elif isinstance(event, TranscriptDone):
                transcript = event.text.strip()
        progress.finish()
        if not transcript:
            raise PermanentError("no speech was recognised in the audio")
        futures = notes.finish(transcript)
        total = len(futures) + 1 if futures else 1
        for done, future in enumerate(as_completed(futures), start=1):
            future.result()  # the first failure ends the mission
            report("prompting", done=done, total=total)
        texts = [future.result() for future in futures] or None
    answer = lecture_answer(session, prompts, system, transcript, texts, settings.answer_max_tokens)
    report("prompting", done=total, total=total)
    return transcript, answer
