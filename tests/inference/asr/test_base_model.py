"""The multilingual embedded model: assembled from its two wheels, served by configuration.

Chinese accuracy cannot be measured here (no natural Chinese voice offline), so the
Chinese path is shown to run end to end: language=zh decodes and OpenCC leaves nothing
Simplified; English is detected as English and transcribed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inference.asr_server import embedded
from inference.asr_server.chinese import ChineseConverter
from tests.inference.asr.conftest import Speech, asr_server, word_error_rate

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Nothing assembled in this cache yet: the service assembles base on first use.
    with asr_server(
        tmp_path_factory.mktemp("asr-base"),
        ASR_EMBEDDED_MODEL="base",
        ASR_MODEL_CACHE_DIR=str(cache_dir),
        ASR_BATCH__MAX_WAIT_MS="50",
    ) as base:
        yield base


def test_assembly_is_whole_and_done_once(tmp_path: Path) -> None:
    folder = embedded.assemble_base(tmp_path)
    model = folder / "model.bin"
    assert model.stat().st_size == embedded.BASE_MODEL_BYTES
    assert {p.name for p in folder.iterdir()} >= {*embedded.BASE_FILES, "model.bin"}
    stamp = model.stat().st_mtime_ns
    assert embedded.base_dir(tmp_path) == folder
    assert model.stat().st_mtime_ns == stamp  # not assembled twice
    assert not list(tmp_path.glob(".whisper-base-*"))  # no staging left behind


def test_served_model_is_multilingual_and_detects_english(
    server: str, speech: Speech, cache_dir: Path
) -> None:
    assert (cache_dir / "whisper-base" / "model.bin").is_file()
    clip = speech.short["wav"]
    response = httpx.post(
        f"{server}/v1/audio/transcriptions",
        files={"file": ("a.wav", clip.data)},
        data={"response_format": "verbose_json"},
        timeout=300.0,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "en"
    assert word_error_rate(clip.text, body["text"]) < 0.35


def test_chinese_path_gives_traditional_characters(server: str, speech: Speech) -> None:
    response = httpx.post(
        f"{server}/v1/audio/transcriptions",
        files={"file": ("a.wav", speech.short["wav"].data)},
        data={"language": "zh", "response_format": "verbose_json"},
        timeout=300.0,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "zh"
    text = body["text"]
    assert text.strip()
    assert ChineseConverter("s2twp").convert(text) == text  # nothing Simplified is left


def test_translation_to_english_runs(server: str, speech: Speech) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    clip = speech.short["wav"]
    translation = client.audio.translations.create(model="whisper-1", file=("a.wav", clip.data))
    assert word_error_rate(clip.text, translation.text) < 0.5
