"""`make demo`'s orchestration, for real: every service, six missions, clean shutdown."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from demo.report import Console
from demo.run import run_demo
from demo.settings import DemoSettings


def _gone(pid: int) -> bool:
    """Neither the process nor anything left in its process group still runs."""
    for probe in (os.kill, os.killpg):
        try:
            probe(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_mission_succeeds_and_nothing_is_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo must not pick up an LLM or services from the developer's environment.
    for name in list(os.environ):
        if name.startswith(("DEMO_", "OPENAI_")):
            monkeypatch.delenv(name, raising=False)
    # The printed essay and the shipped recognizer, whatever `make handwriting-model` left.
    settings = DemoSettings(
        workdir=tmp_path, mission_timeout_s=600, handwriting_model=tmp_path / "none.pth"
    )
    output = io.StringIO()
    outcome = run_demo(settings, Console(output))
    report = output.getvalue()

    assert [m.task for m in outcome.missions] == [
        "ASR_predict",
        "OCR_predict",
        "OCR_predict_Text",
        "Mail_sent",
        "NLP_edit_ASR",
        "NLP_edit_OCR",
    ]
    for mission in outcome.missions:
        assert mission.state == "SUCCESS", (mission.task, mission.result, report)
        if mission.task == "Mail_sent":
            continue
        result = mission.result or {}
        assert str(result["content"]).strip(), mission.task
        assert str(result["summarize"]).strip(), mission.task
        assert isinstance(result["details"], list), mission.task
        assert result["details"], mission.task
    by_task = {m.task: m for m in outcome.missions}
    transcript = str((by_task["ASR_predict"].result or {})["content"]).lower()
    assert "cell" in transcript
    assert "autumn" in str((by_task["OCR_predict"].result or {})["content"]).lower()
    # The edit missions worked on what the analysis produced.
    assert str((by_task["NLP_edit_ASR"].result or {})["content"]).endswith("chapter five.")
    assert outcome.mail is not None
    assert outcome.mail.code_in_redis
    assert len(outcome.mail.code_in_redis) == 6
    assert outcome.mail.code_in_mail is True
    assert outcome.ok
    assert "All 6 missions succeeded." in report

    assert len(outcome.child_pids) == 6  # redis, smtp sink, asr, ocr, llm, worker
    assert all(_gone(pid) for pid in outcome.child_pids)
