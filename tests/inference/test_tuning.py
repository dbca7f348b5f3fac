"""Engines chosen by measurement: the fastest candidate wins, the choice is cached per
machine (CPU, cores, instruction-set caps, library versions), an explicit setting skips
the timing, and the choice shows in /metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from inference import tuning


class Work:
    """A candidate's unit of work that takes ``seconds`` and counts its calls."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        time.sleep(self.seconds)


def key(**extra: str) -> dict[str, str]:
    return tuning.machine_key(("numpy",), {"model": "m1", **extra})


def test_the_fastest_candidate_is_chosen_and_its_timings_kept(tmp_path: Path) -> None:
    slow, fast = Work(0.05), Work(0.005)
    choice = tuning.choose(
        "part-a", [tuning.Candidate("slow", slow), tuning.Candidate("fast", fast)], tmp_path, key()
    )
    assert (choice.engine, choice.source) == ("fast", "measured")
    assert choice.seconds["slow"] > choice.seconds["fast"]
    assert slow.calls == fast.calls == 3  # a warm-up and two timed runs each
    (cached,) = tmp_path.glob("part-a-*.json")
    assert json.loads(cached.read_text())["engine"] == "fast"


def test_a_second_start_on_the_same_machine_reads_the_cache(tmp_path: Path) -> None:
    first = [tuning.Candidate("slow", Work(0.03)), tuning.Candidate("fast", Work(0.001))]
    tuning.choose("part-b", first, tmp_path, key())
    again = [tuning.Candidate("slow", Work(0.03)), tuning.Candidate("fast", Work(0.001))]
    choice = tuning.choose("part-b", again, tmp_path, key())
    assert (choice.engine, choice.source) == ("fast", "cached")
    assert all(isinstance(c.run, Work) and c.run.calls == 0 for c in again)  # nothing timed


def test_another_cpu_class_or_library_measures_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidates = [tuning.Candidate("a", Work(0.001)), tuning.Candidate("b", Work(0.02))]
    tuning.choose("part-c", candidates, tmp_path, key())
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # an emulated lower class
    assert key()["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert tuning.choose("part-c", candidates, tmp_path, key()).source == "measured"
    other_model = tuning.choose("part-c", candidates, tmp_path, key(model="m2"))
    assert other_model.source == "measured"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert tuning.choose("part-c", candidates, tmp_path, key()).source == "cached"
    # New engine code (an upgrade, a local change): its speed was never measured here.
    monkeypatch.setattr(tuning, "code_id", lambda: "another-version")
    assert tuning.choose("part-c", candidates, tmp_path, key()).source == "measured"
    assert len(list(tmp_path.glob("part-c-*.json"))) == 4


def test_the_code_id_follows_the_package_sources(tmp_path: Path) -> None:
    assert tuning.machine_key((), {})["code"] == tuning.code_id()
    assert tuning.code_id() == tuning.sources_digest(Path(tuning.__file__).parent)
    (tmp_path / "engines").mkdir()
    source = tmp_path / "engines" / "fast.py"
    source.write_text("SPEED = 1\n")
    (tmp_path / "notes.txt").write_text("not code")
    first = tuning.sources_digest(tmp_path)
    (tmp_path / "notes.txt").write_text("still not code")
    assert tuning.sources_digest(tmp_path) == first
    source.write_text("SPEED = 2\n")
    second = tuning.sources_digest(tmp_path)
    assert second != first
    source.rename(tmp_path / "fast.py")  # the same text elsewhere is other code
    assert tuning.sources_digest(tmp_path) not in {first, second}


def test_a_damaged_cache_is_measured_again(tmp_path: Path) -> None:
    candidates = [tuning.Candidate("a", Work(0.001)), tuning.Candidate("b", Work(0.02))]
    tuning.choose("part-d", candidates, tmp_path, key())
    (cached,) = tmp_path.glob("part-d-*.json")
    cached.write_text("{not json")
    choice = tuning.choose("part-d", candidates, tmp_path, key())
    assert (choice.engine, choice.source) == ("a", "measured")
    assert json.loads(cached.read_text())["engine"] == "a"  # rewritten whole


def test_a_read_only_cache_still_chooses(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    candidates = [tuning.Candidate("a", Work(0.02)), tuning.Candidate("b", Work(0.001))]
    choice = tuning.choose("part-e", candidates, blocked / "tuning", key())
    assert (choice.engine, choice.source) == ("b", "measured")


def test_one_candidate_is_not_timed_and_none_is_an_error(tmp_path: Path) -> None:
    only = Work(0.0)
    choice = tuning.choose("part-f", [tuning.Candidate("x", only)], tmp_path, key())
    assert (choice.engine, choice.source, only.calls) == ("x", "only", 0)
    with pytest.raises(ValueError, match="no candidate"):
        tuning.choose("part-f", [], tmp_path, key())


def test_the_machine_key_names_the_cpu_and_cores() -> None:
    machine = key()
    assert machine["cpu"]
    assert int(machine["cores"]) >= 1
    assert machine["numpy"][0].isdigit()
    assert set(tuning.ISA_CAPS) <= set(machine)


def test_the_choice_shows_in_metrics(tmp_path: Path) -> None:
    tuning.explicit("part-g", "chosen-by-hand")
    value = REGISTRY.get_sample_value(
        "inference_engine_choice",
        {"part": "part-g", "engine": "chosen-by-hand", "source": "explicit"},
    )
    assert value == 1.0
