"""The demo playing the Go backend and a front end: keys, media, rows and the plan.

A front end encrypts the user's credential with the worker's public key (v1 envelope,
what the front ends send today); the backend stores the upload under ``<uuid>.<ext>``,
creates the PENDING row and enqueues the task.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from Crypto.PublicKey import RSA

from demo.media import ESSAY_TITLE, essay_text, make_essay_image, make_speech
from demo.missions import Mission, insert_pending_row
from worker.crypto import encrypt_v1

LECTURE_TOPIC = "Biology: the cell"
ASR_EDIT_NOTE = " Correction from the student: the exam also covers chapter five."
OCR_EDIT_NOTE = " I also love the smell of rain in autumn."


@dataclass(frozen=True)
class Media:
    audio: Path
    audio_source: str
    image: Path


def make_key_pair(private_key_path: Path, bits: int = 2048) -> RSA.RsaKey:
    """A fresh worker key: the private half for the worker, the public one for us."""
    key = RSA.generate(bits)
    private_key_path.write_bytes(key.export_key("PEM"))
    private_key_path.chmod(0o600)
    return key.public_key()


def credential_kwargs(secret: str, public_key: RSA.RsaKey) -> dict[str, str]:
    """The four credential kwargs of a user who has an API key and no access token."""
    envelope = encrypt_v1(secret, public_key)
    return {
        "api_key": envelope.data,
        "key_api_key": envelope.key,
        "access_token": "",  # nosec B105 - empty: this demo user has no access token
        "key_access_token": "",  # nosec B105 - as above
    }


def make_media(audio_dir: Path, graph_dir: Path, *, handwritten: bool = False) -> Media:
    """The uploads, named the way the backend names them: ``<row id>.<ext>``; the essay
    photo handwritten where a handwriting recognizer serves."""
    audio = audio_dir / f"{uuid.uuid4()}.mp3"
    source = make_speech(audio)
    image = graph_dir / f"{uuid.uuid4()}.jpg"
    make_essay_image(image, handwritten=handwritten)
    return Media(audio=audio, audio_source=source, image=image)


def plan_missions(
    engine: sa.Engine, media: Media, credentials: dict[str, str], mail: str
) -> list[Mission]:
    """Rows first, as the backend does, then one mission of each of the six kinds."""
    asr_id, ocr_id, text_id = media.audio.stem, media.image.stem, str(uuid.uuid4())
    insert_pending_row(engine, asr_id, "ASR", str(media.audio), mail)
    insert_pending_row(engine, ocr_id, "OCR", str(media.image), mail)
    insert_pending_row(engine, text_id, "OCR", None, mail)

    def media_kwargs(file_id: str, path: Path, prompt: str) -> dict[str, Any]:
        return {"id": file_id, "file": str(path), "prompt": prompt, **credentials}

    def edit(note: str) -> Any:
        def derive(done: Mission) -> dict[str, Any]:
            content = str((done.result or {}).get("content", "")) + note
            return {"id": done.file_id, "content": content, "prompt": done.kwargs["prompt"]}

        return derive

    text = {"id": text_id, "content": essay_text(), "prompt": ESSAY_TITLE, **credentials}
    return [
        Mission("ASR_predict", media_kwargs(asr_id, media.audio, LECTURE_TOPIC), asr_id),
        Mission("OCR_predict", media_kwargs(ocr_id, media.image, ESSAY_TITLE), ocr_id),
        Mission("OCR_predict_Text", text, text_id),
        Mission("Mail_sent", {"mail": mail}),
        Mission("NLP_edit_ASR", dict(credentials), asr_id, "ASR_predict", edit(ASR_EDIT_NOTE)),
        Mission("NLP_edit_OCR", dict(credentials), ocr_id, "OCR_predict", edit(OCR_EDIT_NOTE)),
    ]
