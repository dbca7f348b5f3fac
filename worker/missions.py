"""The missions themselves, as plain functions of a runtime and parsed kwargs.

Each returns the ``files.result`` JSON of contract.md section 3 (plus ``usage``), or
raises :class:`PermanentError` / :class:`TransientError`. ``report`` publishes a stage.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import Any

import redis

from worker.crypto import decrypt_credential
from worker.deadline import Deadline
from worker.errors import PermanentError, TransientError
from worker.lecture_stream import NoteSettings, summarize_while_transcribing
from worker.llm import ChatSession, Credentials, build_routes
from worker.mail import build_message, new_code, send, valid_address
from worker.media import (
    AUDIO_EXTENSIONS,
    IMAGE_EXTENSIONS,
    open_media,
    read_media,
    resolve_media,
)
from worker.requests import CredentialKwargs, MailKwargs, MediaKwargs, TextKwargs
from worker.runtime import Runtime
from worker.summarize import Answer, grade_essay, summarize_lecture

Report = Callable[..., None]
MAIL_MARKER = "studysavvy:mail-sent:"


def open_session(
    rt: Runtime, kwargs: CredentialKwargs, deadline: Deadline | None = None
) -> ChatSession:
    """Decrypt the user's credentials and line up the routes to try."""
    if rt.private_key is None:
        raise PermanentError("worker has no private key to read credentials")
    found: dict[str, str | None] = {}
    for field, envelope in kwargs.envelopes().items():
        found[field] = decrypt_credential(
            envelope,
            rt.private_key,
            "api_key" if field == "api_key" else "access_token",
            accept_v1=rt.settings.crypto_accept_v1,
        )
    credentials = Credentials(api_key=found["api_key"], access_token=found["access_token"])
    routes = build_routes(credentials, rt.endpoints, rt.llm_http)
    return ChatSession(
        routes,
        continue_prompt=rt.prompts.text("continue"),
        max_continuations=rt.settings.llm_max_continuations,
        concurrency=rt.settings.llm_concurrency,
        deadline=deadline,
    )


def _result(prompt: str, content: str, answer: Answer, session: ChatSession) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "content": content,
        "summarize": answer.summarize,
        "details": answer.details,
        "usage": session.usage.as_dict(),
    }


def _lecture(
    rt: Runtime, session: ChatSession, transcript: str, topic: str, report: Report
) -> Answer:
    s = rt.settings
    return summarize_lecture(
        session,
        rt.prompts,
        transcript,
        topic,
        chunk_chars=s.llm_chunk_chars,
        notes_max_tokens=s.llm_notes_max_tokens,
        answer_max_tokens=s.openai_max_tokens,
        progress=lambda done, total: report("prompting", done=done, total=total),
    )


def _essay(rt: Runtime, session: ChatSession, essay: str, title: str, report: Report) -> Answer:
    return grade_essay(
        session,
        rt.prompts,
        essay,
        title,
        answer_max_tokens=rt.settings.openai_max_tokens,
        progress=lambda done, total: report("prompting", done=done, total=total),
    )


def lecture_from_audio(
    rt: Runtime, kwargs: MediaKwargs, report: Report, deadline: Deadline
) -> dict[str, Any]:
    """The file streams from disk to the ASR service, and its transcript streams back
    into the map step of the summary (:mod:`worker.lecture_stream`)."""
    s = rt.settings
    path = resolve_media(kwargs.file, s.directory_audio, AUDIO_EXTENSIONS)
    session = open_session(rt, kwargs, deadline)
    notes = NoteSettings(s.llm_chunk_chars, s.llm_notes_max_tokens, s.openai_max_tokens)
    with open_media(path, s.directory_audio, s.max_audio_bytes) as media:
        report("transcribing")
        with closing(rt.asr.stream_transcript(path.name, media, deadline)) as events:
            transcript, answer = summarize_while_transcribing(
                session, rt.prompts, events, kwargs.prompt, notes, report
            )
    return _result(kwargs.prompt, transcript, answer, session)


def essay_from_image(
    rt: Runtime, kwargs: MediaKwargs, report: Report, deadline: Deadline
) -> dict[str, Any]:
    root = rt.settings.directory_graph
    path = resolve_media(kwargs.file, root, IMAGE_EXTENSIONS)
    session = open_session(rt, kwargs, deadline)
    data = read_media(path, root, rt.settings.max_media_bytes)
    report("recognizing")
    essay = rt.ocr.recognize(path.name, data, deadline).strip()
    if not essay:
        raise PermanentError("no text was recognised in the image")
    answer = _essay(rt, session, essay, kwargs.prompt, report)
    return _result(kwargs.prompt, essay, answer, session)


def lecture_from_text(
    rt: Runtime, kwargs: TextKwargs, report: Report, deadline: Deadline
) -> dict[str, Any]:
    if not kwargs.content.strip():
        raise PermanentError("the transcript is empty")
    session = open_session(rt, kwargs, deadline)
    answer = _lecture(rt, session, kwargs.content, kwargs.prompt, report)
    return _result(kwargs.prompt, kwargs.content, answer, session)


def essay_from_text(
    rt: Runtime, kwargs: TextKwargs, report: Report, deadline: Deadline
) -> dict[str, Any]:
    if not kwargs.content.strip():
        raise PermanentError("the essay is empty")
    session = open_session(rt, kwargs, deadline)
    answer = _essay(rt, session, kwargs.content, kwargs.prompt, report)
    return _result(kwargs.prompt, kwargs.content, answer, session)


def send_verification(rt: Runtime, kwargs: MailKwargs, task_id: str) -> bool:
    """Mail a new code and store it; ``False`` when this task already did (redelivery)."""
    marker = MAIL_MARKER + task_id
    try:
        if rt.redis.exists(marker):
            return False
    except redis.RedisError:
        raise TransientError("verification code store is unavailable") from None
    if not valid_address(kwargs.mail):
        raise PermanentError("mail address is not valid")
    code = new_code()
    ttl = rt.settings.mail_code_ttl_s
    send(rt.smtp, build_message(rt.settings.smtp_sender, kwargs.mail, code, max(1, ttl // 60)))
    try:
        with rt.redis.pipeline(transaction=True) as pipe:
            pipe.set(kwargs.mail, code, ex=ttl)
            pipe.set(marker, "1", ex=max(ttl, 86400))
            pipe.execute()
    except redis.RedisError:
        # A retry mails a fresh code; the unstored one can never be accepted.
        raise TransientError("verification code could not be stored") from None
    return True
