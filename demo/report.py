"""What the demo shows on the terminal: progress lines while it runs, a report at the end.

This is the demo's user interface, so it writes to a text stream (stdout by default);
diagnostics go through logging to stderr like everywhere else.
"""

from __future__ import annotations

import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import TextIO

from demo.missions import Mission

WIDTH = 96


@dataclass
class MailCheck:
    code_in_redis: str | None
    mails_received: int | None  # None when a real SMTP server got the mail
    code_in_mail: bool | None
    subject: str = ""

    @property
    def ok(self) -> bool:
        return self.code_in_redis is not None and self.code_in_mail is not False


@dataclass
class Console:
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    started: float = field(default_factory=time.monotonic)

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def stage(self, text: str) -> None:
        self.line(f"[{time.monotonic() - self.started:6.1f}s] {text}")

    def progress(self, mission: Mission) -> None:
        stage = f" ({mission.stage})" if mission.stage else ""
        self.stage(f"  {mission.task:<17} {mission.state:<8}{stage:<22} {mission.elapsed():6.1f}s")


def _block(title: str, text: str, limit: int = 900) -> list[str]:
    text = text.strip() or "(empty)"
    if len(text) > limit:
        text = text[:limit].rstrip() + " …"
    body = [
        wrapped
        for paragraph in text.splitlines()
        for wrapped in (textwrap.wrap(paragraph, WIDTH - 6) or [""])
    ]
    return [f"  {title}:", *(f"      {line}" for line in body)]


def mission_lines(mission: Mission, problems: list[str]) -> list[str]:
    verdict = "ok" if mission.state == "SUCCESS" and not problems else "NOT OK"
    lines = [f"{mission.task}  →  {mission.state}  in {mission.elapsed():.1f}s  [{verdict}]"]
    lines += [f"  problem: {p}" for p in problems]
    result = mission.result or {}
    if mission.task == "Mail_sent":
        return lines
    if "error" in result:
        lines.append(f"  error: {result['error']}")
    if mission.task in {"ASR_predict", "NLP_edit_ASR"}:
        lines += _block("transcript", str(result.get("content", "")), 400)
    else:
        lines += _block("essay text", str(result.get("content", "")), 400)
    lines += _block("summary / grading", str(result.get("summarize", "")))
    usage = result.get("usage")
    if isinstance(usage, dict):
        lines.append(f"  LLM usage: {usage}")
    return lines


def final_report(
    console: Console,
    missions: list[Mission],
    problems: dict[str, list[str]],
    mail: MailCheck | None,
    timings: dict[str, float],
) -> None:
    console.line()
    console.line("=" * WIDTH)
    console.line("Study-Savvy demo: results")
    console.line("=" * WIDTH)
    for mission in missions:
        for text in mission_lines(mission, problems.get(mission.task, [])):
            console.line(text)
        if mission.task == "Mail_sent" and mail is not None:
            console.line(f"  code stored in Redis for the address: {mail.code_in_redis}")
            if mail.mails_received is None:
                console.line("  mail went to the configured SMTP server (not checked here)")
            else:
                console.line(
                    f"  mails in the sink: {mail.mails_received}, subject: {mail.subject!r}, "
                    f"code found in the mail: {'yes' if mail.code_in_mail else 'NO'}"
                )
        console.line("-" * WIDTH)
    console.line("Wall time per stage:")
    for name, seconds in timings.items():
        console.line(f"  {name:<28} {seconds:7.1f}s")
    failed = [m.task for m in missions if m.state != "SUCCESS" or problems.get(m.task)]
    console.line("=" * WIDTH)
    if failed:
        console.line(f"FAILED: {', '.join(failed)}")
    else:
        console.line(f"All {len(missions)} missions succeeded.")
