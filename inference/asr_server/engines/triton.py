"""Triton engine: the ``whisper`` model of triton_models/ does the decoding.

The ASR server still decodes the upload, cuts windows, converts Chinese and stitches;
each window becomes one Triton request (at most 30 s of 16 kHz audio), so the worker
sees the same API whichever engine runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import numpy as np

from inference.asr_server.engines.base import Segment, Window, WindowTranscript
from inference.asr_server.settings import AsrSettings
from inference.triton_client import Inputs, TritonModelClient, bytes_input, first_text

log = logging.getLogger(__name__)

# Long enough for a full batch of 30 s windows queued behind other replicas' on a CPU.
TIMEOUT_S = 300.0
OUTPUTS = ("SEGMENTS", "DETECTED_LANGUAGE", "MULTILINGUAL")
# A startup probe: 0.1 s of silence tells whether the served model is multilingual.
_PROBE = np.zeros(1600, dtype=np.float32)


def window_inputs(window: Window) -> Inputs:
    """The Triton inputs of one window (optional ones only when set)."""
    inputs: Inputs = {"AUDIO": window.audio.astype(np.float32, copy=False).reshape(1, -1)}
    options = window.options
    if options.language:
        inputs["LANGUAGE"] = bytes_input(options.language)
    if options.prompt:
        inputs["PROMPT"] = bytes_input(options.prompt)
    if options.temperature:
        inputs["TEMPERATURE"] = np.array([[options.temperature]], dtype=np.float32)
    return inputs


def parse_transcript(outputs: dict[str, np.ndarray]) -> WindowTranscript:
    segments = json.loads(first_text(outputs["SEGMENTS"]))
    return WindowTranscript(
        segments=tuple(
            Segment(float(s["start"]), float(s["end"]), str(s["text"])) for s in segments
        ),
        language=first_text(outputs["DETECTED_LANGUAGE"]),
    )


class TritonWhisperEngine:
    name = "triton"
    lanes = 1  # Triton batches on its side

    def __init__(self, client: TritonModelClient) -> None:
        self._client = client
        client.wait_ready()
        (probe,) = client.infer_many([{"AUDIO": _PROBE.reshape(1, -1)}], OUTPUTS)
        self.multilingual = bool(probe["MULTILINGUAL"].reshape(-1)[0])
        log.info(
            "triton whisper engine ready",
            extra={"model": client.model, "multilingual": self.multilingual},
        )

    def transcribe_windows(self, windows: Sequence[Window]) -> list[WindowTranscript]:
        outputs = self._client.infer_many([window_inputs(w) for w in windows], OUTPUTS)
        return [parse_transcript(o) for o in outputs]

    def close(self) -> None:
        self._client.close()


def build_engine(settings: AsrSettings) -> TritonWhisperEngine:
    """The factory hook of :func:`inference.asr_server.engines.create_engine`."""
    client = TritonModelClient(
        settings.triton_url,
        settings.triton_model,
        timeout_s=TIMEOUT_S,
        concurrency=max(settings.batch.max_batch_size, 1),
    )
    return TritonWhisperEngine(client)
