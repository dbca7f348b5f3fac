"""CRAFT in float32 with Winograd 3x3 convolutions (precision ``winograd``, CPU only).

The network is rebuilt in place from a loaded :class:`~.craft_net.Craft`:

* each BatchNorm is folded into its convolution;
* the 3x3 convolutions (all of VGG's and the head's but the dilated ``fc6``) run as
  :class:`~.nnpack.WinogradConv3x3`, with the ReLU that follows fused;
* the 1x1 convolutions are one matrix product per image (oneDNN's NCHW 1x1 path
  reorders the whole tensor first: twice as slow);
* the 2x2 max-pools take the maximum of four strided views (2.5x torch's NCHW pool).

The ReLUs that open a backbone slice stay in place, so the skip features are rectified
exactly as in the official model. The maps equal eager float32's to about 1e-6.
"""

from __future__ import annotations

import torch
from torch import nn

from inference.ocr_server.detectors.craft_net import Craft
from inference.ocr_server.detectors.nnpack import WinogradConv3x3


class Conv1x1(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, *, relu: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.reshape(weight.shape[0], -1).contiguous(), False)
        self.bias = nn.Parameter(bias.reshape(-1, 1).contiguous(), False)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        out = torch.matmul(self.weight, x.reshape(batch, channels, height * width)) + self.bias
        if self.relu:
            out.clamp_(min=0.0)
        return out.reshape(batch, -1, height, width)


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2, 2)`` (floor mode) as the maximum of four strided views."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2] // 2 * 2, x.shape[3] // 2 * 2
        x = x[:, :, :height, :width]
        rows = torch.maximum(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2])
        return torch.maximum(rows, torch.maximum(x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]))


def winograd_craft(model: Craft) -> Craft:
    """``model`` (float32, eval, CPU) with its layers replaced as above."""
    with torch.no_grad():
        _convert(model)
    return model.eval()


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
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
        return None
    if conv.kernel_size == (3, 3) and conv.padding == (1, 1):
        return WinogradConv3x3(*_folded(conv, norm), relu=relu)
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
            if replacement is None:  # the dilated fc6: the BatchNorm (none here) stays
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
