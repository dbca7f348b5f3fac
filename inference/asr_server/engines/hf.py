"""transformers engine: a ``WhisperForConditionalGeneration`` save_pretrained directory.

This is the format of the seed's fine-tuned Chinese model once converted (see
``inference/asr_server/convert_seed.py``). Weights load from safetensors; nothing pickled.
Windows are decoded with one batched ``generate`` per set of request options and without
timestamps, so each window comes back as one segment.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference.asr_server.engines.base import (
    SAMPLE_RATE,
    DecodeOptions,
    Window,
    WindowTranscript,
    transcribe_grouped,
    whole_window,
)
from inference.device import Placement

log = logging.getLogger(__name__)


class TransformersWhisperEngine:
    name = "transformers"
    lanes = 1  # torch (or one Triton client): one batch at a time

    def __init__(
        self,
        model_dir: Path,
        placement: Placement,
        *,
        beam_size: int = 1,
        max_new_tokens: int = 224,
    ) -> None:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(f"no save_pretrained Whisper directory at {model_dir}")
        self._dtype = torch.float16 if placement.half else torch.float32
        # nosec B615: local_files_only, an operator-mounted directory, never the Hub.
        self._processor: Any = WhisperProcessor.from_pretrained(model_dir, local_files_only=True)  # nosec B615
        model: Any = WhisperForConditionalGeneration.from_pretrained(  # nosec B615
            model_dir, dtype=self._dtype, local_files_only=True, use_safetensors=True
        )
        self._model = model.to(placement.device).eval()
        self._device = placement.device
        self.multilingual: bool = bool(
            getattr(self._model.generation_config, "is_multilingual", False)
        )
        self._beam_size = beam_size
        limit = int(self._model.config.max_target_positions) // 2
        self._max_new_tokens = min(max_new_tokens, limit)
        log.info("transformers whisper loaded", extra={"device": placement.device})

    def transcribe_windows(self, windows: Sequence[Window]) -> list[WindowTranscript]:
        return transcribe_grouped(windows, self._decode_group)

    def close(self) -> None:
        del self._model

    def _decode_group(
        self, windows: Sequence[Window], options: DecodeOptions
    ) -> list[WindowTranscript]:
        import torch

        features = self._processor.feature_extractor(
            [w.audio for w in windows], sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features.to(self._device, self._dtype)
        with torch.inference_mode():
            languages = self._languages(features, options)
            generated = self._model.generate(features, **self._generate_kwargs(options, languages))
        texts = self._processor.batch_decode(generated, skip_special_tokens=True)
        return [
            WindowTranscript(whole_window(text, window.seconds), language)
            for window, text, language in zip(windows, texts, languages, strict=True)
        ]

    def _languages(self, features: Any, options: DecodeOptions) -> list[str]:
        count = int(features.shape[0])
        if not self.multilingual:
            return ["en"] * count
        if options.language:
            return [options.language] * count
        ids = self._model.detect_language(features).tolist()
        tokens = self._processor.tokenizer.convert_ids_to_tokens(ids)
        return [str(token).strip("<|>") for token in tokens]

    def _generate_kwargs(self, options: DecodeOptions, languages: list[str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self._max_new_tokens}
        if self.multilingual:
            kwargs.update(language=languages, task="transcribe")
        if options.temperature > 0:
            kwargs.update(do_sample=True, temperature=options.temperature)
        else:
            kwargs.update(do_sample=False, num_beams=self._beam_size)
        if options.prompt:
            prompt_ids = self._processor.get_prompt_ids(options.prompt, return_tensors="pt")
            kwargs["prompt_ids"] = prompt_ids.to(self._device)
        return kwargs
