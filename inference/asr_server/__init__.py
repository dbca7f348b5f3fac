"""The ASR inference service: Whisper behind FastAPI, batched across requests."""
