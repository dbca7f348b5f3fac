"""``python -m inference.asr_server``: serve the ASR API with uvicorn."""

from __future__ import annotations

import uvicorn

from inference.asr_server.app import create_app
from inference.asr_server.settings import AsrSettings
from inference.logs import configure_logging


def main() -> None:
    settings = AsrSettings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
