"""README.md and .env.example document every setting that a settings class reads."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from pydantic_settings import BaseSettings

from tests.support.services import REPO
from tests.support.settings_env import accepted_env_names

SETTINGS = [
    "worker.settings:WorkerSettings",
    "inference.asr_server.settings:AsrSettings",
    "inference.ocr_server.settings:OcrSettings",
    "inference.llm_server.settings:LlmSettings",
    "triton_models.runtime.common:RuntimeSettings",
    "demo.settings:DemoSettings",
]


def settings_class(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    found = getattr(importlib.import_module(module), name)
    assert issubclass(found, BaseSettings)
    return found  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", SETTINGS)
def test_every_variable_is_in_the_readme_and_env_example(path: str) -> None:
    readme = (REPO / "README.md").read_text()
    example = (REPO / ".env.example").read_text()
    names = accepted_env_names(settings_class(path))
    assert names
    # A nested group (ASR_BATCH) is documented through its fields (ASR_BATCH__MAX_WAIT_MS).
    names = {n for n in names if not any(other.startswith(f"{n}__") for other in names)}
    missing_readme = sorted(n for n in names if f"`{n}`" not in readme)
    missing_example = sorted(n for n in names if n not in example)
    assert not missing_readme, f"undocumented in README.md: {missing_readme}"
    assert not missing_example, f"missing from .env.example: {missing_example}"


def test_readme_and_env_example_are_rendered_from_docs_env() -> None:
    """scripts/render_env_docs.py must have been run after the last docs/env change."""
    before = ((REPO / "README.md").read_text(), (REPO / ".env.example").read_text())
    subprocess.run([sys.executable, "scripts/render_env_docs.py"], cwd=REPO, check=True)
    after = ((REPO / "README.md").read_text(), (REPO / ".env.example").read_text())
    assert before == after, "run `python scripts/render_env_docs.py` and commit the result"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme
    assert "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
