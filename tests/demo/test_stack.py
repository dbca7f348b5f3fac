"""How the demo configures its children, and how a real service replaces a local one."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.redis_server import RedisEndpoint
from demo.settings import DemoSettings
from demo.stack import CRNN_WEIGHTS_ENV, LOCAL_MODEL, Stack, _ocr_weights, worker_env


def _stack(tmp_path: Path, llm: str, smtp: bool = True) -> Stack:
    stack = Stack(
        workdir=tmp_path,
        redis=RedisEndpoint("127.0.0.1", 6399, "pw", 2),
        database_url="sqlite:///x.db",
        audio_dir=tmp_path / "audio",
        graph_dir=tmp_path / "graph",
        private_key_path=tmp_path / "key.pem",
        llm_credential="token",
        maildir=tmp_path / "mail" if smtp else None,
    )
    stack.endpoints = {"asr": "http://a", "ocr": "http://o", "llm": llm, "smtp": "127.0.0.1:2526"}
    return stack


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "DEMO_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"DEMO_{name}", raising=False)


def test_local_defaults_use_every_embedded_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean(monkeypatch)
    settings = DemoSettings()
    assert settings.local_llm
    env = worker_env(settings, _stack(tmp_path, "http://127.0.0.1:9/v1"))
    assert env["OPENAI_MODEL"] == LOCAL_MODEL
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:9/v1"
    assert env["LLM_MAX_CONTINUATIONS"] == "0"
    assert env["OPENAI_MAX_RETRIES"] == "0"  # a retry would queue the same answer twice
    assert (env["SMTP_HOST"], env["SMTP_PORT"], env["SMTP_SECURITY"]) == (
        "127.0.0.1",
        "2526",
        "none",
    )
    assert (env["REDIS_PORT"], env["REDIS_PASSWORD"], env["REDIS_DB"]) == ("6399", "pw", "2")
    assert env["CELERY_TASK"] == "tasks"


def test_a_real_openai_key_and_smtp_server_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("DEMO_SMTP_HOST", "smtp.example.com")
    monkeypatch.setenv("DEMO_SMTP_PASSWORD", "mail-secret")
    settings = DemoSettings()
    assert not settings.local_llm
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-real"
    assert "sk-real" not in repr(settings)
    env = worker_env(settings, _stack(tmp_path, "https://api.openai.com/v1", smtp=False))
    assert env["OPENAI_MODEL"] == "gpt-4o-mini"
    assert "LLM_MAX_CONTINUATIONS" not in env
    assert "OPENAI_MAX_RETRIES" not in env
    assert (env["SMTP_HOST"], env["SMTP_SECURITY"]) == ("smtp.example.com", "starttls")
    assert env["SMTP_PASSWORD"] == "mail-secret"


def test_a_trained_handwriting_model_serves_unless_weights_are_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CRNN_WEIGHTS_ENV, raising=False)
    model = tmp_path / "crnn.pth"
    assert _ocr_weights(DemoSettings(handwriting_model=model)) == {}
    model.write_bytes(b"weights")
    settings = DemoSettings(handwriting_model=model)
    assert settings.handwriting
    assert _ocr_weights(settings) == {CRNN_WEIGHTS_ENV: str(model)}
    monkeypatch.setenv(CRNN_WEIGHTS_ENV, "/models/other.pth")  # passes through instead
    assert _ocr_weights(settings) == {}
