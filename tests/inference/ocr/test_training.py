"""The recognizer's training command at toy size: data, training, resume, export, service.

The loop's Triton half (version N+1 and the checked swap) is tests/triton/test_handwriting_swap.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inference.ocr_server.recognizers.crnn_net import ENGLISH_G2_CHARACTERS, load_crnn
from inference.ocr_server.settings import packaged_weights
from inference.ocr_server.training import corpus, fonts
from inference.ocr_server.training.evaluate import cer, cer_by_group, edit_distance
from inference.ocr_server.training.labels import read_labels
from inference.ocr_server.training.synth import MIXED, render_line, synthesize
from tests.support.handwriting import EPOCHS, ToyRun, cli

CHARSET = set(ENGLISH_G2_CHARACTERS)


def test_labels_report_each_bad_row_with_its_line_number_and_keep_the_rest(tmp_path: Path) -> None:
    Image.new("RGB", (80, 20), "white").save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "labels.tsv").write_text(
        "good.png\tA fine line.\n"
        "missing.png\tno image here\n"
        "broken.png\tunreadable\n"
        "good.png\t\n"
        "good.png\tcaf\u00e9 \u4e2d\n"
        "no tab on this row\n"
        "\n"
        "good.png\tSecond good one\n",
        encoding="utf-8",
    )
    samples, problems = read_labels(tmp_path)
    assert [s.text for s in samples] == ["A fine line.", "Second good one"]
    assert samples[0].group == tmp_path.name
    reasons = {p.line: p.reason for p in problems}
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "no such image" in reasons[2]
    assert "unreadable image" in reasons[3]
    assert "empty text" in reasons[4]
    assert "outside the charset" in reasons[5]
    assert "\u00e9" in reasons[5]
    assert "no tab" in reasons[6]


def test_corpus_lines_stay_in_the_charset_with_capitals_and_punctuation() -> None:
    assert corpus.normalise("\u201cIt\u2019s fine\u201d \u2014 ok\u2026") == '"It\'s fine" - ok...'
    texts = list(corpus.lines(random.Random(1), 400))
    assert len(texts) == 400
    assert all(set(t) <= CHARSET and 3 <= len(t) <= 64 for t in texts)
    joined = "".join(texts)
    assert sum(ch.isupper() for ch in joined) > 200
    assert {".", ",", "'", "?"} <= set(joined)
    assert len(set(texts)) > 350  # varied, not a loop over a few sentences


def test_families_split_train_and_validation_by_hand() -> None:
    validation = set(fonts.VALIDATION)
    assert validation <= {f.name for f in fonts.HANDWRITING}
    files = {name: set(fonts.family(name).files) for name in fonts.FAMILIES}
    held_out = set().union(*(files[name] for name in validation))
    trained = set().union(*(files[n] for n in fonts.FAMILIES if n not in validation))
    assert not held_out & trained
    assert not fonts.missing_packages(), "make install installs every font package"
    with pytest.raises(ValueError, match="unknown font family"):
        fonts.family("papyrus")


def test_a_rendered_line_is_cropped_like_the_services_crops() -> None:
    font = str(fonts.family("breip").paths()[0])
    image = np.asarray(
        render_line("The quick brown fox, 1984!", font, random.Random(5)).convert("L")
    )
    height, width = image.shape
    assert 20 <= height <= 140
    assert width > 3 * height
    dark = image < 128
    assert dark.any()
    columns = np.flatnonzero(dark.any(axis=0))
    assert columns[0] < 0.5 * height, "a short margin on the left"
    again = np.asarray(
        render_line("The quick brown fox, 1984!", font, random.Random(5)).convert("L")
    )
    assert np.array_equal(image, again), "the same seed draws the same line"


def test_synthesis_writes_labelled_lines_per_family_and_refuses_a_missing_font(
    tmp_path: Path,
) -> None:
    families = fonts.installed(["kristi", "dejavu"])
    labels = synthesize(tmp_path / "set", families, 6, seed=1, workers=1)
    samples, problems = read_labels(labels)
    assert not problems
    assert sorted({s.group for s in samples}) == ["dejavu", "kristi"]
    assert len(samples) == 12
    absent = fonts.Family("absent", ("truetype/none/Absent.ttf",))
    with pytest.raises(FileNotFoundError, match="absent"):
        synthesize(tmp_path / "bad", [absent], 2, seed=1, workers=1)


def test_mixed_hands_take_letters_from_lower_case_training_fonts_only(tmp_path: Path) -> None:
    assert fonts.family("kristi").mixable
    assert not fonts.family("because-we-build").mixable, "small capitals: size is not case"
    assert not fonts.family("dejavu").mixable, "printed"
    families = fonts.installed(["kristi", "comic-neue", "humor-sans", "dejavu"])
    labels = synthesize(tmp_path / "set", families, 2, seed=1, mixed_lines=5, workers=1)
    samples, problems = read_labels(labels)
    assert not problems
    assert sum(s.group == MIXED for s in samples) == 5
    assert len(samples) == 4 * 2 + 5
    with pytest.raises(ValueError, match="must not be negative"):
        synthesize(tmp_path / "neg", families, 1, seed=1, mixed_lines=-1, workers=1)
    with pytest.raises(ValueError, match="at least two handwriting fonts"):
        synthesize(tmp_path / "one", fonts.installed(["kristi", "humor-sans"]), 1, seed=1,
                   mixed_lines=3, workers=1)  # fmt: skip


def test_a_mixed_hand_is_drawn_at_its_first_fonts_x_height_and_reproducibly() -> None:
    kristi, stevehand = (str(fonts.family(name).paths()[0]) for name in ("kristi", "stevehand"))
    text = "minimum axes over nine rows"  # x-height letters only: the crop is the x-height
    heights = {}
    for hand in ([kristi], [kristi, stevehand]):
        lines = [render_line(text, hand, random.Random(seed)) for seed in range(6)]
        heights[len(hand)] = np.median([line.height for line in lines])
        again = render_line(text, hand, random.Random(0))
        assert np.array_equal(np.asarray(lines[0]), np.asarray(again))
    # SteveHand's x-height is 1.6x Kristi's at one size: unscaled, the mixed crops are
    # 1.5x as tall as Kristi's alone; at one x-height, as tall.
    assert heights[2] / heights[1] < 1.2, heights


def test_the_first_convolutions_stay_as_shipped() -> None:
    from inference.ocr_server.recognizers.crnn_net import Crnn
    from inference.ocr_server.training.train import freeze

    model = Crnn()
    freeze(model, 2)
    convs = [m for m in model.FeatureExtraction.ConvNet if isinstance(m, torch.nn.Conv2d)]
    assert [c.weight.requires_grad for c in convs] == [False, False] + [True] * (len(convs) - 2)
    assert all(p.requires_grad for p in model.SequenceModeling.parameters())
    with pytest.raises(ValueError, match="frozen_convs"):
        freeze(model, len(convs) + 1)


def test_cer_counts_edits_over_reference_characters() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert cer([("abcd", "abcd"), ("abcd", "abed")]) == pytest.approx(1 / 8)
    assert cer([("a  b", "a b")]) == 0.0
    assert cer_by_group([("x", "ab", "ab"), ("y", "ab", "")])["all"] == pytest.approx(0.5)


@pytest.mark.timeout(1200)
def test_training_resumes_after_a_kill_and_improves_the_held_out_hands(
    handwriting_run: ToyRun,
) -> None:
    run = handwriting_run
    assert run.killed_after_epoch == 1
    assert "resumed" in run.resumed_log
    report = json.loads((run.out / "report.json").read_text())
    assert [e["epoch"] for e in report["epochs"]] == list(range(1, EPOCHS + 1))
    assert report["val_groups"] == sorted([*fonts.VALIDATION, "dejavu"])
    assert MIXED in report["train_groups"]
    assert not set(report["val_groups"]) & set(report["train_groups"]) - {"dejavu"}
    handwriting = [g for g in fonts.VALIDATION]
    before = np.mean([report["before"][g] for g in handwriting])
    after = np.mean([report["after"][g] for g in handwriting])
    assert after < before, (report["before"], report["after"])
    assert report["after"]["dejavu"] <= report["before"]["dejavu"] + 0.02
    assert all(e["lines_per_s"] > 0 for e in report["epochs"])
    assert (run.out / "curves.png").stat().st_size > 10_000
    assert run.weights.is_file()
    trained = load_crnn(run.weights).state_dict()
    shipped = load_crnn(packaged_weights("english_g2.pth")).state_dict()
    frozen = "FeatureExtraction.ConvNet.0.weight"  # the first convolution: as shipped
    assert torch.equal(trained[frozen], shipped[frozen])
    later = "FeatureExtraction.ConvNet.6.weight"  # the third: trained
    assert not torch.equal(trained[later], shipped[later])


def test_training_refuses_a_labels_file_without_usable_lines(
    tmp_path: Path, handwriting_run: ToyRun
) -> None:
    (tmp_path / "labels.tsv").write_text("missing.png\tnothing\n", encoding="utf-8")
    done = cli(
        "train",
        "--train",
        str(tmp_path),
        "--val",
        str(handwriting_run.val),
        "--out",
        str(tmp_path / "run"),
    )
    assert done.returncode != 0
    assert "no such image" in done.stderr
    assert "at least one training" in done.stderr


def test_exported_graphs_read_as_torch_does_and_a_bad_state_dict_is_refused(
    tmp_path: Path, handwriting_run: ToyRun
) -> None:
    done = cli(
        "export", "--weights", str(handwriting_run.weights), "--val", str(handwriting_run.val),
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "(fp32)" in lines[0]
    assert "(int8)" in lines[1]
    assert len(list((tmp_path / "cache").glob("crnn-*.onnx"))) == 2
    (tmp_path / "bad.pth").write_bytes(b"not a state dict")
    bad = cli("export", "--weights", str(tmp_path / "bad.pth"), "--val", str(handwriting_run.val))
    assert bad.returncode != 0


@pytest.mark.timeout(600)
def test_the_service_answers_with_trained_weights_set_by_one_setting(
    tmp_path: Path, handwriting_run: ToyRun
) -> None:
    import httpx

    from inference.ocr_server.ort.cache import weights_digest
    from tests.inference.ocr.pages import ESSAY, png_bytes, render_page
    from tests.inference.ocr.server import ocr_server

    env = {
        "OCR_RECOGNIZER__CRNN_WEIGHTS": str(handwriting_run.weights),
        "OCR_ONNX__CACHE_DIR": str(tmp_path / "cache"),
        "OCR_TUNING_DIR": str(tmp_path / "tuning"),
    }
    font = str(fonts.family("breip").paths()[0])
    page = render_page(ESSAY, font_size=30, font_path=font, max_lines=4)
    with ocr_server(env, tmp_path / "server.log") as base:
        card = httpx.get(f"{base}/v1/models").json()["data"][1]["details"]
        assert card["weights"] == str(handwriting_run.weights)
        assert card["weights_sha256"] == weights_digest(handwriting_run.weights)
        assert card["onnx"].startswith(f"crnn-{card['weights_sha256']}")
        response = httpx.post(
            f"{base}/v1/ocr", files={"file": ("hw.png", png_bytes(page.image))}, timeout=120
        )
    assert response.status_code == 200, response.text
    read = response.json()
    assert len(read["lines"]) == len(page.lines)
    assert cer([(page.text, read["text"])]) < 0.5


def test_synth_refuses_an_unknown_hand_with_a_readable_error(tmp_path: Path) -> None:
    done = cli("synth", "--out", str(tmp_path / "x"), "--validation", "papyrus")
    assert done.returncode == 2
    assert "unknown font family 'papyrus'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()  # refused before any line is drawn


@pytest.mark.parametrize("share", ["1.0", "-0.1"])
def test_synth_refuses_a_mixed_share_outside_0_to_1(tmp_path: Path, share: str) -> None:
    done = cli("synth", "--out", str(tmp_path / "x"), "--mixed-share", share)
    assert done.returncode == 2
    assert "--mixed-share must be at least 0 and below 1" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()
