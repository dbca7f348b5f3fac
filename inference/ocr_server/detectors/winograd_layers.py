"""The layers of Winograd CRAFT around NNPACK's 3x3 convolutions (float32, NCHW, CPU).

Each equals the torch layer it replaces to float32 rounding and is faster on 2 cores of
an AVX2 EPYC at CRAFT's 1280x960 canvas (scratch timings, best of three):

* :class:`Conv1x1`: one ``addmm`` per image, bias included (0.11 s against 0.27 s for
  oneDNN's NCHW 1x1 convolution, which reorders the whole tensor first);
* :class:`MaxPool2x2`: the maximum of row pairs, then of column pairs (0.11 s against
  0.33 s for ``F.max_pool2d`` on 64 channels at full size);
* :class:`DilatedConv3x3`: the dilated ``fc6`` as one Winograd pass over a mosaic of its
  sub-grids (0.11 s against 0.37 s for torch's dilated convolution);
* :class:`SkipJoin`: the U-net's concatenation and 1x1 convolution without the
  concatenation, the upsampled part's product taken before upsampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inference.ocr_server.detectors.nnpack import WinogradConv3x3


class Conv1x1(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, *, relu: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.reshape(weight.shape[0], -1).contiguous(), False)
        self.bias = nn.Parameter(bias.reshape(-1, 1).contiguous(), False)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = _pointwise(self.bias, self.weight, x)
        if self.relu:
            out.clamp_(min=0.0)
        return out


def _pointwise(base: torch.Tensor, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``base + weight @ x`` per pixel of ``x`` (N, C, H, W): ``base`` is a column of
    biases, or an (N, O, H, W) map to add to."""
    batch, channels, height, width = x.shape
    out = torch.empty(batch, weight.shape[0], height * width)
    flat = x.reshape(batch, channels, height * width)
    for index in range(batch):
        start = base if base.dim() == 2 else base[index].reshape(weight.shape[0], -1)
        torch.addmm(start, weight, flat[index], out=out[index])
    return out.reshape(batch, -1, height, width)


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2, 2)`` (floor mode) as the maximum of strided views."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2] // 2 * 2, x.shape[3] // 2 * 2
        x = x[:, :, :height, :width]
        rows = torch.maximum(x[:, :, 0::2], x[:, :, 1::2])
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])


class DilatedConv3x3(nn.Module):
    """A 3x3 convolution with dilation ``d`` and padding ``d`` (stride 1).

    Its output at (p + dY, q + dX) reads only the input's sub-grid (p::d, q::d), as a
    plain 3x3 convolution of that sub-grid would. The d*d sub-grids are laid out as a
    mosaic with a zero row and column after each, which stand in for the padding, and
    convolved in one Winograd pass: a 60x80 map becomes a 66x90 mosaic of 10x14 tiles.
    """

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor, *, dilation: int, relu: bool
    ) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = WinogradConv3x3(weight, bias, relu=relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation
        batch, channels, height, width = x.shape
        rows, cols = -(-height // d), -(-width // d)  # each sub-grid's size
        grids = F.pad(x, (0, cols * d - width, 0, rows * d - height))
        grids = grids.reshape(batch, channels, rows, d, cols, d).permute(0, 1, 3, 2, 5, 4)
        mosaic = F.pad(grids, (0, 1, 0, 0, 0, 1)).reshape(batch, channels, d * (rows + 1), -1)
        out: torch.Tensor = self.conv(mosaic)
        out = out.reshape(batch, -1, d, rows + 1, d, cols + 1)
        out = out[:, :, :, :rows, :, :cols].permute(0, 1, 3, 2, 5, 4)
        return out.reshape(batch, -1, rows * d, cols * d)[:, :, :height, :width].contiguous()


class SkipJoin(nn.Module):
    """A U-net step: ``y`` upsampled (bilinear) to the skip's size, concatenated with it,
    then a 1x1 convolution and ReLU and a 3x3 convolution and ReLU.

    The 1x1 convolution is linear per pixel and bilinear upsampling is linear per channel
    with weights that sum to one, so the two commute, bias included: ``y``'s share of the
    product is taken at ``y``'s size (a quarter of the pixels) and upsampled, and the
    skip's share is added to it; nothing is concatenated.
    """

    def __init__(self, join: Conv1x1, conv: WinogradConv3x3, y_channels: int) -> None:
        super().__init__()
        self.from_y = nn.Parameter(join.weight[:, :y_channels].contiguous(), False)
        self.from_skip = nn.Parameter(join.weight[:, y_channels:].contiguous(), False)
        self.bias = join.bias
        self.conv = conv

    def forward(self, y: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        low = _pointwise(self.bias, self.from_y, y)
        if low.shape[2:] != skip.shape[2:]:
            low = F.interpolate(low, size=skip.shape[2:], mode="bilinear", align_corners=False)
        joined = _pointwise(low, self.from_skip, skip).clamp_(min=0.0)
        out: torch.Tensor = self.conv(joined)
        return out
