"""openai-whisper engine: a ``{"dims", "model_state_dict"}`` checkpoint, batched ``decode``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from inference.asr_server.engines.base import (
    DecodeOptions,
    Window,
    WindowTranscript,
    split_timestamped,
    transcribe_grouped,
)
from inference.device import Placement

log = logging.getLogger(__name__)


class OpenAIWhisperEngine:
    name = "openai-whisper"
    lanes = 1  # torch (or one Triton client): one batch at a time

    def __init__(
        self,
        checkpoint: Path,
        placement: Placement,
        *,
        beam_size: int = 1,
        max_new_tokens: int = 224,
    ) -> None:
        import whisper

        if not checkpoint.is_file():
            raise FileNotFoundError(f"no openai-whisper checkpoint at {checkpoint}")
        # load_model reads the file with torch.load(weights_only=True): no pickled code runs.
        self._model = whisper.load_model(str(checkpoint), device=placement.device)
        if placement.half:
            self._model = self._model.half()
        self._placement = placement
        self.multilingual: bool = bool(self._model.is_multilingual)
        self._beam_size = beam_size
        self._sample_len = min(max_new_tokens, self._model.dims.n_text_ctx // 2)
        log.info("openai-whisper loaded", extra={"device": placement.device})

    def transcribe_windows(self, windows: Sequence[Window]) -> list[WindowTranscript]:
        return transcribe_grouped(windows, self._decode_group)

    def close(self) -> None:
        del self._model

    def _decode_group(
        self, windows: Sequence[Window], options: DecodeOptions
    ) -> list[WindowTranscript]:
        import torch
        import whisper

        model = self._model
        mels = torch.stack(
            [
                whisper.log_mel_spectrogram(
                    whisper.pad_or_trim(torch.from_numpy(w.audio)), model.dims.n_mels
                )
                for w in windows
            ]
        ).to(model.device)
        decoding = whisper.DecodingOptions(
            language=options.language if self.multilingual else "en",
            prompt=options.prompt,
            temperature=options.temperature,
            beam_size=self._beam_size if self._beam_size > 1 and options.temperature == 0 else None,
            sample_len=self._sample_len,
            fp16=self._placement.half,
        )
        with torch.inference_mode():
            results = whisper.decode(model, mels, decoding)
        transcripts = []
        for window, result in zip(windows, results, strict=True):
            tokenizer = whisper.tokenizer.get_tokenizer(
                self.multilingual,
                num_languages=model.num_languages,
                language=result.language,
                task="transcribe",
            )
            segments = split_timestamped(
                result.tokens,
                timestamp_begin=tokenizer.timestamp_begin,
                eot=tokenizer.eot,
                decode=tokenizer.decode,
                duration=window.seconds,
            )
            transcripts.append(WindowTranscript(segments, result.language))
        return transcripts
