"""The worker's one settings object, read from the environment (no prefix).

Names the Go backend already uses keep their contract spelling (``REDIS_PASSWORD``,
``REDIS_DB``, ``CELERY_TASK``, ``DIRECTORY_AUDIO``, ``DIRECTORY_GRAPH``). Every variable
is listed with its default in docs/env/worker.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    # Broker and result backend.
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_password: SecretStr | None = None
    redis_db: int = 0
    # Defaults to the broker's Redis; progress (task state) is stored there.
    result_backend_url: SecretStr | None = None
    celery_task: str = "tasks"
    # Tests use seconds; the validator below keeps it above the longest task.
    visibility_timeout_s: int = Field(7200, ge=5)
    task_time_limit_s: int = Field(3600, ge=10)

    # Retries of transient faults: exponential backoff with jitter, then FAILURE.
    task_max_retries: int = Field(5, ge=0)
    # A message that keeps killing its worker (OOM, segfault) ends FAILURE, not a loop.
    task_max_deliveries: int = Field(3, ge=1)
    retry_backoff_s: float = Field(5.0, gt=0)
    retry_backoff_max_s: float = Field(600.0, gt=0)

    # Results and media.
    database_url: SecretStr = SecretStr("sqlite:///var/studysavvy.db")
    directory_audio: Path = Path("var/audio")
    directory_graph: Path = Path("var/graph")
    # Images, read whole for the OCR service.
    max_media_bytes: int = Field(200 * 1024 * 1024, ge=1)
    # Audio streams from disk; what refuses a long lecture is its duration (the ASR
    # service's ASR_MAX_AUDIO_SECONDS, 413). This is only a sanity cap, the service's own
    # (ASR_MAX_UPLOAD_BYTES): above a 4-hour 48 kHz stereo WAV (2.8 GB), and the most a
    # WAV can hold (its sizes are 32-bit). A bigger file is refused before its upload.
    max_audio_bytes: int = Field(4 * 1024**3, ge=1)

    # Credentials.
    private_key_path: Path = Path("/Security/private_key.pem")
    crypto_accept_v1: bool = True

    # LLM: the API-key route and the operator's access-token route.
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    openai_token_base_url: str | None = None
    openai_token_model: str | None = None
    openai_timeout_s: float = Field(120.0, gt=0)
    openai_max_retries: int = Field(3, ge=0)
    openai_max_tokens: int = Field(1200, ge=16)
    llm_notes_max_tokens: int = Field(400, ge=16)
    llm_chunk_chars: int = Field(2500, ge=200)
    llm_concurrency: int = Field(4, ge=1, le=64)
    llm_max_continuations: int = Field(3, ge=0)
    prompt_dir: Path | None = None

    # Inference services.
    inference_asr_url: str = "http://127.0.0.1:8101"
    inference_ocr_url: str = "http://127.0.0.1:8102"
    inference_token: SecretStr | None = None
    # One OCR request; for ASR the wait until the transcript stream begins (upload,
    # decoding and planning of the file).
    inference_timeout_s: float = Field(600.0, gt=0)
    # Transcript stream: no byte (event or keepalive, sent every 15 s) for this long
    # means a hung service; the whole request may take base + per_audio x the audio's
    # duration, once the service has told it.
    inference_stream_idle_s: float = Field(60.0, gt=0)
    inference_stream_base_s: float = Field(300.0, gt=0)
    inference_stream_per_audio_s: float = Field(1.0, gt=0)

    # Mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "Study-Savvy <no-reply@study-savvy.com>"
    smtp_timeout_s: float = Field(30.0, gt=0)
    smtp_ca_file: str | None = None
    mail_code_ttl_s: int = Field(600, ge=1)

    # Observability.
    metrics_port: int = Field(0, ge=0, description="0 turns the Prometheus endpoint off")
    # /livez fails once the consumer loop has shown no progress for this long.
    liveness_window_s: float = Field(120.0, gt=0)
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _visibility_outlasts_tasks(self) -> WorkerSettings:
        # Redis redelivers an unacked message after the visibility timeout: a shorter
        # one would run a long task (or a retry waiting on its countdown) twice.
        if self.visibility_timeout_s <= self.task_time_limit_s + self.retry_backoff_max_s:
            raise ValueError(
                "VISIBILITY_TIMEOUT_S must exceed TASK_TIME_LIMIT_S + RETRY_BACKOFF_MAX_S"
            )
        return self

    def broker_url(self) -> str:
        password = ""  # nosec B105 - no password until one is configured
        if self.redis_password is not None and self.redis_password.get_secret_value():
            password = ":" + quote(self.redis_password.get_secret_value(), safe="") + "@"
        return f"redis://{password}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    def backend_url(self) -> str:
        if self.result_backend_url is not None:
            return self.result_backend_url.get_secret_value()
        return self.broker_url()

    def task_name(self, name: str) -> str:
        return f"{self.celery_task}.{name}" if self.celery_task else name


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    """The process-wide settings, built on first use."""
    return WorkerSettings()
