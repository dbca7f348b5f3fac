"""CRAFT in plain torch.nn: the official weights load strictly and find the lines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.device import Placement
from inference.ocr_server.detectors.craft import CraftDetector
from inference.ocr_server.detectors.craft_net import Craft, strip_data_parallel
from inference.ocr_server.layout import lay_out_lines
from inference.ocr_server.settings import packaged_weights
from tests.inference.ocr.pages import render_page, rotated
from tests.support.cpu import needs_bf16

BF16 = pytest.param("bf16", marks=needs_bf16)


@pytest.fixture(scope="module", params=["fp32", BF16])
def detector(request: pytest.FixtureRequest) -> CraftDetector:
    """Float32 eager, and bfloat16 frozen channels-last (where the CPU has bfloat16)."""
    return CraftDetector(
        packaged_weights("craft_mlt_25k.pth"),
        Placement("cpu", False),
        precision=request.param,
        canvas_size=960,
    )


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def test_official_weights_match_the_network_exactly() -> None:
    state = torch.load(packaged_weights("craft_mlt_25k.pth"), weights_only=True, map_location="cpu")
    model = Craft()
    result = model.load_state_dict(strip_data_parallel(state), strict=True)
    assert not result.missing_keys
    assert not result.unexpected_keys
    assert sum(p.numel() for p in model.parameters()) == 20_770_466


def test_score_maps_are_half_resolution() -> None:
    with torch.inference_mode():
        scores = Craft().eval()(torch.zeros(1, 3, 64, 96))
    assert scores.shape == (1, 32, 48, 2)


def test_each_rendered_line_is_covered_by_one_detected_line(detector: CraftDetector) -> None:
    page = render_page()
    image = np.asarray(page.image)
    quads = detector.detect([image])[0]
    # Every word box lies on exactly one rendered line, and the words of a line span it.
    members: list[list[np.ndarray]] = [[] for _ in page.lines]
    for quad in quads:
        centre_y = float(quad[:, 1].mean())
        hits = [i for i, line in enumerate(page.lines) if line.box[1] <= centre_y <= line.box[3]]
        assert len(hits) == 1, quad
        members[hits[0]].append(quad)
    for words, line in zip(members, page.lines, strict=True):
        points = np.concatenate(words)
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        assert iou((int(x0), int(y0), int(x1), int(y1)), line.box) > 0.7, line.text
    # The laid-out line boxes (with crop margins) contain the ink of their line, in order.
    found = [line.box for line in lay_out_lines(image, quads)]
    assert len(found) == len(page.lines)
    for box, line in zip(found, page.lines, strict=True):
        assert max(found, key=lambda candidate: iou(candidate, line.box)) == box
        x0, y0, x1, y1 = line.box
        assert box[0] <= x0 + 2
        assert box[1] <= y0
        assert box[2] >= x1 - 2
        assert box[3] >= y1


def test_a_batch_of_pages_gives_the_same_boxes_as_one_by_one(detector: CraftDetector) -> None:
    small = np.asarray(render_page("Two words.|And a second paragraph.", width=300).image)
    large = np.asarray(
        rotated(render_page("Some more words on a turned page.", width=500).image, 2)
    )
    together = detector.detect([small, large])
    alone = [detector.detect([small])[0], detector.detect([large])[0]]
    for batch_boxes, single_boxes in zip(together, alone, strict=True):
        assert len(batch_boxes) == len(single_boxes)
        for a, b in zip(batch_boxes, single_boxes, strict=True):
            assert np.abs(a - b).max() < 4.0  # the padding shifts scores only at the edge


def test_a_blank_page_has_no_words(detector: CraftDetector) -> None:
    assert detector.detect([np.full((160, 240, 3), 255, np.uint8)]) == [[]]


def test_precisions_are_checked() -> None:
    weights = packaged_weights("craft_mlt_25k.pth")
    with pytest.raises(ValueError, match="craft-onnx"):
        CraftDetector(weights, Placement("cpu", False), precision="int8")
    cpu = CraftDetector(weights, Placement("cpu", False), canvas_size=320)
    assert cpu.describe()["engine"] == "torch-fp32"  # auto on a CPU placement
