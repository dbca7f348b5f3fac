"""TrOCR line recognition with transformers, from a ``save_pretrained`` directory.

The directory holds a ``VisionEncoderDecoderModel`` and its processor (for instance
``microsoft/trocr-base-handwritten`` or a fine-tune, mounted by operators; see
``convert_seed`` for the seed's pickled files). A batch of crops is one ``generate`` call.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from inference.device import Placement
from inference.errors import ModelNotReady
from inference.ocr_server.recognizers import Recognition

log = logging.getLogger(__name__)


def load_trocr(directory: Path, placement: Placement) -> tuple[Any, Any]:
    """Model and processor from ``directory``; local files only, never the network."""
    from transformers import AutoProcessor, VisionEncoderDecoderModel

    if not (directory / "config.json").is_file():
        raise ModelNotReady(f"no TrOCR model in {directory.name!r} (config.json is missing)")
    dtype = torch.float16 if placement.half else torch.float32
    # nosec B615: local_files_only, an operator-mounted directory, never the Hub.
    processor: Any = AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]  # nosec B615
        directory, local_files_only=True
    )
    model: Any = VisionEncoderDecoderModel.from_pretrained(  # nosec B615
        directory, local_files_only=True, dtype=dtype
    )
    return model.to(placement.device).eval(), processor


class TrocrRecognizer:
    def __init__(self, directory: Path, placement: Placement, *, max_new_tokens: int = 96):
        self.name = f"trocr:{directory.name}"
        self.placement = placement
        self.max_new_tokens = max_new_tokens
        self._model, self._processor = load_trocr(directory, placement)
        self._dtype = torch.float16 if placement.half else torch.float32
        log.info("recognizer loaded", extra={"model": self.name, "device": placement.device})

    def recognize(self, crops: list[npt.NDArray[np.uint8]]) -> list[Recognition]:
        if not crops:
            return []
        images = [Image.fromarray(crop).convert("RGB") for crop in crops]
        # The processor resizes every crop to the encoder's square input, which is what
        # makes lines of any width one batch.
        pixels = self._processor(images=images, return_tensors="pt").pixel_values
        with torch.inference_mode():
            out = self._model.generate(
                pixels.to(self.placement.device, self._dtype),
                max_new_tokens=self.max_new_tokens,
                output_scores=True,
                return_dict_in_generate=True,
            )
            # Beam search (fine-tunes often set num_beams in generation_config) returns
            # scores per beam: the chosen beam of each line is followed with beam_indices,
            # and its scores are already log-probabilities.
            beams = getattr(out, "beam_indices", None)
            steps = self._model.compute_transition_scores(
                out.sequences, out.scores, beams, normalize_logits=beams is None
            )
        texts = self._processor.batch_decode(out.sequences, skip_special_tokens=True)
        tokens = out.sequences[:, -steps.shape[1] :].cpu()
        eos = self._model.generation_config.eos_token_id
        confidences = _confidences(steps.float().cpu(), tokens, eos)
        return [
            Recognition(text.strip(), confidence)
            for text, confidence in zip(texts, confidences, strict=True)
        ]

    def describe(self) -> dict[str, object]:
        return {"id": self.name, "role": "recognizer", "device": self.placement.device}


def _confidences(
    log_probs: torch.Tensor, tokens: torch.Tensor, eos: int | list[int] | None
) -> list[float]:
    """Geometric mean of each line's token probabilities, up to and including its first
    end-of-sequence token (what follows is padding of a finished line)."""
    ends = torch.zeros_like(tokens, dtype=torch.bool)
    for eos_id in [eos] if isinstance(eos, int) else eos or []:
        ends |= tokens == eos_id
    # Positions after the first EOS: the running count of EOS before them is positive.
    after_end = (ends.cumsum(dim=1) - ends.long()) > 0
    valid = ~after_end & torch.isfinite(log_probs)
    counts = valid.sum(dim=1).clamp(min=1)
    means = torch.where(valid, log_probs, torch.zeros_like(log_probs)).sum(dim=1) / counts
    return [float(value) for value in means.exp()]
