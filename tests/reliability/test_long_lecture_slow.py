"""Three-hour lectures in every accepted format, end to end (``make test-slow``).

``LPUSH`` -> worker -> the real ASR service (its default 4-hour limit) -> the fake LLM
-> MariaDB, for mp3 and m4a at 128 kbps and 16-bit WAV at 44.1/48 kHz, mono and stereo.
Each file holds about 18 minutes of Piper speech spread over the three hours (the VAD
drops the pauses). The transcript is complete (word count within 5 %), and the memory
bounds of the issue hold: the worker's peak grows by under 64 MB, the ASR service's
peak stays under 2.5 GB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.inference.asr.conftest import require_piper
from tests.support.lecture_audio import write_lecture
from tests.support.lecture_stack import (
    ASR_SERVICE_MIB,
    WORKER_MIB,
    LectureStack,
    lecture_stack,
    reset_peak,
    rss_kib,
    run_mission,
)

log = logging.getLogger(__name__)
pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.lecture_hours,
    pytest.mark.timeout(2400),
]

REDIS_DB = 8  # the same database as test_long_lecture.py (never run at once)
HOURS_S = 3 * 3600.0
PARAGRAPHS = 62  # about 18 minutes of speech


@pytest.fixture(scope="module")
def lectures(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, mariadb_url: str
) -> Iterator[LectureStack]:
    require_piper()
    base = tmp_path_factory.mktemp("three-hours")
    with lecture_stack(base, redis_url, mariadb_url, REDIS_DB) as stack:
        yield stack


@pytest.mark.parametrize(
    ("name", "rate", "layout"),
    [
        ("lecture.mp3", 44_100, "stereo"),
        ("lecture.m4a", 48_000, "mono"),
        ("lecture-48k-stereo.wav", 48_000, "stereo"),
        ("lecture-44k-mono.wav", 44_100, "mono"),
    ],
)
def test_three_hours_end_to_end(lectures: LectureStack, name: str, rate: int, layout: str) -> None:
    lecture = write_lecture(
        lectures.audio / name, seconds=HOURS_S, paragraphs=PARAGRAPHS, rate=rate, layout=layout
    )
    for pid in (lectures.worker_pid, lectures.asr_pid):
        reset_peak(pid)
    worker_before = rss_kib(lectures.worker_pid)
    try:
        run = run_mission(lectures, lecture, timeout=2000)
    finally:
        lecture_size = lecture.path.stat().st_size
        lecture.path.unlink()  # 2 GB of WAV: not kept for the next case
    assert run.meta["status"] == "SUCCESS", run.meta
    worker_extra_mib = (rss_kib(lectures.worker_pid, "VmHWM") - worker_before) / 1024
    asr_peak_mib = rss_kib(lectures.asr_pid, "VmHWM") / 1024
    assert worker_extra_mib < WORKER_MIB
    assert asr_peak_mib < ASR_SERVICE_MIB
    status, result = lectures.row(run.file_id)
    assert status == "SUCCESS"
    assert result is not None
    words = len(result["content"].split())
    log.info(
        "%s (%d bytes): %.0f s, worker +%.0f MiB, asr %.0f MiB, %d words of %d",
        name, lecture_size, run.wall_s, worker_extra_mib, asr_peak_mib, words, lecture.words,
    )  # fmt: skip
    assert abs(words - lecture.words) <= 0.05 * lecture.words, (words, lecture.words)
    progress = [s for s in run.progress.states if s["stage"] == "transcribing" and "done_s" in s]
    assert progress[-1]["done_s"] == progress[-1]["total_s"]
