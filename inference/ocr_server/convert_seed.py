"""One-off migration of the seed's TrOCR files into a ``save_pretrained`` directory.

The seed stored its fine-tuned TrOCR as whole pickled objects (``torch.save(model)`` to
``model.pt`` and ``torch.save(processor)`` to ``processor.pt``). Unpickling runs whatever
code the file names, so this tool refuses to open them unless the operator states that
the files are trusted (``--trust-pickles``). The output directory is plain safetensors,
JSON and tokenizer files, which the service loads with ``OCR_RECOGNIZER__ENGINE=trocr``
and ``OCR_RECOGNIZER__TROCR_DIR=<output>``::

    python -m inference.ocr_server.convert_seed --model model.pt --processor processor.pt \\
        --output /models/trocr-seed --trust-pickles
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from inference.logs import configure_logging

log = logging.getLogger(__name__)


class UntrustedPickle(RuntimeError):
    """The operator did not confirm that the pickled files may be executed."""


def convert_seed_trocr(
    model_file: Path, processor_file: Path, output: Path, *, trust_pickles: bool = False
) -> Path:
    """Write ``model_file`` and ``processor_file`` to ``output`` with ``save_pretrained``."""
    if not trust_pickles:
        raise UntrustedPickle(
            "the seed's model.pt and processor.pt are pickles that can run arbitrary code "
            "when loaded; pass trust_pickles=True (--trust-pickles) only for files you made"
        )
    model = _unpickle(model_file)
    processor = _unpickle(processor_file)
    if not hasattr(model, "save_pretrained") or not hasattr(processor, "save_pretrained"):
        raise TypeError("the files do not hold a transformers model and processor")
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    processor.save_pretrained(output)
    log.info("converted seed TrOCR", extra={"output": str(output)})
    return output


def _unpickle(path: Path) -> Any:
    import torch

    # weights_only=False is the point of this tool, and is gated by trust_pickles.
    return torch.load(path, map_location="cpu", weights_only=False)  # nosec B614 - trust_pickles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the seed's model.pt")
    parser.add_argument("--processor", type=Path, required=True, help="the seed's processor.pt")
    parser.add_argument("--output", type=Path, required=True, help="directory to write")
    parser.add_argument(
        "--trust-pickles",
        action="store_true",
        help="confirm the .pt files come from a trusted source (they are executed)",
    )
    args = parser.parse_args(argv)
    configure_logging("INFO", json_lines=False)
    try:
        convert_seed_trocr(
            args.model, args.processor, args.output, trust_pickles=args.trust_pickles
        )
    except UntrustedPickle as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
