"""The CRAFT text detector (Baek et al., 2019) in plain ``torch.nn``.

The module names mirror the official implementation so its ``craft_mlt_25k.pth`` state
dict loads with ``strict=True``: a VGG16-BN backbone cut into ``slice1..5`` (keeping the
global layer indices of torchvision's ``vgg16_bn().features``) and a U-shaped head.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# torchvision's vgg16_bn feature stack: numbers are conv widths, "M" a 2x2 max-pool.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# Where the backbone is cut into slices (global layer indices, end exclusive).
_SLICES = ((0, 12), (12, 19), (19, 29), (29, 39))


def _vgg16_bn_layers() -> list[nn.Module]:
    layers: list[nn.Module] = []
    channels = 3
    for width in _VGG16:
        if not isinstance(width, int):
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        # In-place ReLU matters: the official model returns the BatchNorm outputs of
        # slice ends as skip features, and the next slice's first ReLU rectifies them in
        # place, so the head sees rectified skips for slices 1 to 3.
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width)]
        layers.append(nn.ReLU(inplace=True))
        channels = width
    return layers


class VggBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers = _vgg16_bn_layers()
        for number, (start, end) in enumerate(_SLICES, start=1):
            block = nn.Sequential()
            for index in range(start, end):
                block.add_module(str(index), layers[index])
            self.add_module(f"slice{number}", block)
        self.slice5 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6),
            nn.Conv2d(1024, 1024, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features from deep to shallow: fc7, relu5_3, relu4_3, relu3_2, relu2_2."""
        features = []
        for number in range(1, 6):
            x = getattr(self, f"slice{number}")(x)
            features.append(x)
        return features[::-1]


class DoubleConv(nn.Module):
    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch + mid_ch, mid_ch, kernel_size=1),
            nn.BatchNorm2d(mid_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, out_ch, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return out


class Craft(nn.Module):
    """Image (N, 3, H, W), normalised -> score maps (N, H/2, W/2, 2): region, affinity."""

    def __init__(self) -> None:
        super().__init__()
        self.basenet = VggBackbone()
        self.upconv1 = DoubleConv(1024, 512, 256)
        self.upconv2 = DoubleConv(512, 256, 128)
        self.upconv3 = DoubleConv(256, 128, 64)
        self.upconv4 = DoubleConv(128, 64, 32)
        self.conv_cls = nn.Sequential(
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 16, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 2, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sources = self.basenet(x)
        y = self.upconv1(torch.cat([sources[0], sources[1]], dim=1))
        blocks = (self.upconv2, self.upconv3, self.upconv4)
        for skip, block in zip(sources[2:], blocks, strict=True):
            y = F.interpolate(y, size=skip.shape[2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        scores: torch.Tensor = self.conv_cls(y)
        return scores.permute(0, 2, 3, 1)


def strip_data_parallel(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints saved from ``nn.DataParallel`` prefix every key with ``module.``."""
    return {key.removeprefix("module."): value for key, value in state.items()}


def load_craft(path: Path) -> Craft:
    """CRAFT with the weights at ``path`` (a plain state dict; never unpickles code)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = Craft()
    model.load_state_dict(strip_data_parallel(state), strict=True)
    return model.eval()
