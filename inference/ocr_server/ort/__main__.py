"""Export (and quantize) the ONNX graphs into the cache, as ``make install`` does.

    python -m inference.ocr_server.ort [--cache-dir DIR] [--precision fp32 int8 ...]

Weights and cache folder come from the OCR settings (``OCR_DETECTOR__WEIGHTS``,
``OCR_RECOGNIZER__CRNN_WEIGHTS``, ``OCR_ONNX__CACHE_DIR``); graphs already in the cache
are not exported again. Prints one line per graph.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from inference.logs import configure_logging
from inference.ocr_server.ort.cache import PRECISIONS, onnx_model
from inference.ocr_server.ort.graphs import MODELS
from inference.ocr_server.settings import OcrSettings

log = logging.getLogger("inference.ocr_server.ort")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    args = parser.parse_args(argv)
    configure_logging("INFO", json_lines=False)
    settings = OcrSettings()
    cache_dir = args.cache_dir or settings.onnx.cache_dir
    weights = {"craft": settings.craft_weights_path(), "crnn": settings.crnn_weights_path()}
    for model in args.models:
        for precision in args.precision:
            if model == "crnn" and precision == "int8-backbone":
                continue  # the CRNN's int8 already keeps its LSTMs in float32
            print(onnx_model(model, weights[model], precision, cache_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
