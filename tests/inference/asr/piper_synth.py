"""Run by the Piper venv's python (``.tools/piper``), not the project's: one voice load,
one WAV per text. Reads ``{"voice", "texts", "out", "sentence_silence", "noise_scale",
"noise_w_scale"}`` as JSON on stdin.

Kept free of project imports: piper-tts lives in a venv of its own (scripts/install.sh).
"""

import json
import sys
import wave
from pathlib import Path

import numpy as np
from piper import PiperVoice, SynthesisConfig


def main() -> None:
    job = json.load(sys.stdin)
    voice = PiperVoice.load(job["voice"])
    config = SynthesisConfig(noise_scale=job["noise_scale"], noise_w_scale=job["noise_w_scale"])
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    for index, text in enumerate(job["texts"]):
        chunks = []
        rate = 22050
        for chunk in voice.synthesize(text, syn_config=config):
            rate = chunk.sample_rate
            chunks.append(chunk.audio_int16_array)
            chunks.append(np.zeros(int(job["sentence_silence"] * rate), dtype=np.int16))
        with wave.open(str(out / f"{index}.wav"), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(np.concatenate(chunks).tobytes())


if __name__ == "__main__":
    main()
