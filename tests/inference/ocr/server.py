"""Starting the OCR server in a subprocess for a test module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import free_port, running_process


@contextmanager
def ocr_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Base URL of a running ``python -m inference.ocr_server`` with ``env`` added."""
    port = free_port()
    full_env = {
        "OCR_HOST": "127.0.0.1",
        "OCR_PORT": str(port),
        "OCR_DEVICE": "cpu",
        # Modest pages keep CRAFT at about a second per page on two cores.
        "OCR_DETECTOR__CANVAS_SIZE": "960",
        **env,
    }
    base = f"http://127.0.0.1:{port}"
    with running_process(
        ["python", "-m", "inference.ocr_server"],
        env=full_env,
        ready_url=f"{base}/readyz",
        log_path=log_path,
    ):
        yield base
