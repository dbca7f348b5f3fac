"""``python -m inference.llm_server``: serve the chat endpoint with uvicorn."""

from __future__ import annotations

import uvicorn

from inference.llm_server.app import create_app
from inference.llm_server.settings import LlmSettings
from inference.logs import configure_logging


def main() -> None:
    settings = LlmSettings()
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
