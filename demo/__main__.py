"""``python -m demo`` (``make demo``): every mission end to end on this machine."""

from __future__ import annotations

import logging
import sys

from demo.run import run_demo
from demo.settings import DemoSettings
from inference.logs import configure_logging

log = logging.getLogger("demo")


def main() -> int:
    settings = DemoSettings()
    # Human-readable diagnostics on stderr; the report itself goes to stdout.
    configure_logging("WARNING", json_lines=False)
    try:
        outcome = run_demo(settings)
    except Exception:
        log.exception("the demo could not run")
        return 1
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
