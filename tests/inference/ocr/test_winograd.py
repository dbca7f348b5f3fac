"""Winograd CRAFT (precision ``winograd``): NNPACK's 3x3 convolutions against torch's.

The layers are held to torch float32 on shapes that do not fill a Winograd tile, with and
without the fused ReLU, in batches; the whole network's score maps to torch float32's on
two rendered pages of different sizes in one batch, and its word boxes to torch's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inference.device import Placement
from inference.ocr_server.detectors import nnpack
from inference.ocr_server.detectors.craft import CraftDetector, torch_precision
from inference.ocr_server.detectors.craft_winograd import Conv1x1, MaxPool2x2, _is_plain_2x2
from inference.ocr_server.detectors.nnpack import WinogradConv3x3
from inference.ocr_server.detectors.postprocess import prepare_batch
from inference.ocr_server.settings import packaged_weights
from tests.inference.ocr.pages import render_page, rotated
from tests.support.cpu import needs_nnpack

pytestmark = needs_nnpack
CPU = Placement("cpu", False)


@pytest.mark.parametrize(
    ("batch", "cin", "cout", "height", "width", "relu"),
    [(1, 3, 8, 33, 47, False), (2, 16, 24, 20, 30, True), (1, 64, 32, 7, 5, True)],
)
def test_a_winograd_convolution_equals_torch(
    batch: int, cin: int, cout: int, height: int, width: int, relu: bool
) -> None:
    generator = torch.Generator().manual_seed(cin)
    x = torch.randn(batch, cin, height, width, generator=generator)
    weight = torch.randn(cout, cin, 3, 3, generator=generator) * 0.1
    bias = torch.randn(cout, generator=generator)
    expected = F.conv2d(x, weight, bias, padding=1)
    if relu:
        expected = expected.clamp(min=0.0)
    with torch.inference_mode():
        out = WinogradConv3x3(weight, bias, relu=relu)(x)
    assert out.shape == expected.shape
    assert (out - expected).abs().max() <= 1e-4 * expected.abs().max()
    if relu:
        assert out.min() >= 0.0


@pytest.mark.parametrize("height", [25, 30, 31])
def test_a_wide_layer_goes_in_strips_that_read_as_one_pass(
    monkeypatch: pytest.MonkeyPatch, height: int
) -> None:
    # A scratch of 40 KiB holds 6 rows of 16 -> 8 channels at width 24: strips of 6 rows
    # (the last one shorter), each with its neighbour rows, only the page edges padded.
    monkeypatch.setattr(nnpack, "SCRATCH_BYTES", 40 * 1024)
    x = torch.randn(2, 16, height, 24)
    weight, bias = torch.randn(8, 16, 3, 3) * 0.1, torch.randn(8)
    conv = WinogradConv3x3(weight, bias, relu=True)
    assert conv._strip_rows(24) < height
    with torch.inference_mode():
        out = conv(x)
    expected = F.conv2d(x, weight, bias, padding=1).clamp(min=0.0)
    assert (out - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_bad_layers_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="3x3"):
        WinogradConv3x3(torch.zeros(4, 4, 5, 5), torch.zeros(4), relu=False)
    conv = WinogradConv3x3(torch.zeros(4, 2, 3, 3), torch.zeros(4), relu=False)
    with pytest.raises(ValueError, match="2 channels"):
        conv(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="float32"):
        conv(torch.zeros(1, 2, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match="CPU"):
        torch_precision("winograd", Placement("cuda", True))


def test_without_nnpack_nothing_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nnpack, "_library", lambda: None)
    assert not nnpack.available()
    with pytest.raises(RuntimeError, match="NNPACK is not available"):
        WinogradConv3x3(torch.zeros(4, 2, 3, 3), torch.zeros(4), relu=False)


@pytest.mark.parametrize(("height", "width"), [(8, 12), (9, 13)])
def test_the_pool_and_the_pointwise_layers_equal_torch(height: int, width: int) -> None:
    x = torch.randn(2, 6, height, width)
    assert torch.equal(MaxPool2x2()(x), F.max_pool2d(x, 2))
    # Only pools it equals are replaced: not CRAFT's 3x3 stride-1 pool, not ceil mode.
    assert _is_plain_2x2(torch.nn.MaxPool2d(2, 2))
    assert not _is_plain_2x2(torch.nn.MaxPool2d(3, 1, 1))
    assert not _is_plain_2x2(torch.nn.MaxPool2d(2, 2, ceil_mode=True))
    weight, bias = torch.randn(5, 6, 1, 1), torch.randn(5)
    out = Conv1x1(weight, bias, relu=True)(x)
    assert torch.allclose(out, F.conv2d(x, weight, bias).clamp(min=0.0), atol=1e-5)


def test_winograd_craft_reads_as_torch_float32() -> None:
    torch.manual_seed(0)
    weights = packaged_weights("craft_mlt_25k.pth")
    reference = CraftDetector(weights, CPU, precision="fp32", canvas_size=960)
    winograd = CraftDetector(weights, CPU, precision="winograd", canvas_size=960)
    assert winograd.describe()["engine"] == "torch-winograd"
    page = render_page(width=900).image
    pages = [np.asarray(page), np.asarray(rotated(page, 3).convert("RGB"))[:400, :700]]
    batch, _ = prepare_batch(pages, 960, 1.0)
    maps = winograd.forward(batch)
    expected = reference.forward(batch)
    assert float(expected.max()) > 0.9  # text was found: the comparison means something
    assert float(np.abs(maps - expected).max()) < 1e-4
    for ours, theirs in zip(winograd.detect(pages), reference.detect(pages), strict=True):
        assert len(ours) == len(theirs) > 10
        assert max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True)) < 0.5
