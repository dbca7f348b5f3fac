"""``python -m worker``: a worker on the thread pool with the settings' concurrency."""

from __future__ import annotations

import sys

from worker.app import app


def main() -> None:
    app.worker_main(["worker", "--pool=threads", "--concurrency=32", *sys.argv[1:]])


if __name__ == "__main__":
    main()
