"""EasyOCR's generation-2 CRNN line recognizer ("english_g2") in plain ``torch.nn``.

VGG-style feature extractor -> two bidirectional LSTMs -> a linear CTC head over the 96
characters of :data:`ENGLISH_G2_CHARACTERS` plus the blank (class 0). Module names mirror
the original so ``english_g2.pth`` loads with ``strict=True``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from inference.ocr_server.detectors.craft_net import strip_data_parallel

# The order is the model's: class i + 1 is ENGLISH_G2_CHARACTERS[i].
ENGLISH_G2_CHARACTERS = (
    "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
LINE_HEIGHT = 64


class FeatureExtraction(nn.Module):
    def __init__(self, in_channels: int = 1, out_channels: int = 256) -> None:
        super().__init__()
        c1, c2, c3, c4 = (out_channels // 8, out_channels // 4, out_channels // 2, out_channels)
        self.ConvNet = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, 1, 1),
            nn.ReLU(True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(c1, c2, 3, 1, 1),
            nn.ReLU(True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(c2, c3, 3, 1, 1),
            nn.ReLU(True),
            nn.Conv2d(c3, c3, 3, 1, 1),
            nn.ReLU(True),
            nn.MaxPool2d((2, 1), (2, 1)),
            nn.Conv2d(c3, c4, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c4),
            nn.ReLU(True),
            nn.Conv2d(c4, c4, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c4),
            nn.ReLU(True),
            nn.MaxPool2d((2, 1), (2, 1)),
            nn.Conv2d(c4, c4, 2, 1, 0),
            nn.ReLU(True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.ConvNet(x)
        return out


class BidirectionalLSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, bidirectional=True, batch_first=True)
        self.linear = nn.Linear(hidden_size * 2, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        recurrent, _ = self.rnn(x)
        out: torch.Tensor = self.linear(recurrent)
        return out


class Crnn(nn.Module):
    """Grey line images (N, 1, 64, W) in [-1, 1] -> logits (N, W/4 - 1, classes)."""

    def __init__(self, num_classes: int = len(ENGLISH_G2_CHARACTERS) + 1, hidden: int = 256):
        super().__init__()
        self.FeatureExtraction = FeatureExtraction(1, hidden)
        self.SequenceModeling = nn.Sequential(
            BidirectionalLSTM(hidden, hidden, hidden),
            BidirectionalLSTM(hidden, hidden, hidden),
        )
        self.Prediction = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.FeatureExtraction(x)  # (N, C, H', W')
        # Average the remaining height so each column is one time step.
        sequence = features.permute(0, 3, 1, 2).mean(dim=3)  # (N, W', C)
        logits: torch.Tensor = self.Prediction(self.SequenceModeling(sequence))
        return logits


def load_crnn(path: Path) -> Crnn:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = Crnn()
    model.load_state_dict(strip_data_parallel(state), strict=True)
    return model.eval()
