"""The check a version ships (smoke.json): read against the model's config, compared with
an answer. No Triton needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from triton_models.smoke import SMOKE_FILE, SmokeError, load_check, mismatches, recorded

CONFIG: dict[str, Any] = {
    "max_batch_size": 32,
    "input": [
        {"name": "IMAGE", "data_type": "TYPE_UINT8", "dims": ["-1", "-1", "3"]},
        {"name": "LANGUAGE", "data_type": "TYPE_STRING", "dims": ["1"], "optional": True},
    ],
    "output": [
        {"name": "TEXT", "data_type": "TYPE_STRING", "dims": ["1"]},
        {"name": "CONFIDENCE", "data_type": "TYPE_FP32", "dims": ["1"]},
    ],
}


def version(tmp_path: Path, check: dict[str, Any]) -> Path:
    np.save(tmp_path / "crop.npy", np.zeros((32, 100, 3), np.uint8))
    (tmp_path / SMOKE_FILE).write_text(json.dumps(check))
    return tmp_path


def answer(text: str, confidence: float) -> dict[str, np.ndarray | None]:
    return {
        "TEXT": np.array([[text.encode()]], dtype=np.object_),
        "CONFIDENCE": np.array([[confidence]], np.float32),
    }


def test_inputs_get_the_batch_axis_and_answers_are_compared(tmp_path: Path) -> None:
    folder = version(
        tmp_path,
        {
            "inputs": {"IMAGE": {"file": "crop.npy"}, "LANGUAGE": {"value": ["en"]}},
            "expect": {"TEXT": {"equals": ["over the lazy dog"]}, "CONFIDENCE": {"min": 0.5}},
        },
    )
    check = load_check(folder, CONFIG)
    assert check.inputs["IMAGE"].shape == (1, 32, 100, 3)
    assert check.inputs["LANGUAGE"].tolist() == [[b"en"]]
    assert mismatches(check, answer("over the lazy dog", 0.9), folder) == []
    wrong = mismatches(check, answer("ovcr thc lazv dag", 0.3), folder)
    assert len(wrong) == 2
    assert "TEXT is ['ovcr thc lazv dag'], expected ['over the lazy dog']" in wrong[0]
    assert "falls below 0.5" in wrong[1]
    assert mismatches(check, {"TEXT": None}, folder)[0] == "TEXT is missing from the answer"


def test_close_contains_and_max(tmp_path: Path) -> None:
    np.save(tmp_path / "expected.npy", np.array([0.9], np.float32))
    folder = version(
        tmp_path,
        {
            "inputs": {"IMAGE": {"file": "crop.npy"}},
            "expect": {
                "TEXT": {"contains": "lazy"},
                "CONFIDENCE": {"close": {"file": "expected.npy"}, "atol": 0.05, "max": 1.0},
            },
        },
    )
    check = load_check(folder, CONFIG)
    assert mismatches(check, answer("the lazy dog", 0.93), folder) == []
    assert len(mismatches(check, answer("the dog", 0.5), folder)) == 2


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        ({"inputs": {}, "expect": {"TEXT": {"equals": ["x"]}}}, "do not match the inputs"),
        ({"inputs": {"IMAGE": {"file": "crop.npy"}}, "expect": {}}, "must name some of"),
        (
            {"inputs": {"IMAGE": {"file": "crop.npy"}}, "expect": {"BOXES": {"min": 0}}},
            "must name some of",
        ),
        (
            {"inputs": {"IMAGE": {"file": "crop.npy"}}, "expect": {"TEXT": {"equal": ["x"]}}},
            "unknown check",
        ),
        (
            {"inputs": {"IMAGE": {"file": "../crop.npy"}}, "expect": {"TEXT": {"min": 0}}},
            "outside the version folder",
        ),
    ],
)
def test_a_check_that_cannot_check_is_refused(
    tmp_path: Path, check: dict[str, Any], reason: str
) -> None:
    (tmp_path / "v").mkdir()
    folder = version(tmp_path / "v", check)
    with pytest.raises(SmokeError, match=reason):
        load_check(folder, CONFIG)


def test_a_version_without_a_check_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SmokeError, match="must ship its smoke request"):
        load_check(tmp_path, CONFIG)


def test_a_recorded_check_expects_what_was_answered(tmp_path: Path) -> None:
    crop = np.full((1, 32, 100, 3), 255, np.uint8)
    spec = recorded(tmp_path, {"IMAGE": crop}, answer("the lazy dog", 0.875))
    assert spec["expect"]["TEXT"] == {"equals": ["the lazy dog"]}
    assert spec["expect"]["CONFIDENCE"]["close"] == [0.875]
    (tmp_path / SMOKE_FILE).write_text(json.dumps(spec))
    check = load_check(tmp_path, CONFIG)
    assert check.inputs["IMAGE"].shape == (1, 32, 100, 3)  # saved with its batch axis
    assert mismatches(check, answer("the lazy dog", 0.8752), tmp_path) == []
    assert len(mismatches(check, answer("the lazy dog", 0.7), tmp_path)) == 1


def test_near_accepts_a_text_within_its_cer_bound_and_refuses_one_beyond(tmp_path: Path) -> None:
    folder = version(
        tmp_path,
        {
            "inputs": {"IMAGE": {"file": "crop.npy"}},
            "expect": {"TEXT": {"near": ["Dear Mr. Chen, thank you"], "max_cer": 0.1}},
        },
    )
    check = load_check(folder, CONFIG)
    assert mismatches(check, answer("Dear Mr. Chen, thank you", 0.9), folder) == []
    assert mismatches(check, answer("Dear Mr Chen, thank  yau", 0.9), folder) == []  # 2 of 24
    wrong = mismatches(check, answer("Dcar Mr Chcn thank yau", 0.9), folder)
    assert len(wrong) == 1
    assert "reads at CER 0.2" in wrong[0]
    assert "> 0.1" in wrong[0]
    two = mismatches(check, {"TEXT": np.array([[b"a"], [b"b"]], dtype=np.object_)}, folder)
    assert two == ["TEXT has 2 values, expected 1"]
