"""Labelled line images: a folder plus ``labels.tsv``, one ``image<TAB>text`` per line.

The format IAM, PaddleOCR and docTR users already have. Image paths are relative to the
labels file's folder (absolute ones are taken as they are). A bad row (no tab, a missing
or unreadable image, empty text, a character outside the recognizer's charset) is
reported with its line number and skipped: it never stops a long run. The image's parent
folder names its group (the font family of the synthetic lines), which the report gives a
CER of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from inference.ocr_server.recognizers.crnn_net import ENGLISH_G2_CHARACTERS

log = logging.getLogger(__name__)

LABELS_FILE = "labels.tsv"
_CHARSET = frozenset(ENGLISH_G2_CHARACTERS)


@dataclass(frozen=True)
class Sample:
    image: Path
    text: str
    group: str  # the image's folder name: its font family, writer or source


@dataclass(frozen=True)
class Problem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _check(root: Path, number: int, raw: str, verify: bool) -> Sample | Problem:
    name, tab, text = raw.partition("\t")
    if not tab:
        return Problem(number, "no tab between image and text")
    if not text.strip():
        return Problem(number, f"{name}: empty text")
    outside = sorted({ch for ch in text if ch not in _CHARSET})
    if outside:
        return Problem(number, f"{name}: characters outside the charset: {''.join(outside)!r}")
    path = Path(name) if Path(name).is_absolute() else root / name
    if not path.is_file():
        return Problem(number, f"{name}: no such image")
    if verify:
        try:
            with Image.open(path) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            return Problem(number, f"{name}: unreadable image ({type(exc).__name__})")
    return Sample(path, text.strip(), path.parent.name)


def read_labels(path: Path, *, verify: bool = True) -> tuple[list[Sample], list[Problem]]:
    """The good samples of ``path`` and the problems of the rows skipped (logged)."""
    if path.is_dir():
        path = path / LABELS_FILE
    root = path.parent
    samples: list[Sample] = []
    problems: list[Problem] = []
    with path.open(encoding="utf-8", errors="replace") as stream:
        for number, raw in enumerate(stream, start=1):
            raw = raw.rstrip("\r\n")
            if not raw.strip():
                continue
            checked = _check(root, number, raw, verify)
            (samples if isinstance(checked, Sample) else problems).append(checked)  # type: ignore[arg-type]
    for problem in problems:
        log.warning("label row skipped: %s %s", path, problem, extra={"problem": str(problem)})
    return samples, problems
