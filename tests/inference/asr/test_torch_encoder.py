"""The PyTorch encoders read from the CTranslate2 model: the same states as CTranslate2's
own float32 encoder in float32, close in bfloat16, and the engine's lane plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.asr_server.embedded import tiny_en_dir
from inference.asr_server.engines.faster import plan_lanes
from inference.asr_server.engines.torch_encoder import TorchEncoder, read_encoder_weights
from inference.device import Placement

CPU = Placement("cpu", half=False)


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    from faster_whisper.feature_extractor import FeatureExtractor

    rng = np.random.default_rng(3)
    t = np.arange(16000 * 12) / 16000
    # Two "voices" of harmonics with noise: states that are not all alike.
    a = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((180, 360, 540), start=1))
    b = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((250, 750, 1250), start=1))
    audio = [(0.1 * x + 0.01 * rng.standard_normal(t.size)).astype(np.float32) for x in (a, b)]
    extract = FeatureExtractor()
    return np.stack([np.pad(extract(x)[:, :-1], ((0, 0), (0, 3000 - 1200))) for x in audio])


def reference(features: np.ndarray) -> np.ndarray:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(tiny_en_dir()), device="cpu", compute_type="float32", cpu_threads=1)
    return np.asarray(model.encode(features))


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_weights_are_read_from_model_bin() -> None:
    weights = read_encoder_weights(tiny_en_dir())
    assert weights["conv1/weight"].shape == (384, 80, 3)
    assert weights["position_encodings/encodings"].shape == (1500, 384)
    assert {n.split("/")[0] for n in weights if n.startswith("layer_")} >= {"layer_0", "layer_3"}


def test_a_model_bin_of_another_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\x06\x00\x00\x00\x0a\x00NotWhisper\x00" + bytes(64))
    with pytest.raises(ValueError, match="not a CTranslate2 Whisper model"):
        read_encoder_weights(tmp_path)


def test_bfloat16_states_match_ctranslate2_float32(features: np.ndarray) -> None:
    import torch

    expected = reference(features)
    encoder = TorchEncoder(tiny_en_dir(), threads=1)
    states = encoder.encode(features)
    assert states.shape == expected.shape == (2, 1500, 384)
    # bfloat16 keeps 8 bits of mantissa; CTranslate2's own int8 encoder is ~5 % off.
    assert relative_error(states, expected) < 0.03
    with torch.autocast("cpu", enabled=False):
        exact = encoder._forward(torch.from_numpy(features)).numpy()  # float32 weights
    assert relative_error(exact, expected) < 1e-4  # the same network, op for op


def test_float32_states_are_ctranslate2_float32s(features: np.ndarray) -> None:
    expected = reference(features)
    encoder = TorchEncoder(tiny_en_dir(), threads=1, precision="fp32")
    states = encoder.encode(features)  # one window at a time in float32
    assert states.shape == expected.shape == (2, 1500, 384)
    assert relative_error(states, expected) < 1e-4


def test_lanes_share_the_cores() -> None:
    assert plan_lanes(CPU, cpu_threads=2, lanes=0) == (2, 1)
    assert plan_lanes(CPU, cpu_threads=16, lanes=0) == (4, 4)
    assert plan_lanes(CPU, cpu_threads=8, lanes=1) == (1, 8)
    assert plan_lanes(Placement("cuda", half=True), cpu_threads=0, lanes=0) == (1, 0)


def test_auto_times_the_encoders_here_and_caches_the_choice(tmp_path: Path) -> None:
    from inference.asr_server.engines.faster import FasterWhisperEngine
    from inference.device import cpu_has_bf16

    def engine(encoder: str) -> FasterWhisperEngine:
        return FasterWhisperEngine(
            None, CPU, cpu_threads=2, encoder=encoder, tuning_dir=tmp_path
        )  # fmt: skip

    first = engine("auto").choices["encoder"]
    expected = {"ctranslate2", "torch-fp32"} | ({"torch-bf16"} if cpu_has_bf16() else set())
    assert first["source"] == "measured"
    assert set(first["seconds"]) == expected  # type: ignore[arg-type]
    fastest = min(first["seconds"], key=first["seconds"].get)  # type: ignore[call-overload]
    assert first["engine"] == fastest
    again = engine("auto")
    assert again.choices["encoder"] == {**first, "source": "cached"}
    loaded = again._torch_encoder
    assert (loaded is not None) == (first["engine"] != "ctranslate2")
    if loaded is not None:  # the winner's precision, and only the winner, is loaded
        assert loaded.precision == {"torch-fp32": "fp32", "torch-bf16": "bf16"}[first["engine"]]
    forced = engine("ctranslate2")
    assert forced.choices["encoder"]["source"] == "explicit"
    assert forced._torch_encoder is None
    assert engine("torch-fp32")._torch_encoder.precision == "fp32"
