"""Speech made once per session, and a helper that runs the ASR server in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.inference.asr import media, tts
from tests.support.services import IN_CI, free_port, running_process


@dataclass(frozen=True)
class Clip:
    data: bytes
    text: str
    seconds: float


@dataclass(frozen=True)
class Speech:
    sentences: list[np.ndarray]  # 16 kHz float32, one per media.SENTENCES entry
    short: dict[str, Clip]  # "wav", "mp3", "m4a": the same two sentences
    long: Clip  # a wav of more than 60 s


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Speech:
    folder = tmp_path_factory.mktemp("speech")
    sentences = [
        media.read_wav(media.speak(text, folder / f"s{i}.wav"))
        for i, text in enumerate(media.SENTENCES)
    ]
    pause = np.zeros(media.RATE // 2, dtype=np.float32)
    # Sentences tiny.en hears reasonably well from espeak; the clip is about 17 s long.
    chosen = [1, 3, 7, 11]
    short_audio = np.concatenate([part for i in chosen for part in (sentences[i], pause)])
    short_text = " ".join(media.SENTENCES[i] for i in chosen)
    seconds = short_audio.shape[0] / media.RATE
    short = {"wav": Clip(media.wav_bytes(short_audio), short_text, seconds)}
    for ext in ("mp3", "m4a"):
        path = media.encode(short_audio, folder / f"short.{ext}")
        short[ext] = Clip(path.read_bytes(), short_text, seconds)
    long_audio, count = media.lecture(sentences, 70.0)
    long = Clip(
        media.wav_bytes(long_audio), media.lecture_text(count), long_audio.shape[0] / media.RATE
    )
    return Speech(sentences, short, long)


@contextmanager
def asr_server(log_dir: Path, ready: bool = True, **env: str) -> Iterator[str]:
    """Run ``python -m inference.asr_server`` on a free port; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {"ASR_HOST": "127.0.0.1", "ASR_PORT": str(port), "ASR_CPU_THREADS": "2", **env}
    with running_process(
        ["python", "-m", "inference.asr_server"],
        env=full_env,
        ready_url=f"{base}/readyz" if ready else f"{base}/healthz",
        log_path=log_dir / f"asr-{port}.log",
    ):
        yield base


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer

    normalise = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return float(
        jiwer.wer(
            reference,
            hypothesis,
            reference_transform=normalise,
            hypothesis_transform=normalise,
        )
    )


@pytest.fixture(scope="session")
def piper_lecture() -> tts.Lecture:
    """Natural speech: the Piper voice reading at least 5 minutes of the lecture (cached)."""
    require_piper()
    return tts.lecture(300.0)


@pytest.fixture(scope="session")
def piper_excerpt() -> tts.Lecture:
    """The lecture's first paragraphs, about a minute: several windows, quickly decoded."""
    require_piper()
    return tts.lecture(55.0)


def require_piper() -> None:
    """Piper comes from `make install` (its own venv); CI must have it, a laptop may not."""
    if tts.available():
        return
    message = f"the Piper voice is not installed under {tts.PIPER_VENV} (run `make install`)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def longest_deleted_run(reference: str, hypothesis: str) -> int:
    """The most consecutive reference words missing from the hypothesis: a dropped window
    (or the tail of one) shows as a long run, a misheard word as a run of one or two."""
    import jiwer

    normalise = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    output = jiwer.process_words(
        reference, hypothesis, reference_transform=normalise, hypothesis_transform=normalise
    )
    runs = [c.ref_end_idx - c.ref_start_idx for c in output.alignments[0] if c.type == "delete"]
    return max(runs, default=0)
