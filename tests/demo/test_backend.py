"""The demo playing the backend: real v1 envelopes, PENDING rows, the six missions."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from demo.backend import Media, credential_kwargs, make_key_pair, plan_missions
from demo.missions import read_row
from worker.crypto import Envelope, decrypt_credential, load_private_key
from worker.store import create_engine, create_schema


def test_credential_round_trips_through_the_worker_crypto(tmp_path: Path) -> None:
    private_path = tmp_path / "private_key.pem"
    public_key = make_key_pair(private_path, bits=1024)
    assert private_path.stat().st_mode & 0o777 == 0o600
    kwargs = credential_kwargs("sk-demo-secret", public_key)
    private_key = load_private_key(private_path)
    envelope = Envelope(kwargs["api_key"], kwargs["key_api_key"])
    assert decrypt_credential(envelope, private_key, "api_key") == "sk-demo-secret"
    assert "sk-demo-secret" not in str(kwargs)
    assert kwargs["access_token"] == kwargs["key_access_token"] == ""


def test_plan_creates_pending_rows_named_like_the_uploads(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'files.db'}")
    create_schema(engine)
    audio_id, image_id = (
        "0" * 8 + "-0000-4000-8000-" + "0" * 12,
        "1" * 8 + "-1111-4111-8111-" + "1" * 12,
    )
    media = Media(tmp_path / f"{audio_id}.mp3", "test", tmp_path / f"{image_id}.jpg")
    missions = plan_missions(engine, media, {"api_key": "x"}, "student@example.com")

    assert [m.task for m in missions] == [
        "ASR_predict",
        "OCR_predict",
        "OCR_predict_Text",
        "Mail_sent",
        "NLP_edit_ASR",
        "NLP_edit_OCR",
    ]
    assert missions[0].kwargs["id"] == audio_id
    assert missions[0].kwargs["file"] == str(media.audio)
    for mission in missions:
        if mission.file_id is not None:
            assert read_row(engine, mission.file_id) == ("PENDING", None)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM files")).scalar() == 3

    analysis, edit = missions[0], missions[4]
    analysis.result = {"content": "the transcript."}
    assert edit.derive is not None
    derived = edit.derive(analysis)
    assert derived["id"] == audio_id
    assert derived["content"].startswith("the transcript.")
    assert derived["prompt"] == analysis.kwargs["prompt"]
