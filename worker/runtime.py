"""Everything a worker process builds once and shares between its task threads."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import openai
import redis
from Crypto.PublicKey import RSA

from worker.crypto import load_private_key
from worker.inference_client import InferenceClient, StreamTimeouts
from worker.llm import Endpoints
from worker.mail import SmtpConfig
from worker.prompts import PromptBook
from worker.settings import WorkerSettings, get_settings
from worker.store import ResultStore, create_engine

log = logging.getLogger(__name__)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass
class Runtime:
    settings: WorkerSettings
    store: ResultStore
    redis: redis.Redis
    prompts: PromptBook
    asr: InferenceClient
    ocr: InferenceClient
    llm_http: Any
    private_key: RSA.RsaKey | None

    @property
    def endpoints(self) -> Endpoints:
        s = self.settings
        return Endpoints(
            api_base_url=s.openai_base_url,
            api_model=s.openai_model,
            token_base_url=s.openai_token_base_url,
            token_model=s.openai_token_model,
            timeout_s=s.openai_timeout_s,
            max_retries=s.openai_max_retries,
        )

    @property
    def smtp(self) -> SmtpConfig:
        s = self.settings
        return SmtpConfig(
            host=s.smtp_host,
            port=s.smtp_port,
            security=s.smtp_security,
            user=s.smtp_user,
            password=_secret(s.smtp_password),
            sender=s.smtp_sender,
            timeout_s=s.smtp_timeout_s,
            ca_file=s.smtp_ca_file,
        )


def build_runtime(settings: WorkerSettings) -> Runtime:
    try:
        private_key: RSA.RsaKey | None = load_private_key(settings.private_key_path)
    except (OSError, ValueError):
        # Mail still works without it; credential tasks fail with a readable error.
        log.error("private key not readable", extra={"path": str(settings.private_key_path)})
        private_key = None
    token = _secret(settings.inference_token)
    return Runtime(
        settings=settings,
        store=ResultStore(create_engine(settings.database_url.get_secret_value())),
        redis=redis.Redis.from_url(settings.broker_url(), health_check_interval=30),
        prompts=PromptBook(settings.prompt_dir),
        asr=InferenceClient(
            "ASR",
            settings.inference_asr_url,
            token,
            settings.inference_timeout_s,
            StreamTimeouts(
                idle_s=settings.inference_stream_idle_s,
                base_s=settings.inference_stream_base_s,
                per_audio_s=settings.inference_stream_per_audio_s,
            ),
        ),
        ocr=InferenceClient("OCR", settings.inference_ocr_url, token, settings.inference_timeout_s),
        llm_http=openai.DefaultHttpxClient(),
        private_key=private_key,
    )


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, built by the first task that needs it."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(get_settings())
        return _runtime
