"""The engine factory accepts only known names and needs a model path where one is due."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inference.asr_server.engines import create_engine
from inference.asr_server.settings import AsrSettings


def test_unknown_engine_names_are_refused_by_settings() -> None:
    with pytest.raises(ValidationError):
        AsrSettings(engine="whisper.cpp")  # type: ignore[arg-type]


def test_file_engines_need_a_model_path() -> None:
    for name in ("openai-whisper", "transformers"):
        with pytest.raises(ValueError, match="ASR_MODEL_PATH"):
            create_engine(AsrSettings(engine=name))  # type: ignore[arg-type]
