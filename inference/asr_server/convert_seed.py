"""One-off migration of the seed's pickled fine-tune to a safe save_pretrained directory.

The seed stored its fine-tuned Chinese Whisper as ``torch.save(model)`` and
``torch.save(processor)``: whole pickled objects. Unpickling runs arbitrary code, so this
tool refuses unless the operator passes ``--trust-pickle`` for files they produced
themselves. It writes safetensors weights plus the processor files, which the
``transformers`` engine loads without unpickling anything::

    python -m inference.asr_server.convert_seed --trust-pickle \\
        --model model.pt --processor processor.pt --out /models/whisper-zh
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from inference.logs import configure_logging

log = logging.getLogger(__name__)


class UntrustedPickle(RuntimeError):
    """The operator did not confirm that the pickled files are trusted."""


def convert(model_file: Path, processor_file: Path, out_dir: Path, *, trust_pickle: bool) -> Path:
    """Load the pickled model and processor and write them as a save_pretrained directory."""
    if not trust_pickle:
        raise UntrustedPickle(
            "the seed files are pickles that can run code when loaded; "
            "pass --trust-pickle only for files you produced yourself"
        )
    import torch
    from transformers import WhisperForConditionalGeneration

    model: Any = torch.load(model_file, map_location="cpu", weights_only=False)  # nosec B614 - gated by --trust-pickle
    processor: Any = torch.load(processor_file, map_location="cpu", weights_only=False)  # nosec B614
    if not isinstance(model, WhisperForConditionalGeneration):
        raise TypeError(f"{model_file} holds a {type(model).__name__}, not a Whisper model")
    if not hasattr(processor, "save_pretrained") or not hasattr(processor, "feature_extractor"):
        raise TypeError(f"{processor_file} does not hold a Whisper processor")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    log.info("seed model converted", extra={"out_dir": str(out_dir)})
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, required=True, help="the seed's model.pt")
    parser.add_argument("--processor", type=Path, required=True, help="the seed's processor.pt")
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument(
        "--trust-pickle", action="store_true", help="confirm the .pt files are trusted"
    )
    args = parser.parse_args(argv)
    configure_logging("INFO", json_lines=False)
    try:
        convert(args.model, args.processor, args.out, trust_pickle=args.trust_pickle)
    except UntrustedPickle as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
