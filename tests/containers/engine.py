"""The Docker engine and Compose, as the container tests drive them: the private dockerd of
scripts/containers/engine.sh (DOCKER_HOST) and the Compose v2 binary of the lock
(STUDY_SAVVY_COMPOSE), both set by scripts/containers/test.sh."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs docker and docker-compose with fixed arguments
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class EngineMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Engine:
    docker_host: str
    compose_bin: Path

    @classmethod
    def from_env(cls) -> Engine:
        host = os.environ.get("DOCKER_HOST", "")
        compose = os.environ.get("STUDY_SAVVY_COMPOSE", "")
        if not host or not compose:
            raise EngineMissing(
                "no engine: run these tests with `make test-containers` "
                "(it starts dockerd and sets DOCKER_HOST and STUDY_SAVVY_COMPOSE)"
            )
        return cls(host, Path(compose))

    def _env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.docker_host}

    def docker(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return _run(["docker", *args], self._env(), check, timeout)

    def compose(
        self, project: str, files: list[Path], *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.compose_bin), "--project-name", project]
        for path in files:
            command += ["--file", str(path)]
        return _run([*command, *args], {**self._env(), "DOCKER_BUILDKIT": "0"}, check, timeout)

    def inspect(self, name: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.docker("inspect", name).stdout)
        return found[0]

    def image_size_mb(self, image: str) -> float:
        return round(int(self.docker("image", "inspect", "-f", "{{.Size}}", image).stdout) / 1e6, 1)

    def has_image(self, image: str) -> bool:
        return self.docker("image", "inspect", image, check=False).returncode == 0

    def wait_healthy(self, container: str, timeout: float) -> float:
        """Seconds until the container's own healthcheck says healthy; fails if it dies."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            state = self.inspect(container)["State"]
            if not state["Running"] and not state["Restarting"]:
                raise AssertionError(f"{container} exited: {state}\n{self.logs(container)}")
            if state.get("Health", {}).get("Status") == "healthy":
                return time.monotonic() - started
            time.sleep(0.5)
        raise AssertionError(f"{container} not healthy in {timeout:.0f}s\n{self.logs(container)}")

    def logs(self, container: str, tail: int = 60) -> str:
        done = self.docker("logs", "--tail", str(tail), container, check=False)
        return done.stdout + done.stderr


def _run(
    command: list[str], env: dict[str, str], check: bool, timeout: float
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(  # nosec B603 - fixed command lines
        command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command[:4])}... exited {done.returncode}\n{done.stdout[-3000:]}"
            f"\n{done.stderr[-3000:]}"
        )
    return done
