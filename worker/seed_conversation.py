"""The seed's lecture conversation, kept only as the measured baseline.

The seed sent each transcript chunk as a new turn of one conversation and then asked
for each of the three sections as further turns, re-sending the whole history every
time. The benchmark and the tests run it against the same server and prompts as
:func:`worker.summarize.summarize_lecture` to compare prompt tokens and wall time.
"""

from __future__ import annotations

from worker.chunking import split_chunks
from worker.llm import ChatSession, Message
from worker.prompts import PromptBook
from worker.summarize import Answer, chunk_prompt, lecture_system

SECTIONS = ("重要觀念", "可能考題", "考試時間與範圍")


def summarize_like_seed(
    session: ChatSession,
    prompts: PromptBook,
    transcript: str,
    topic: str,
    *,
    chunk_chars: int,
    max_tokens: int,
) -> Answer:
    history: list[Message] = lecture_system(prompts, topic)
    chunks = split_chunks(transcript, chunk_chars)
    for index, chunk in enumerate(chunks, start=1):
        history.append(
            {"role": "user", "content": chunk_prompt(prompts, chunk, index, len(chunks))}
        )
        history.append({"role": "assistant", "content": session.complete(history, max_tokens)})
    details = []
    for title in SECTIONS:
        history.append({"role": "user", "content": f"請根據整堂課的內容，寫出「{title}」。"})
        reply = session.complete(history, max_tokens)
        history.append({"role": "assistant", "content": reply})
        details.append(f"## {title}\n{reply.strip()}")
    return Answer(summarize="\n\n".join(details), details=details)
