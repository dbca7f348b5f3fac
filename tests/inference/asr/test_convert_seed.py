"""The seed's pickled model.pt/processor.pt become a directory the transformers engine loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inference.asr_server.convert_seed import UntrustedPickle, convert, main
from inference.asr_server.engines.base import DecodeOptions, Window
from inference.asr_server.engines.hf import TransformersWhisperEngine
from inference.device import Placement
from tests.inference.asr import checkpoints


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    folder = tmp_path_factory.mktemp("seed")
    source = checkpoints.transformers_whisper_dir(folder / "source")
    # Exactly what the seed did: pickle whole objects.
    torch.save(WhisperForConditionalGeneration.from_pretrained(source), folder / "model.pt")
    torch.save(WhisperProcessor.from_pretrained(source), folder / "processor.pt")
    return folder / "model.pt", folder / "processor.pt"


def test_refuses_without_explicit_trust(seed_files: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(UntrustedPickle):
        convert(*seed_files, tmp_path / "out", trust_pickle=False)
    model, processor = seed_files
    code = main(["--model", str(model), "--processor", str(processor), "--out", str(tmp_path)])
    assert code == 2
    assert not (tmp_path / "config.json").exists()


def test_converted_directory_loads_and_decodes(
    seed_files: tuple[Path, Path], tmp_path: Path
) -> None:
    model, processor = seed_files
    out = tmp_path / "whisper-zh"
    argv = ["--trust-pickle", "--model", str(model), "--processor", str(processor)]
    assert main([*argv, "--out", str(out)]) == 0
    assert (out / "model.safetensors").is_file()
    assert not list(out.glob("*.pt"))
    assert not list(out.glob("*.bin"))
    engine = TransformersWhisperEngine(out, Placement("cpu", False), max_new_tokens=4)
    audio = np.zeros(16_000, dtype=np.float32)
    (result,) = engine.transcribe_windows([Window(audio, DecodeOptions(language="zh"))])
    assert result.language == "zh"
