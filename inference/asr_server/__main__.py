"""``python -m inference.asr_server``: serve the ASR API with uvicorn."""

from __future__ import annotations

from inference.asr_server.app import create_app
from inference.asr_server.settings import AsrSettings
from inference.serve import run_service

if __name__ == "__main__":
    run_service(AsrSettings(), create_app)
