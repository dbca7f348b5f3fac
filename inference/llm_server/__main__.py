"""``python -m inference.llm_server``: serve the chat endpoint with uvicorn."""

from __future__ import annotations

from inference.llm_server.app import create_app
from inference.llm_server.settings import LlmSettings
from inference.serve import run_service

if __name__ == "__main__":
    run_service(LlmSettings(), create_app)
