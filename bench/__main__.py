"""`make bench`: run every benchmark module (or those named on the command line).

Each module in this package that defines ``main() -> None`` is a benchmark.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import time

import bench
from inference.logs import configure_logging

log = logging.getLogger("bench")


def discover() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules(bench.__path__)
        if info.name not in {"common", "__main__"} and not info.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    configure_logging("INFO", json_lines=False)
    names = argv or discover()
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "main"):
            continue
        started = time.perf_counter()
        log.info("benchmark %s: start", name)
        try:
            module.main()
        except Exception:
            log.exception("benchmark %s failed", name)
            failed.append(name)
            continue
        log.info("benchmark %s: done in %.1fs", name, time.perf_counter() - started)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
