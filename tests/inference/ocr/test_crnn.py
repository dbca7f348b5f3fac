"""The english_g2 CRNN: exact weights, character order, CTC decoding and batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.device import Placement
from inference.ocr_server.recognizers.crnn import (
    CrnnRecognizer,
    chunk_by_width,
    greedy_ctc,
    to_line_tensor,
)
from inference.ocr_server.recognizers.crnn_net import ENGLISH_G2_CHARACTERS, Crnn
from inference.ocr_server.settings import packaged_weights
from tests.inference.ocr.pages import render_page


@pytest.fixture(scope="module")
def recognizer() -> CrnnRecognizer:
    return CrnnRecognizer(packaged_weights("english_g2.pth"), Placement("cpu", False))


def test_weights_load_strictly_into_96_characters_plus_blank() -> None:
    state = torch.load(packaged_weights("english_g2.pth"), weights_only=True, map_location="cpu")
    model = Crnn()
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    assert len(ENGLISH_G2_CHARACTERS) == len(set(ENGLISH_G2_CHARACTERS)) == 96
    assert model.Prediction.out_features == 97


def one_hot(indices: list[int]) -> np.ndarray:
    probabilities = np.full((len(indices), 97), 0.001, np.float32)
    probabilities[np.arange(len(indices)), indices] = 0.9
    return probabilities


def test_greedy_ctc_merges_repeats_and_drops_blanks() -> None:
    a = ENGLISH_G2_CHARACTERS.index("a") + 1
    b = ENGLISH_G2_CHARACTERS.index("b") + 1
    result = greedy_ctc(one_hot([0, a, a, 0, a, b, b, 0]))
    assert result.text == "aab"
    assert result.confidence == pytest.approx(0.9, abs=1e-5)
    assert greedy_ctc(one_hot([0, 0, 0])).text == ""
    assert greedy_ctc(one_hot([0, 0, 0])).confidence == 0.0


def test_crops_are_padded_with_their_last_column() -> None:
    short = np.zeros((32, 40, 3), np.uint8)
    short[:, -1] = 255
    batch = to_line_tensor([short, np.zeros((32, 160, 3), np.uint8)])
    assert batch.shape == (2, 1, 64, 320)
    assert torch.all(batch[0, 0, :, 80:] == 1.0)  # white, as the crop's last column
    assert batch.min() == -1.0


def test_reads_rendered_lines_of_every_character_class(recognizer: CrnnRecognizer) -> None:
    texts = ["Hello World 2024", "Mix of CAPS, digits 0123456789 & (symbols)!"]
    page = render_page("|".join(texts), indent=0, width=900)
    crops = []
    for line in page.lines:
        x0, y0, x1, y1 = line.box
        crops.append(np.asarray(page.image.crop((x0 - 4, y0 - 4, x1 + 8, y1 + 4))))
    results = recognizer.recognize(crops)
    assert [result.text for result in results] == texts
    assert all(result.confidence > 0.8 for result in results)
    # Batched or one at a time, the same answer (right padding does not leak in).
    assert recognizer.recognize(crops[:1])[0].text == texts[0]


def test_chunks_group_similar_widths_within_the_pixel_budget() -> None:
    widths = [300, 40, 310, 45, 900]
    crops = [np.zeros((32, w, 3), np.uint8) for w in widths]
    chunks = chunk_by_width(crops, max_pixels=64 * 1300)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(5))
    assert chunks == [[1, 3], [0, 2], [4]]  # narrow together, wide together, widest alone
    assert chunk_by_width(crops, max_pixels=64 * 64) == [[1], [3], [0], [2], [4]]


def test_results_keep_the_input_order_across_chunks() -> None:
    recognizer = CrnnRecognizer(
        packaged_weights("english_g2.pth"), Placement("cpu", False), max_batch_pixels=64 * 64
    )
    texts = ["wide line of text here", "short", "medium words"]
    page = render_page("|".join(texts), indent=0, width=900)
    crops = [
        np.asarray(page.image.crop((x0 - 4, y0 - 4, x1 + 8, y1 + 4)))
        for x0, y0, x1, y1 in (line.box for line in page.lines)
    ]
    assert [result.text for result in recognizer.recognize(crops)] == texts
