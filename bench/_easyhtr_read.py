"""Run by the easyhtr venv (.tools/easyhtr), not the project's: read pages with easyhtr
(its word detector and reader) and print one JSON object, ``{"pages": [{"text", "seconds"}]}``.

    .tools/easyhtr/bin/python bench/_easyhtr_read.py page1.png page2.png
"""

import json
import sys
import time
import warnings

import cv2

warnings.filterwarnings("ignore")  # its sessions ask for CUDA first on every load

from htr_pipeline import read_page  # noqa: E402 - after the warning filter


def main(paths: list[str]) -> None:
    pages = []
    read_page(cv2.imread(paths[0], cv2.IMREAD_GRAYSCALE))  # warm-up: sessions load lazily
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        started = time.perf_counter()
        lines = read_page(image)
        seconds = time.perf_counter() - started
        text = "\n".join(" ".join(word.text for word in line) for line in lines)
        pages.append({"text": text, "seconds": seconds, "lines": len(lines)})
    print(json.dumps({"pages": pages}))


if __name__ == "__main__":
    main(sys.argv[1:])
