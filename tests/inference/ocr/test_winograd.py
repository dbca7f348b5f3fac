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
from inference.ocr_server.detectors.craft_winograd import _is_plain_2x2
from inference.ocr_server.detectors.nnpack import WinogradConv3x3
from inference.ocr_server.detectors.postprocess import prepare_batch
from inference.ocr_server.detectors.winograd_layers import (
    Conv1x1,
    DilatedConv3x3,
    MaxPool2x2,
    SkipJoin,
)
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


@pytest.mark.parametrize(
    ("dilation", "height", "width", "relu"),
    [(6, 60, 80, False), (6, 13, 20, True), (2, 7, 9, False)],
)
def test_a_dilated_convolution_equals_torch(
    dilation: int, height: int, width: int, relu: bool
) -> None:
    # fc6's shape (dilation 6 on a 1/16 map), maps that no dilation divides, a ReLU.
    generator = torch.Generator().manual_seed(height)
    x = torch.randn(2, 16, height, width, generator=generator)
    weight = torch.randn(24, 16, 3, 3, generator=generator) * 0.1
    bias = torch.randn(24, generator=generator)
    expected = F.conv2d(x, weight, bias, padding=dilation, dilation=dilation)
    if relu:
        expected = expected.clamp(min=0.0)
    with torch.inference_mode():
        out = DilatedConv3x3(weight, bias, dilation=dilation, relu=relu)(x)
    assert out.shape == expected.shape
    assert (out - expected).abs().max() <= 1e-4 * expected.abs().max()


@pytest.mark.parametrize(
    ("low", "size"), [((5, 7), (10, 14)), ((5, 7), (11, 15)), ((6, 8), (6, 8))]
)
def test_a_skip_join_equals_upsampling_concatenating_and_convolving(
    low: tuple[int, int], size: tuple[int, int]
) -> None:
    generator = torch.Generator().manual_seed(size[0])
    y = torch.randn(2, 6, *low, generator=generator)
    skip = torch.randn(2, 4, *size, generator=generator)
    weight_1x1, bias_1x1 = torch.randn(5, 10, 1, 1, generator=generator), torch.randn(5)
    weight_3x3, bias_3x3 = torch.randn(3, 5, 3, 3, generator=generator) * 0.1, torch.randn(3)
    up = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    joined = F.conv2d(torch.cat([up, skip], dim=1), weight_1x1, bias_1x1).clamp(min=0.0)
    expected = F.conv2d(joined, weight_3x3, bias_3x3, padding=1).clamp(min=0.0)
    join = SkipJoin(
        Conv1x1(weight_1x1, bias_1x1, relu=True),
        WinogradConv3x3(weight_3x3, bias_3x3, relu=True),
        y_channels=6,
    )
    with torch.inference_mode():
        out = join(y, skip)
    assert out.shape == expected.shape
    assert (out - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_winograd_craft_reads_as_torch_float32() -> None:
    torch.manual_seed(0)
    weights = packaged_weights("craft_mlt_25k.pth")
    reference = CraftDetector(weights, CPU, precision="fp32", canvas_size=960)
    winograd = CraftDetector(weights, CPU, precision="winograd", canvas_size=960)
    assert winograd.describe()["engine"] == "torch-winograd"
    layers = {type(layer).__name__ for layer in winograd._model.modules()}
    assert {"DilatedConv3x3", "SkipJoin", "MaxPool2x2"} <= layers
    assert not layers & {"Conv2d", "BatchNorm2d", "DoubleConv"}  # every layer replaced
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
