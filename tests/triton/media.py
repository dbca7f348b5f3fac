"""Inputs for the Triton tests: rendered text lines and the weights folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = [
    "The quick brown fox jumps",
    "over the lazy dog",
    "Students review the chapter",
    "before the final exam",
    "Water boils quickly",
    "The library closes early",
    "Homework is due on Friday",
    "Gravity pulls every object",
]


def line_crop(text: str, size: int = 28) -> np.ndarray:
    """Black text on white, a few pixels of margin: what the layout step cuts out."""
    font = ImageFont.truetype(FONT, size)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGB", (int(right - left) + 16, int(bottom - top) + 12), "white")
    ImageDraw.Draw(image).text((8 - left, 6 - top), text, fill="black", font=font)
    return np.asarray(image, dtype=np.uint8)


def easyocr_models() -> Path:
    import easyocr_en_models

    return Path(easyocr_en_models.__file__).parent / "models"


def random_crnn(folder: Path, seed: int) -> Path:
    """A CRNN of the english_g2 architecture with random weights: reads nonsense."""
    import torch

    from inference.ocr_server.recognizers.crnn_net import Crnn

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.save(Crnn().state_dict(), folder / "english_g2.pth")
    return folder


def broken_crnn(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "english_g2.pth").write_bytes(b"this is not a checkpoint")
    return folder
