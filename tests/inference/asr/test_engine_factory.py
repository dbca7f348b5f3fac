"""The engine factory accepts only known names and explains a missing Triton module."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import inference.asr_server.engines as engines
from inference.asr_server.engines import create_engine
from inference.asr_server.settings import AsrSettings


def test_unknown_engine_names_are_refused_by_settings() -> None:
    with pytest.raises(ValidationError):
        AsrSettings(engine="whisper.cpp")  # type: ignore[arg-type]


def test_file_engines_need_a_model_path() -> None:
    for name in ("openai-whisper", "transformers"):
        with pytest.raises(ValueError, match="ASR_MODEL_PATH"):
            create_engine(AsrSettings(engine=name))  # type: ignore[arg-type]


def test_missing_triton_module_is_a_clear_error() -> None:
    if (Path(engines.__file__).parent / "triton.py").exists():
        pytest.skip("the Triton engine module is present; its own tests cover it")
    with pytest.raises(ValueError, match="triton engine is not available"):
        create_engine(AsrSettings(engine="triton"))
