"""The lock (requirements/*.txt, `make lock`): current with pyproject.toml, one version of
each package across the venv's and the images' locks, every pin hashed, and the venv that
runs these tests installed from it exactly."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.services import REPO

LOCKS = REPO / "requirements"
PROJECT = "study-savvy-asyncwork"
# Each image's lock and the extras it holds (scripts/lock.sh).
ROLES = {
    "worker": ["worker"],
    "flower": ["flower"],
    "asr": ["asr", "triton"],
    "ocr": ["ocr", "triton"],
    "triton": ["asr", "ocr", "triton"],
}
# Left out of every lock on purpose (scripts/lock.sh says why).
NOT_EMITTED = {"llama-cpp-python", "llm", "triton"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a uv-compiled, hashed requirements file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            pins[current] = (match[2], [])
        elif current and (found := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[current][1].append(found[1])
        elif not line.startswith(" "):
            current = ""
    return pins


def pyproject_pins(extras: list[str]) -> dict[str, str]:
    """name -> version of every ``==`` pin the extras need (self-references followed)."""
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    pins: dict[str, str] = {}
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in optional[extra]:
            req = Requirement(spec)
            if canonicalize_name(req.name) == PROJECT:
                todo += list(req.extras)
                continue
            (specifier,) = req.specifier  # the project pins each dependency exactly
            assert specifier.operator == "==", spec
            pins[canonicalize_name(req.name)] = specifier.version
    return pins


def same_release(locked: str, pinned: str) -> bool:
    """2.13.0+cpu satisfies ==2.13.0 (the local label names the CPU build)."""
    return Version(locked).public == Version(pinned).public


def test_every_pin_of_pyproject_is_in_the_dev_lock() -> None:
    lock = read_lock(LOCKS / "dev.txt")
    stale = {
        name: (version, lock.get(name, ("missing",))[0])
        for name, version in pyproject_pins(["dev"]).items()
        if name not in lock or not same_release(lock[name][0], version)
    }
    assert not stale, f"requirements/ is stale against pyproject.toml, run `make lock`: {stale}"
    assert lock["torch"][0] == "2.13.0+cpu"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_image_lock_is_current_and_a_subset_of_the_dev_lock(role: str) -> None:
    dev = read_lock(LOCKS / "dev.txt")
    lock = read_lock(LOCKS / f"{role}.txt")
    pins = pyproject_pins(ROLES[role])
    pins.pop("torch", None)  # an image takes torch from the CPU or CUDA index it names
    missing = {name for name in pins if name not in lock}
    assert not missing, f"run `make lock`: {role}.txt lacks {missing}"
    for name, (version, hashes) in lock.items():
        assert name in dev, f"{role}.txt has {name}, which the dev lock does not"
        assert version == dev[name][0], (role, name, version, dev[name][0])
        assert set(hashes) <= set(dev[name][1]), (role, name)
    assert "torch" not in lock
    if role in ("worker", "flower"):  # the worker image never pulls torch or numpy
        assert not {"torch", "numpy", "transformers", "onnxruntime"} & set(lock)


@pytest.mark.parametrize("name", ["dev", *sorted(ROLES), "checkov", "piper", "compose", "easyhtr"])
def test_every_locked_package_is_hashed_and_none_is_left_out_by_mistake(name: str) -> None:
    lock = read_lock(LOCKS / f"{name}.txt")
    assert len(lock) >= (1 if name == "compose" else 5)  # compose: one static binary
    unhashed = [package for package, (_, hashes) in lock.items() if not hashes]
    assert not unhashed
    assert not NOT_EMITTED & set(lock)


def test_the_venv_running_the_tests_is_the_dev_lock_exactly() -> None:
    """`make install` syncs the venv to the lock: nothing more, nothing less, same versions."""
    lock = {name: version for name, (version, _) in read_lock(LOCKS / "dev.txt").items()}
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
    }
    installed.pop(PROJECT)
    assert installed == lock
