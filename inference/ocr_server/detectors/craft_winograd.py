"""CRAFT in float32 with Winograd 3x3 convolutions (precision ``winograd``, CPU only).

The network is rebuilt from a loaded :class:`~.craft_net.Craft`
(layers in :mod:`.winograd_layers`):

* each BatchNorm is folded into its convolution;
* the 3x3 convolutions run as :class:`~.nnpack.WinogradConv3x3`, with the ReLU that
  follows fused; the dilated ``fc6`` too, over a mosaic of its sub-grids;
* the 1x1 convolutions are one matrix product per image;
* the 2x2 max-pools take the maximum of strided views;
* each U-net step joins the upsampled features and the skip without concatenating them.

The ReLUs that open a backbone slice stay in place, so the skip features are rectified
exactly as in the official model. The maps equal eager float32's to about 1e-6.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

from inference.ocr_server.detectors.craft_net import Craft, DoubleConv, VggBackbone
from inference.ocr_server.detectors.nnpack import WinogradConv3x3
from inference.ocr_server.detectors.winograd_layers import (
    Conv1x1,
    DilatedConv3x3,
    MaxPool2x2,
    SkipJoin,
)

T = TypeVar("T", bound=nn.Module)


class WinogradCraft(nn.Module):
    """Image (N, 3, H, W), normalised -> score maps (N, H/2, W/2, 2), as :class:`Craft`."""

    def __init__(self, basenet: VggBackbone, joins: list[SkipJoin], head: nn.Module) -> None:
        super().__init__()
        self.basenet = basenet
        self.joins = nn.ModuleList(joins)
        self.conv_cls = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sources = self.basenet(x)
        y = sources[0]
        for skip, join in zip(sources[1:], self.joins, strict=True):
            y = join(y, skip)
        scores: torch.Tensor = self.conv_cls(y)
        return scores.permute(0, 2, 3, 1)


def winograd_craft(model: Craft) -> WinogradCraft:
    """``model``'s weights (float32, CPU) in the layers above; ``model`` is consumed."""
    blocks = [model.upconv1, model.upconv2, model.upconv3, model.upconv4]
    # The channels each step upsamples: fc7's, then the previous step's output.
    fc7 = model.basenet.slice5[2]
    if not isinstance(fc7, nn.Conv2d):
        raise TypeError(f"fc7 is {type(fc7).__name__}, not a convolution")
    y_channels = [fc7.out_channels] + [
        _layer(block, 3, nn.Conv2d).out_channels for block in blocks[:-1]
    ]
    with torch.no_grad():
        _convert(model)
        joins = [
            SkipJoin(_layer(block, 0, Conv1x1), _layer(block, 3, WinogradConv3x3), channels)
            for block, channels in zip(blocks, y_channels, strict=True)
        ]
    return WinogradCraft(model.basenet, joins, model.conv_cls).eval()


def _layer(block: DoubleConv, index: int, kind: type[T]) -> T:
    layer = block.conv[index]
    if not isinstance(layer, kind):
        raise TypeError(f"a U-net step's layer {index} is {type(layer).__name__}, not {kind}")
    return layer


def _folded(conv: nn.Conv2d, norm: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    weight = conv.weight.detach().float()
    bias = torch.zeros(conv.out_channels) if conv.bias is None else conv.bias.detach().float()
    if norm is None:
        return weight, bias
    mean, var = norm.running_mean, norm.running_var
    if mean is None or var is None:
        raise ValueError("a BatchNorm without running statistics cannot be folded")
    scale = norm.weight.detach() / torch.sqrt(var + norm.eps)
    return weight * scale[:, None, None, None], (bias - mean) * scale + norm.bias.detach()


def _replacement(conv: nn.Conv2d, norm: nn.BatchNorm2d | None, relu: bool) -> nn.Module | None:
    if conv.stride != (1, 1) or conv.groups != 1 or conv.dilation[0] != conv.dilation[1]:
        return None
    dilation = conv.dilation[0]
    if conv.kernel_size == (3, 3) and conv.padding == conv.dilation:
        if dilation == 1:
            return WinogradConv3x3(*_folded(conv, norm), relu=relu)
        return DilatedConv3x3(*_folded(conv, norm), dilation=dilation, relu=relu)
    if dilation != 1:
        return None
    if conv.kernel_size == (1, 1) and conv.padding == (0, 0):
        return Conv1x1(*_folded(conv, norm), relu=relu)
    return None


def _is_plain_2x2(pool: nn.MaxPool2d) -> bool:
    """A 2x2 pool with stride 2, no padding or dilation, floor mode."""
    pairs = [v if isinstance(v, tuple) else (v, v) for v in (pool.kernel_size, pool.stride)]
    pairs += [v if isinstance(v, tuple) else (v, v) for v in (pool.padding, pool.dilation)]
    return pairs == [(2, 2), (2, 2), (0, 0), (1, 1)] and not pool.ceil_mode


def _convert(parent: nn.Module) -> None:
    children = list(parent.named_children())
    index = 0
    while index < len(children):
        name, child = children[index]
        if isinstance(child, nn.MaxPool2d):
            if _is_plain_2x2(child):
                setattr(parent, name, MaxPool2x2())
        elif not isinstance(child, nn.Conv2d):
            _convert(child)
        else:
            following = [c for _, c in children[index + 1 : index + 3]]
            norm = following[0] if following and isinstance(following[0], nn.BatchNorm2d) else None
            after = index + (2 if norm is not None else 1)
            relu = after < len(children) and isinstance(children[after][1], nn.ReLU)
            replacement = _replacement(child, norm, relu)
            if replacement is None:  # a layer none of the above equals: kept as it is
                index += 1
                continue
            setattr(parent, name, replacement)
            if norm is not None:
                setattr(parent, children[index + 1][0], nn.Identity())
            if relu:
                setattr(parent, children[after][0], nn.Identity())
            index = after + (1 if relu else 0)
            continue
        index += 1
