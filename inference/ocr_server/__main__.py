"""``python -m inference.ocr_server``: serve the OCR API with uvicorn."""

from __future__ import annotations

from inference.ocr_server.app import create_app
from inference.ocr_server.settings import OcrSettings
from inference.serve import run_service

if __name__ == "__main__":
    run_service(OcrSettings(), create_app)
