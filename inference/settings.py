"""Settings shared by the inference services.

Each server subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``ASR_``,
``OCR_``) and builds exactly one instance in its app factory. Nested groups use ``__``:
``ASR_BATCH__MAX_BATCH_SIZE=16``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class BatchSettings(BaseModel):
    """Dynamic batching: a batch is cut at ``max_batch_size`` items or after ``max_wait_ms``."""

    max_batch_size: int = Field(8, ge=1, le=1024)
    max_wait_ms: float = Field(10.0, ge=0.0, le=10_000.0)
    max_queue: int = Field(512, ge=1, description="items waiting beyond this get 429")


class ServiceSettings(BaseSettings):
    """Fields every inference service has."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    # Optional bearer token; when set, every route but health and metrics requires it.
    auth_token: SecretStr | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch: BatchSettings = BatchSettings()

    @field_validator("auth_token")
    @classmethod
    def _token_not_blank(cls, token: SecretStr | None) -> SecretStr | None:
        # An empty secret (e.g. an empty Kubernetes secret key) would accept "Bearer ".
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("AUTH_TOKEN is set but blank: set a real token or unset it")
        return token
