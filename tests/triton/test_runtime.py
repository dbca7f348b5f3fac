"""Pure pieces of the Triton models and tools, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference.errors import InvalidRequest
from triton_models.repository import SOURCE, rewrite_config, set_version_policy
from triton_models.repository import main as repository_main
from triton_models.runtime.common import Failed, answer_all, resolve_weights, run_isolated
from triton_models.swap import SwapError, place


def doubled(items: list[int]) -> list[int]:
    if any(i < 0 for i in items):
        raise InvalidRequest("negative input")
    return [2 * i for i in items]


def test_a_failing_item_gets_the_error_and_its_neighbours_their_answers() -> None:
    assert run_isolated([1, 2, 3], doubled) == [2, 4, 6]
    assert run_isolated([1, -1, 3], doubled) == [2, Failed("negative input"), 6]
    decoded: list[int | Failed] = [1, Failed("bad shape"), 3]
    assert answer_all(decoded, doubled) == [2, Failed("bad shape"), 6]


def test_unexpected_errors_do_not_leak_their_text() -> None:
    def broken(items: list[int]) -> list[int]:
        raise RuntimeError("/secret/path/weights.pth exploded")

    (answer,) = run_isolated([1], broken)
    assert isinstance(answer, Failed)
    assert "secret" not in answer.message


def test_weights_resolve_per_version_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "crnn" / "2").mkdir(parents=True)
    assert resolve_weights("crnn/{version}", "2", tmp_path) == tmp_path / "crnn" / "2"
    with pytest.raises(FileNotFoundError):
        resolve_weights("crnn/{version}", "3", tmp_path)
    with pytest.raises(ValueError, match="WEIGHTS_ROOT"):
        resolve_weights("crnn/{version}", "2", None)


@pytest.mark.parametrize("model", ["whisper", "craft", "crnn", "trocr"])
def test_production_configs_batch_on_gpu_with_an_explicit_policy(model: str) -> None:
    config = (SOURCE / model / "config.pbtxt").read_text()
    assert "kind: KIND_GPU" in config
    assert "dynamic_batching" in config
    assert "max_queue_delay_microseconds" in config
    assert "version_policy: { specific: { versions: [ 1 ] } }" in config
    assert (SOURCE / model / "1" / "model.py").is_file()
    cpu = rewrite_config(config, kind="KIND_CPU", max_batch_size=1, name="x")
    assert "KIND_GPU" not in cpu
    assert "max_batch_size: 1\n" in cpu
    assert "preferred_batch_size" not in cpu
    assert 'name: "x"' in cpu
    assert "versions: [ 2, 3 ]" in set_version_policy(config, [2, 3])


def test_a_weights_only_version_folder_gets_the_model_code(tmp_path: Path) -> None:
    # With TRITON_MODELS_WEIGHTS_ROOT = the repository (compose, k8s), an ML engineer drops
    # only the new weights into crnn/2; the swap adds the model code before loading it.
    v1, v2 = tmp_path / "crnn" / "1", tmp_path / "crnn" / "2"
    v1.mkdir(parents=True)
    (v1 / "model.py").write_text("# model code\n")
    v2.mkdir()
    (v2 / "english_g2.pth").write_bytes(b"weights")
    assert place(tmp_path, "crnn", 2, None) is False  # not created here: never deleted
    assert (v2 / "model.py").read_text() == "# model code\n"
    assert (v2 / "english_g2.pth").read_bytes() == b"weights"


def test_a_version_without_any_model_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "crnn" / "3").mkdir(parents=True)
    with pytest.raises(SwapError, match="has no model file"):
        place(tmp_path, "crnn", 3, None)


def test_the_repository_cli_takes_options_between_its_arguments(tmp_path: Path) -> None:
    # As the docs write it: dest, then --kind, then the models.
    assert repository_main([str(tmp_path), "--kind", "KIND_CPU", "crnn", "craft"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["craft", "crnn"]
    assert "KIND_CPU" in (tmp_path / "crnn" / "config.pbtxt").read_text()
    assert (tmp_path / "crnn" / "1" / "model.py").is_file()
