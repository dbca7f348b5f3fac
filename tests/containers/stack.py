"""The compose CPU stack on the host network, against the services of this machine.

compose/compose.yaml + compose/compose.cpu.yaml, as an admin runs them, plus an override
written here: every container on the host network (all traffic stays on loopback), the
worker pointed at loopback Redis and MariaDB, the test LLM and an SMTP sink, the media
folder and the secrets from a scratch folder, and short timeouts so that a killed
worker's message comes back in seconds. Redis, MySQL and Triton of the compose file are
not started: the machine's own Redis and MariaDB stand in for the first two, and the CPU
services run their models in-process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.containers.engine import REPO, Engine

COMPOSE_FILES = [REPO / "compose" / "compose.yaml", REPO / "compose" / "compose.cpu.yaml"]
PROJECT = "study-savvy-ci"
STARTED = ("asr", "ocr", "worker")
ASR_PORT, OCR_PORT, METRICS_PORT = 8101, 8102, 9100  # the ports of the compose healthchecks
# WorkerSettings wants VISIBILITY > TIME_LIMIT + BACKOFF_MAX.
TASK_TIME_LIMIT_S, RETRY_BACKOFF_MAX_S, VISIBILITY_TIMEOUT_S = 20, 5, 30
# What the run measured, written to bench/results/containers.json at the session's end.
FACTS: dict[str, Any] = {}
SECRETS = (
    "rsa_private_key",
    "smtp_password",
    "redis_password",
    "mysql_password",
    "mysql_root_password",
    "database_url",
    "triton_admin_key",
    "flower_basic_auth",
    "grafana_admin_password",
)


@dataclass(frozen=True)
class Loopback:
    """Where the machine's services and the test's own servers listen."""

    redis_db: int
    database_url: str
    llm_url: str
    smtp_port: int


@dataclass
class RunningStack:
    engine: Engine
    files: list[Path]
    media: Path  # host folder mounted at /media in the worker
    ready_s: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 600) -> str:
        return self.engine.compose(PROJECT, self.files, *args, timeout=timeout).stdout

    def container(self, service: str) -> str:
        """The container's id (one replica per service)."""
        return self.compose("ps", "--all", "--quiet", service).strip().splitlines()[0]

    def inspect(self, service: str) -> dict[str, Any]:
        return self.engine.inspect(self.container(service))


def write_override(folder: Path, loopback: Loopback, secrets: dict[str, str]) -> Path:
    """The test's compose override and its secret files; returns the override's path."""
    secret_dir = folder / "secrets"
    secret_dir.mkdir(parents=True)
    declared: dict[str, Any] = {}
    for name in SECRETS:
        path = secret_dir / name
        path.write_text(secrets.get(name, ""))
        path.chmod(0o644)  # read by uid 10001 in the containers; a scratch key only
        declared[name] = {"file": str(path)}
    media = folder / "media"
    for sub in ("audio", "graph"):
        (media / sub).mkdir(parents=True)
    media.chmod(0o755)
    loopback_only = {"network_mode": "host", "stop_grace_period": "20s"}
    override = {
        "services": {
            "asr": {**loopback_only, "environment": {"ASR_HOST": "127.0.0.1"}},
            "ocr": {**loopback_only, "environment": {"OCR_HOST": "127.0.0.1"}},
            "worker": {
                **loopback_only,
                "environment": {
                    "REDIS_HOST": "127.0.0.1",
                    "REDIS_PORT": "6379",
                    "REDIS_DB": str(loopback.redis_db),
                    "INFERENCE_ASR_URL": f"http://127.0.0.1:{ASR_PORT}",
                    "INFERENCE_OCR_URL": f"http://127.0.0.1:{OCR_PORT}",
                    "OPENAI_BASE_URL": loopback.llm_url,
                    "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(loopback.smtp_port),
                    "SMTP_SECURITY": "none",
                    "SMTP_USER": "",
                    "METRICS_PORT": str(METRICS_PORT),
                    "TASK_TIME_LIMIT_S": str(TASK_TIME_LIMIT_S),
                    "RETRY_BACKOFF_MAX_S": str(RETRY_BACKOFF_MAX_S),
                    "VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
                },
                # Same target as the named volume of compose.yaml, so it replaces it.
                "volumes": [f"{media}:/media:ro"],
            },
        },
        "secrets": declared,
    }
    path = folder / "compose.ci.yaml"
    # JSON is YAML: no tags needed here.
    path.write_text(json.dumps(override, indent=2))
    return path
