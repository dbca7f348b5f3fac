"""The ASR and OCR services give the same answers in Triton mode as in-process.

Each service runs twice on loopback, once with its in-process engine and once with the
Triton engine against the session's tritonserver, and reads the same inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.inference.asr import media as speech
from tests.inference.ocr import pages
from tests.inference.ocr.server import ocr_server
from tests.support.services import free_port, running_process
from tests.triton.conftest import ASR_COMPUTE_TYPE, OCR_CANVAS
from tests.triton.server import TritonServer

pytestmark = pytest.mark.slow


def asr_server(stack: ExitStack, log_dir: Path, **env: str) -> str:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = {
        "ASR_HOST": "127.0.0.1",
        "ASR_PORT": str(port),
        "ASR_DEVICE": "cpu",
        # int8 kernels round differently with the batch size; float32 compares exactly.
        "ASR_COMPUTE_TYPE": ASR_COMPUTE_TYPE,
        "ASR_CPU_THREADS": "2",
        # The Triton model decodes with timestamps at beam 5 and reports no log-probability:
        # the in-process engine is set to decode alike, with no fallback on either side.
        "ASR_BEAM_SIZE": "5",
        "ASR_DECODE__TEXT_ONLY": "false",
        "ASR_DECODE__TEMPERATURE_FALLBACK": "[]",
        **env,
    }
    stack.enter_context(
        running_process(
            ["python", "-m", "inference.asr_server"],
            env=full_env,
            ready_url=f"{base}/readyz",
            log_path=log_dir / f"asr-{port}.log",
        )
    )
    return base


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About 40 s of speech: more than one 30 s window, cut at a pause."""
    folder = tmp_path_factory.mktemp("lecture")
    sentences = [
        speech.read_wav(speech.speak(text, folder / f"s{i}.wav"))
        for i, text in enumerate(speech.SENTENCES[:6])
    ]
    audio, _ = speech.lecture(sentences, 40.0)
    return speech.wav_bytes(audio)


@pytest.fixture(scope="module")
def asr_pair(
    triton: TritonServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    triton.load("whisper")
    logs = tmp_path_factory.mktemp("asr_logs")
    with ExitStack() as stack:
        local = asr_server(stack, logs, ASR_ENGINE="faster-whisper")
        remote = asr_server(stack, logs, ASR_ENGINE="triton", ASR_TRITON_URL=triton.url)
        yield local, remote


def transcribe(base: str, data: bytes, **form: str) -> httpx.Response:
    files = {"file": ("lecture.wav", data, "audio/wav")}
    return httpx.post(f"{base}/v1/audio/transcriptions", files=files, data=form, timeout=300)


def test_asr_in_triton_mode_matches_in_process(asr_pair: tuple[str, str], lecture: bytes) -> None:
    local, remote = (transcribe(base, lecture) for base in asr_pair)
    assert local.status_code == remote.status_code == 200
    local_text, remote_text = local.json()["text"], remote.json()["text"]
    assert len(local_text.split()) > 40
    # Same engine, weights, compute type and beam size, same windows: the same words.
    assert remote_text == local_text
    verbose = [transcribe(b, lecture, response_format="verbose_json").json() for b in asr_pair]
    assert len(verbose[1]["segments"]) == len(verbose[0]["segments"])
    assert verbose[1]["duration"] == verbose[0]["duration"]
    # Errors keep their statuses too: a text file is not audio.
    for base in asr_pair:
        files = {"file": ("notes.wav", b"just some text, not audio", "audio/wav")}
        answer = httpx.post(f"{base}/v1/audio/transcriptions", files=files, timeout=60)
        assert answer.status_code == 415


def ocr_env(recognizer: str, triton: TritonServer | None, trocr_dir: Path) -> dict[str, str]:
    env = {"OCR_DETECTOR__CANVAS_SIZE": OCR_CANVAS, "OCR_RECOGNIZER__TROCR_DIR": str(trocr_dir)}
    if triton is None:
        return {**env, "OCR_RECOGNIZER__ENGINE": recognizer}
    return {
        **env,
        "OCR_DETECTOR__ENGINE": "triton",
        "OCR_RECOGNIZER__ENGINE": "triton",
        "OCR_TRITON__URL": triton.url,
        "OCR_TRITON__RECOGNIZER_MODEL": recognizer,
    }


@pytest.mark.parametrize("recognizer", ["crnn", "trocr"])
def test_ocr_in_triton_mode_matches_in_process(
    triton: TritonServer, weights_root: Path, tmp_path: Path, recognizer: str
) -> None:
    for model in ("craft", recognizer):
        triton.load(model)
    page = pages.render_page(max_lines=6)
    image = pages.png_bytes(page.image)
    answers = []
    trocr_dir = weights_root / "trocr" / "1"
    for mode in (None, triton):
        env = ocr_env(recognizer, mode, trocr_dir)
        with ocr_server(env, tmp_path / f"ocr-{recognizer}-{mode is None}.log") as base:
            files = {"file": ("essay.png", image, "image/png")}
            answer = httpx.post(f"{base}/v1/ocr", files=files, timeout=300)
            assert answer.status_code == 200, answer.text
            answers.append(answer.json())
    local, remote = answers
    assert len(local["lines"]) == len(page.lines)
    assert remote["text"] == local["text"]
    for a, b in zip(local["lines"], remote["lines"], strict=True):
        assert a["box"] == b["box"]
        assert a["indented"] == b["indented"]
        # The CRNN pads a batch to its widest line, and Triton forms other batches.
        assert np.isclose(a["confidence"], b["confidence"], atol=0.05)
    if recognizer == "crnn":  # the real weights read the rendered page
        import difflib

        read = remote["text"].replace("    ", "")
        assert difflib.SequenceMatcher(None, read, page.text).ratio() > 0.9, read
