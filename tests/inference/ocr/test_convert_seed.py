"""Migrating the seed's pickled TrOCR files, only when the operator trusts them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inference.device import Placement
from inference.ocr_server.convert_seed import UntrustedPickle, convert_seed_trocr, main
from inference.ocr_server.recognizers.trocr import TrocrRecognizer
from tests.inference.ocr.tiny_trocr import tiny_trocr_parts


@pytest.fixture
def seed_files(tmp_path: Path) -> tuple[Path, Path]:
    model, processor = tiny_trocr_parts()
    model_file, processor_file = tmp_path / "model.pt", tmp_path / "processor.pt"
    torch.save(model, model_file)  # exactly what the seed did
    torch.save(processor, processor_file)
    return model_file, processor_file


def test_pickles_are_refused_unless_trusted(seed_files: tuple[Path, Path], tmp_path: Path) -> None:
    model_file, processor_file = seed_files
    output = tmp_path / "out"
    with pytest.raises(UntrustedPickle):
        convert_seed_trocr(model_file, processor_file, output)
    args = ["--model", str(model_file), "--processor", str(processor_file)]
    assert main([*args, "--output", str(output)]) == 2
    assert not output.exists()


def test_trusted_pickles_become_a_loadable_directory(
    seed_files: tuple[Path, Path], tmp_path: Path
) -> None:
    model_file, processor_file = seed_files
    output = tmp_path / "converted"
    args = ["--model", str(model_file), "--processor", str(processor_file)]
    assert main([*args, "--output", str(output), "--trust-pickles"]) == 0
    assert (output / "model.safetensors").is_file()
    assert not list(output.glob("*.pt"))
    assert not list(output.glob("*.bin"))

    converted = TrocrRecognizer(output, Placement("cpu", False), max_new_tokens=8)
    original = torch.load(model_file, weights_only=False)
    state = converted._model.state_dict()
    for name, tensor in original.state_dict().items():
        assert torch.equal(state[name], tensor), name
    crop = np.random.default_rng(1).integers(0, 255, (32, 120, 3), dtype=np.uint8)
    assert len(converted.recognize([crop, crop])) == 2


def test_files_that_are_not_a_model_are_rejected(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    torch.save({"not": "a model"}, junk)
    with pytest.raises(TypeError):
        convert_seed_trocr(junk, junk, tmp_path / "out", trust_pickles=True)
