"""The demo's orchestration: start everything, play the backend, follow, report, stop."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import sqlalchemy as sa

from demo import go_backend
from demo.backend import credential_kwargs, make_key_pair, make_media, plan_missions
from demo.missions import Mission, refresh, reopen_row
from demo.report import Console, MailCheck, final_report
from demo.settings import DemoSettings
from demo.smtp_sink import plain_text, read_mails
from demo.stack import Stack, start_stack, start_worker
from demo.supervisor import Supervisor
from worker.store import create_engine

log = logging.getLogger(__name__)


@dataclass
class DemoOutcome:
    missions: list[Mission]
    problems: dict[str, list[str]]
    mail: MailCheck | None
    timings: dict[str, float] = field(default_factory=dict)
    child_pids: list[int] = field(default_factory=list)
    workdir: Path | None = None

    @property
    def ok(self) -> bool:
        return all(m.state == "SUCCESS" for m in self.missions) and not any(self.problems.values())


def new_run_dir(root: Path) -> Path:
    """A fresh folder per run, so a rerun never reads an old run's mail or rows."""
    run = root.resolve() / time.strftime("run-%Y%m%d-%H%M%S")
    suffix = 0
    while run.exists():
        suffix += 1
        run = run.with_name(f"{run.name.split('.')[0]}.{suffix}")
    run.mkdir(parents=True)
    return run


def run_demo(settings: DemoSettings, console: Console | None = None) -> DemoOutcome:
    console = console or Console()
    workdir = new_run_dir(settings.workdir)
    console.stage(f"work folder: {workdir}")
    timings: dict[str, float] = {}
    with Supervisor(workdir / "logs") as supervisor:
        outcome = _run(settings, console, supervisor, workdir, timings)
        outcome.child_pids = supervisor.pids()
        console.stage("stopping every process")
        started = time.monotonic()
    timings["shutdown"] = time.monotonic() - started
    console.stage(f"stopped {len(outcome.child_pids)} processes in {timings['shutdown']:.1f}s")
    return outcome


def _run(
    settings: DemoSettings,
    console: Console,
    supervisor: Supervisor,
    workdir: Path,
    timings: dict[str, float],
) -> DemoOutcome:
    started = time.monotonic()
    console.stage("starting Redis, SMTP sink, ASR, OCR and LLM services")
    stack = start_stack(settings, supervisor, workdir)
    timings.update({f"ready: {name}": s for name, s in stack.timings.items()})
    timings["services (all ready)"] = time.monotonic() - started
    for name, where in stack.endpoints.items():
        console.stage(f"  {name:<5} {where}")
    mark = time.monotonic()
    public_key = make_key_pair(stack.private_key_path)
    media = make_media(stack.audio_dir, stack.graph_dir, handwritten=settings.handwriting)
    timings["keys + sample media"] = time.monotonic() - mark
    essay = "handwritten" if settings.handwriting else "printed"
    console.stage(f"sample media ready (speech from {media.audio_source}, {essay} essay)")
    start_worker(settings, supervisor, stack)
    engine = create_engine(stack.database_url)
    client = redis.Redis.from_url(stack.redis.url())
    try:
        credentials = credential_kwargs(stack.llm_credential, public_key)
        missions = plan_missions(engine, media, credentials, settings.mail_to)
        mark = time.monotonic()
        _follow(settings, console, supervisor, missions, engine, client)
        timings["missions (all)"] = time.monotonic() - mark
        for mission in missions:
            timings[f"mission: {mission.task}"] = mission.elapsed()
        mail = _check_mail(settings, stack, client)
        problems = {m.task: _problems(m, mail) for m in missions}
        timings["total before shutdown"] = time.monotonic() - started
        final_report(console, missions, problems, mail, timings)
    finally:
        client.close()
        engine.dispose()
    return DemoOutcome(missions, problems, mail, timings, workdir=workdir)


def _push(settings: DemoSettings, engine: sa.Engine, client: redis.Redis, mission: Mission) -> None:
    """Push as the backend does: a row task under the row's id (contract.md), an edit
    after reopening its row; Mail_sent under a fresh id."""
    name = f"{settings.celery_task}.{mission.task}" if settings.celery_task else mission.task
    if mission.is_edit and mission.file_id is not None:
        mission.reopened_at_seq = reopen_row(engine, mission.file_id)
    mission.task_id = go_backend.push(client, name, mission.kwargs, task_id=mission.file_id)
    mission.pushed_at = time.monotonic()
    mission.state = "QUEUED"


def _follow(
    settings: DemoSettings,
    console: Console,
    supervisor: Supervisor,
    missions: list[Mission],
    engine: sa.Engine,
    client: redis.Redis,
) -> None:
    """Push what can go, poll progress, push the edits once their analysis succeeded."""
    by_task = {m.task: m for m in missions}
    deadline = time.monotonic() + settings.mission_timeout_s
    while not all(m.done for m in missions):
        supervisor.check_all()
        if time.monotonic() > deadline:
            for mission in missions:
                if not mission.done:
                    mission.state, mission.finished_at = "TIMEOUT", time.monotonic()
            console.stage("missions did not finish in time")
            return
        for mission in missions:
            if mission.task_id is None:
                _maybe_push(settings, console, engine, client, mission, by_task)
            elif refresh(mission, engine, client):
                console.progress(mission)
        time.sleep(settings.poll_interval_s)


def _maybe_push(
    settings: DemoSettings,
    console: Console,
    engine: sa.Engine,
    client: redis.Redis,
    mission: Mission,
    by_task: dict[str, Mission],
) -> None:
    before = by_task.get(mission.after) if mission.after else None
    if before is not None and not before.done:
        return
    if before is not None and before.state != "SUCCESS":
        mission.state, mission.stage = "SKIPPED", f"{before.task} did not succeed"
        mission.pushed_at = mission.finished_at = time.monotonic()
        console.progress(mission)
        return
    if before is not None and mission.derive is not None:
        mission.kwargs = {**mission.derive(before), **mission.kwargs}
    _push(settings, engine, client, mission)
    console.progress(mission)


def _check_mail(settings: DemoSettings, stack: Stack, client: redis.Redis) -> MailCheck:
    raw = client.get(settings.mail_to)
    code = raw.decode() if isinstance(raw, bytes) else None
    if stack.maildir is None:
        return MailCheck(code, None, None)
    mails = [m for m in read_mails(stack.maildir) if settings.mail_to in str(m["To"])]
    latest = mails[-1] if mails else None
    found = bool(code) and latest is not None and str(code) in plain_text(latest)
    subject = str(latest["Subject"]) if latest is not None else ""
    return MailCheck(code, len(mails), found, subject)


def _problems(mission: Mission, mail: MailCheck) -> list[str]:
    if mission.state != "SUCCESS":
        return []
    if mission.task == "Mail_sent":
        return [] if mail.ok else ["the code in Redis and the mail received do not match"]
    result = mission.result or {}
    return [
        f"the result has an empty {key!r}"
        for key in ("content", "summarize")
        if not str(result.get(key, "")).strip()
    ]
