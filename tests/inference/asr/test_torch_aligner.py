"""The PyTorch aligner: its median filter and time warping are openai-whisper's, step for
step, and its word times on Piper speech are CTranslate2's ``align``'s; ``auto`` times the
two here and caches the choice."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.asr_server.embedded import tiny_en_dir
from inference.asr_server.engines.torch_aligner import (
    TorchAligner,
    _median_filter,
    _warping_path,
)
from inference.device import Placement
from tests.inference.asr import tts

CPU = Placement("cpu", half=False)


@pytest.mark.parametrize("shape", [(2, 3), (5, 7), (40, 300), (104, 1500)])
def test_the_warping_path_is_openai_whispers(shape: tuple[int, int]) -> None:
    from whisper.timing import dtw_cpu

    rng = np.random.default_rng(sum(shape))
    cost = rng.standard_normal(shape)
    cost[::3, ::2] = 0.5  # ties, where the order of the rule decides
    tokens, frames = dtw_cpu(cost)
    path = _warping_path(cost)
    assert np.array_equal(path[:, 0], tokens)
    assert np.array_equal(path[:, 1], frames)
    assert tuple(path[0]) == (0, 0)
    assert tuple(path[-1]) == (shape[0] - 1, shape[1] - 1)


@pytest.mark.parametrize("shape", [(2, 3, 2), (2, 3, 5), (8, 20, 750)])
def test_the_median_filter_is_openai_whispers(shape: tuple[int, int, int]) -> None:
    import torch
    from whisper.timing import median_filter

    x = torch.randn(shape)
    x[0, 0, ::2] = 1.0  # repeated values in a window
    assert np.array_equal(_median_filter(x.numpy(), 7), median_filter(x, 7).numpy())


@pytest.fixture(scope="module")
def windows() -> dict[str, Any]:
    """Three windows of Piper speech (30 s, 27 s, 24 s), encoded and decoded greedily."""
    import ctranslate2
    from faster_whisper import WhisperModel
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    from inference.audio import decode_audio

    audio = decode_audio(tts.lecture(90).wav)
    model = WhisperModel(str(tiny_en_dir()), device="cpu", compute_type="int8", cpu_threads=2)
    pieces = [audio[at * 480_000 : (at + 1) * 480_000 - at * 48_000] for at in range(3)]
    features = np.stack([pad_or_trim(model.feature_extractor(p)[..., :-1]) for p in pieces])
    states = np.asarray(model.encode(features))
    tokenizer = Tokenizer(model.hf_tokenizer, False, task="transcribe", language="en")
    prompt = model.get_prompt(tokenizer, previous_tokens=[], without_timestamps=True)
    view = ctranslate2.StorageView.from_array(states)
    decoded = model.model.generate(view, [prompt] * 3, beam_size=1, max_length=448)
    texts = [[t for t in r.sequences_ids[0] if t < tokenizer.eot] for r in decoded]
    frames = [len(p) // 160 for p in pieces]
    return {"model": model, "tokenizer": tokenizer, "states": states, "texts": texts,
            "frames": frames}  # fmt: skip


def test_word_times_are_ctranslate2s(windows: dict[str, Any]) -> None:
    import ctranslate2

    model, tokenizer = windows["model"], windows["tokenizer"]
    aligner = TorchAligner(tiny_en_dir(), threads=2)
    gaps = []
    for at, text in enumerate(windows["texts"]):
        state = np.ascontiguousarray(windows["states"][at : at + 1])
        view = ctranslate2.StorageView.from_array(state)
        (expected,) = model.find_alignment(tokenizer, [text], view, [windows["frames"][at]])
        words = aligner.align(tokenizer, text, windows["states"][at], windows["frames"][at])
        assert len(text) > 50
        assert [w["word"] for w in words] == [w["word"] for w in expected]
        pairs = zip(words, expected, strict=True)
        gaps += [abs(w[k] - e[k]) for w, e in pairs for k in ("start", "end")]
        # The last word's end is what the early-stop check reads (it acts on a second).
        assert abs(words[-1]["end"] - expected[-1]["end"]) <= 0.2
    gaps_s = np.array(gaps)
    # CTranslate2 runs the decoder in int8: a few times move by a frame or two, and one in
    # a few hundred by more (0.42 s at most on a Zen 3 EPYC; its int8 kernels differ by CPU).
    assert np.mean(gaps_s <= 0.021) >= 0.95, np.sort(gaps_s)[-10:]
    assert np.mean(gaps_s <= 0.101) >= 0.98, np.sort(gaps_s)[-10:]
    assert gaps_s.max() <= 1.0
    assert aligner.align(tokenizer, [], windows["states"][0], 3000) == []


def test_a_model_without_alignment_heads_is_refused(tmp_path: Path) -> None:
    import json

    source = tiny_en_dir()
    config = json.loads((source / "config.json").read_text())
    config.pop("alignment_heads")
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.bin").symlink_to(source / "model.bin")
    with pytest.raises(ValueError, match="no alignment heads"):
        TorchAligner(tmp_path, threads=1)


def test_auto_times_the_aligners_here_and_caches_the_choice(tmp_path: Path) -> None:
    from inference.asr_server.engines.faster import FasterWhisperEngine

    def engine(aligner: str) -> FasterWhisperEngine:
        return FasterWhisperEngine(
            None, CPU, cpu_threads=2, encoder="ctranslate2", aligner=aligner, tuning_dir=tmp_path
        )  # fmt: skip

    first = engine("auto").choices["aligner"]
    assert first["source"] == "measured"
    assert set(first["seconds"]) == {"ctranslate2", "torch-fp32"}  # type: ignore[arg-type]
    assert first["engine"] == min(first["seconds"], key=first["seconds"].get)  # type: ignore[call-overload]
    again = engine("auto")
    assert again.choices["aligner"] == {**first, "source": "cached"}
    assert (again._torch_aligner is not None) == (first["engine"] == "torch-fp32")
    forced = engine("ctranslate2")
    assert forced.choices["aligner"]["source"] == "explicit"
    assert forced._torch_aligner is None
    assert isinstance(engine("torch-fp32")._torch_aligner, TorchAligner)
    shutil.rmtree(tmp_path)


def test_the_engine_gives_the_same_words_with_either_aligner(tmp_path: Path) -> None:
    from inference.asr_server.engines.base import DecodeOptions, Window
    from inference.asr_server.engines.faster import FasterWhisperEngine
    from inference.audio import decode_audio

    audio = decode_audio(tts.lecture(40).wav)
    options = DecodeOptions(language="en", timestamps=False, words=True)
    pieces = [Window(audio[:400_000], options), Window(audio[400_000:640_000], options)]
    found = {}
    for aligner in ("ctranslate2", "torch-fp32"):
        engine = FasterWhisperEngine(
            None, CPU, cpu_threads=2, encoder="ctranslate2", aligner=aligner, beam_size=1,
            tuning_dir=tmp_path,
        )  # fmt: skip
        found[aligner] = [
            [word for segment in result.segments for word in segment.words]
            for result in engine.transcribe_windows(pieces)
        ]
    for expected, got in zip(found["ctranslate2"], found["torch-fp32"], strict=True):
        assert len(got) > 20
        assert [w.word for w in got] == [w.word for w in expected]
        assert max(abs(g.end - e.end) for g, e in zip(got, expected, strict=True)) <= 1.0
        assert abs(got[-1].end - expected[-1].end) <= 0.2
