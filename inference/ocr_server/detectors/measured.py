"""The detector ``auto`` runs on a CPU: each candidate timed here on a rendered page.

Which CRAFT is fastest depends on the CPU more than its flags tell: torch bfloat16 is
4-6x eager float32 on an AMX Xeon, about even with the float32 ONNX graph on an AVX-512
BF16 EPYC. The candidates are built, each reads the same page at the configured canvas
(a warm-up and two timed runs), the fastest is kept and the others dropped; the choice
is cached per machine (:mod:`inference.tuning`), so later starts build only the winner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from inference import tuning
from inference.device import Placement
from inference.ocr_server.detectors.postprocess import FloatArray

if TYPE_CHECKING:
    from inference.ocr_server.detectors import PageDetector
    from inference.ocr_server.settings import OcrSettings

PART = "ocr-detector"
Builder = Callable[["OcrSettings", Placement, str, str], "PageDetector"]


class ChosenDetector:
    """The measured winner; its info says how it was chosen."""

    def __init__(self, inner: PageDetector, choice: tuning.Choice) -> None:
        self.inner = inner
        self.choice = choice
        self.name = inner.name

    def detect(self, pages: list[npt.NDArray[np.uint8]]) -> list[list[FloatArray]]:
        return self.inner.detect(pages)

    def describe(self) -> dict[str, object]:
        return {**self.inner.describe(), "choice": self.choice.describe()}

    def __getattr__(self, name: str) -> object:
        # The winner's own parts (``forward``, ``canvas_size``) for profiling and tools.
        return getattr(self.inner, name)


def fastest_detector(
    settings: OcrSettings,
    placement: Placement,
    candidates: list[tuple[str, str]],
    build: Builder,
) -> ChosenDetector:
    names = {f"{engine}:{precision}": (engine, precision) for engine, precision in candidates}
    key = tuning.machine_key(
        ("torch", "onnxruntime"),
        {
            "weights": _weights_id(settings.craft_weights_path()),
            "canvas_size": str(settings.detector.canvas_size),
            "onnx_threads": str(settings.onnx.threads),
        },
    )
    cached = tuning.cached_choice(PART, list(names), settings.tuning_dir, key)
    if cached is not None:
        return ChosenDetector(build(settings, placement, *names[cached.engine]), cached)
    built = {name: build(settings, placement, *pair) for name, pair in names.items()}
    page = timing_page(settings.detector.canvas_size)
    timed = [tuning.Candidate(name, _reads(d, page)) for name, d in built.items()]
    choice = tuning.choose(PART, timed, settings.tuning_dir, key)
    return ChosenDetector(built[choice.engine], choice)


def timing_page(canvas: int) -> npt.NDArray[np.uint8]:
    """An essay page at the canvas' width, 4:3, as a photographed page is."""
    from inference.ocr_server.ort.calibration import render

    text = render(22, 0.0, width=canvas).image
    page = np.full((canvas * 3 // 4, canvas, 3), 255, dtype=np.uint8)
    rows = min(text.shape[0], page.shape[0])
    page[:rows] = text[:rows]
    return page


def _reads(detector: PageDetector, page: npt.NDArray[np.uint8]) -> Callable[[], object]:
    return lambda: detector.detect([page])


def _weights_id(path: Path) -> str:
    return f"{path.name}:{path.stat().st_size}" if path.exists() else path.name
