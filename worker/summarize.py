"""The two LLM modes of the contract: lecture summary and English essay grading.

The seed held one conversation per lecture and re-sent the whole growing history for
every 2,500-character chunk and then for each of the three sections, so the prompt
tokens grew with the square of the lecture's length. Here a lecture is map-reduced: each
chunk (still marked "recording continues" / "recording ends") is turned into short notes
by independent calls that run concurrently, then one call reads the notes and writes the
three titled sections. A lecture that fits in one chunk skips the map step.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from worker.chunking import split_chunks
from worker.llm import ChatSession, Message
from worker.prompts import PromptBook

Progress = Callable[[int, int], None]

_HEADING = re.compile(r"^(#{1,6})[ \t]+\S", re.MULTILINE)
# A line that is only a bold title ("**重要觀念**", "**評分：**"): models that skip "#".
_BOLD_TITLE = re.compile(r"^[ \t]*\*\*[^*\n]+\*\*[ \t]*[:：]?[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Answer:
    summarize: str
    details: list[str]


def _section_starts(reply: str) -> list[int]:
    """Where the titled sections start: the shallowest ``#`` level used more than once (so
    ``###`` sub-headings stay inside their section, and a lone ``# title`` on top does not
    swallow the ``##`` sections), else bold title lines."""
    headings = list(_HEADING.finditer(reply))
    if headings:
        levels = [len(match.group(1)) for match in headings]
        repeated = [level for level in set(levels) if levels.count(level) > 1]
        top = min(repeated or levels)
        return [match.start() for match in headings if len(match.group(1)) == top]
    return [match.start() for match in _BOLD_TITLE.finditer(reply)]


def split_sections(reply: str) -> list[str]:
    """The titled sections of a reply, in order; any text before the first title is kept
    as its own first entry. The whole reply when it has no titles."""
    bounds = [0, *_section_starts(reply), len(reply)]
    sections = (reply[a:b].strip() for a, b in itertools.pairwise(bounds))
    return [section for section in sections if section]


def _answer(reply: str) -> Answer:
    return Answer(summarize=reply.strip(), details=split_sections(reply))


def lecture_system(prompts: PromptBook, topic: str) -> list[Message]:
    system = prompts.text("lecture_system")
    if topic.strip():
        system += "\n" + prompts.text("lecture_topic", topic=topic.strip())
    return [{"role": "system", "content": system}]


def chunk_prompt(prompts: PromptBook, chunk: str, index: int, total: int) -> str:
    marker = prompts.text("lecture_marker_ends" if index == total else "lecture_marker_continues")
    return prompts.text(
        "lecture_chunk", index=str(index), total=str(total), marker=marker, content=chunk
    )


def lecture_note(
    session: ChatSession,
    prompts: PromptBook,
    system: list[Message],
    chunk: str,
    index: int,
    total: int,
    max_tokens: int,
) -> str:
    """The map step: notes on chunk ``index`` of ``total``."""
    request = chunk_prompt(prompts, chunk, index, total)
    return session.complete([*system, {"role": "user", "content": request}], max_tokens)


def lecture_answer(
    session: ChatSession,
    prompts: PromptBook,
    system: list[Message],
    transcript: str,
    notes: list[str] | None,
    max_tokens: int,
) -> Answer:
    """The reduce step: the three sections, from the notes (or from the transcript
    itself when it fits one chunk and no notes were taken)."""
    if notes:
        source, content = prompts.text("lecture_source_notes"), "\n\n".join(notes)
    else:
        source, content = prompts.text("lecture_source_transcript"), transcript.strip()
    final = prompts.text("lecture_final", source=source, content=content)
    reply = session.complete([*system, {"role": "user", "content": final}], max_tokens)
    return _answer(reply)


def summarize_lecture(
    session: ChatSession,
    prompts: PromptBook,
    transcript: str,
    topic: str,
    *,
    chunk_chars: int,
    notes_max_tokens: int,
    answer_max_tokens: int,
    progress: Progress | None = None,
) -> Answer:
    system = lecture_system(prompts, topic)
    chunks = split_chunks(transcript, chunk_chars)
    total = len(chunks) + 1 if len(chunks) > 1 else 1
    done = [0]
    lock = threading.Lock()

    def note(item: tuple[int, str]) -> str:
        index, chunk = item
        text = lecture_note(session, prompts, system, chunk, index, len(chunks), notes_max_tokens)
        with lock:
            done[0] += 1
            finished = done[0]
        if progress is not None:
            progress(finished, total)
        return text

    notes = session.map(note, enumerate(chunks, start=1)) if len(chunks) > 1 else None
    answer = lecture_answer(session, prompts, system, transcript, notes, answer_max_tokens)
    if progress is not None:
        progress(total, total)
    return answer


def grade_essay(
    session: ChatSession,
    prompts: PromptBook,
    essay: str,
    title: str,
    *,
    answer_max_tokens: int,
    progress: Progress | None = None,
) -> Answer:
    system = prompts.text("essay_system")
    if title.strip():
        system += "\n" + prompts.text("essay_title", title=title.strip())
    request = prompts.text("essay_request", content=essay.strip())
    if progress is not None:
        progress(0, 1)
    reply = session.complete(
        [{"role": "system", "content": system}, {"role": "user", "content": request}],
        answer_max_tokens,
    )
    if progress is not None:
        progress(1, 1)
    return _answer(reply)
