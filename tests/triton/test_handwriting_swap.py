"""The handwriting loop's last steps on the real tritonserver: the fine-tuned CRNN (toy
size, tests/support/handwriting.py) becomes version N+1 of a live recognizer, with a
smoke.json of validation lines expected within a CER bound, and takes over through the
checked swap under load: no failed request, no answer from an unchecked version. A bad
version is refused, and rolling back is the same command."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inference.device import Placement
from inference.ocr_server.recognizers.crnn import CrnnRecognizer
from inference.ocr_server.training import publish
from inference.ocr_server.training.data import load_rgb
from inference.ocr_server.training.labels import read_labels
from tests.support.handwriting import ToyRun
from tests.triton import media
from tests.triton.conftest import link
from tests.triton.server import TritonServer
from tests.triton.test_models import infer, text_of
from tests.triton.test_onnx_models import unload
from tests.triton.test_swap import start_load, stop_load
from triton_models import swap
from triton_models.repository import write_model

MODEL = "crnn_handwriting"
CPU = Placement(device="cpu", half=False)


@pytest.mark.timeout(900)
def test_trained_weights_become_version_two_through_the_checked_swap(
    triton: TritonServer, handwriting_run: ToyRun, tmp_path: Path
) -> None:
    write_model(
        triton.repository, "crnn", name=MODEL, kind="KIND_CPU",
        parameters={"weights": f"{MODEL}/{{version}}"},
    )  # fmt: skip
    link(triton.weights, MODEL, 1, media.easyocr_models())
    triton.load(MODEL)
    samples, _ = read_labels(handwriting_run.val)
    line = load_rgb(next(s for s in samples if s.group == "breip"))

    # A bound the weights do not meet on their own smoke lines: refused before any write.
    with pytest.raises(publish.PublishError, match="reads the smoke lines at CER"):
        publish.publish_to_triton(
            handwriting_run.weights, handwriting_run.val, triton.repository,
            model=MODEL, max_cer=0.0, weights_root=triton.weights,
        )  # fmt: skip
    assert sorted(p.name for p in (triton.repository / MODEL).iterdir() if p.is_dir()) == ["1"]

    load = start_load(triton, line, MODEL)
    try:
        version = publish.publish_to_triton(
            handwriting_run.weights, handwriting_run.val, triton.repository,
            model=MODEL, max_cer=0.5, weights_root=triton.weights, swap_url=triton.url,
        )  # fmt: skip
    finally:
        stop_load(load)
    assert version == 2
    assert not load.errors, load.errors[:3]
    versions = [v for c in load.clients for v, _ in c.answers]
    assert versions[0] == "1"
    assert versions[-1] == "2"
    smoke = (triton.repository / MODEL / "2" / "smoke.json").read_text()
    assert '"near"' in smoke
    assert '"max_cer": 0.5' in smoke
    # The live name now answers with the trained weights: what torch reads with them.
    trained = CrnnRecognizer(handwriting_run.weights, CPU).recognize([line])[0].text
    assert text_of(infer(triton, MODEL, IMAGE=line[np.newaxis])["TEXT"]) == trained
    with triton.client() as admin:
        assert swap.served_versions(admin, MODEL) == [2]

        # Version 3 ships the right check but wrong weights: staged, refused, v2 serves on.
        third = publish.publish_to_triton(
            handwriting_run.weights, handwriting_run.val, triton.repository,
            model=MODEL, max_cer=0.5, weights_root=triton.weights,
        )  # fmt: skip
        wrong = media.random_crnn(tmp_path / "wrong", seed=3) / "english_g2.pth"
        shutil.copyfile(wrong, triton.weights / MODEL / str(third) / "english_g2.pth")
        with pytest.raises(swap.SwapError, match="answered wrongly"):
            swap.swap(admin, triton.repository, MODEL, third)
        assert swap.served_versions(admin, MODEL) == [2]
        # The swap leaves a folder it did not place for inspection; it is never served.
        assert "versions: [ 2 ]" in (triton.repository / MODEL / "config.pbtxt").read_text()
        shutil.rmtree(triton.repository / MODEL / str(third))

        # Roll back: version 1 ships a check of printed lines (which it reads), same swap.
        printed = [s for s in samples if s.group == "dejavu"][:4]
        publish.write_smoke(triton.repository / MODEL / "1", printed, 0.1)
        assert swap.swap(admin, triton.repository, MODEL, 1) == [2]
        assert swap.served_versions(admin, MODEL) == [1]
    shipped = (
        CrnnRecognizer(media.easyocr_models() / "english_g2.pth", CPU).recognize([line])[0].text
    )
    assert text_of(infer(triton, MODEL, IMAGE=line[np.newaxis])["TEXT"]) == shipped
    unload(triton, MODEL)  # and wait: later tests expect a server with nothing in transit


def test_publishing_to_an_onnxruntime_model_is_refused(
    tmp_path: Path, handwriting_run: ToyRun
) -> None:
    folder = tmp_path / "repo" / "crnn_onnx"
    folder.mkdir(parents=True)
    (folder / "config.pbtxt").write_text('name: "crnn_onnx"\nplatform: "onnxruntime_onnx"\n')
    with pytest.raises(publish.PublishError, match="onnxruntime model"):
        publish.publish_to_triton(
            handwriting_run.weights, handwriting_run.val, tmp_path / "repo", model="crnn_onnx"
        )
    with pytest.raises(publish.PublishError, match="not a repository model"):
        publish.publish_to_triton(
            handwriting_run.weights, handwriting_run.val, tmp_path / "repo", model="absent"
        )
