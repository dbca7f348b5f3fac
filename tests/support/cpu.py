"""Marks for cases that only make sense on some CPU classes (docs/cpu-classes.md)."""

from __future__ import annotations

import pytest

from inference.device import cpu_has_bf16

needs_bf16 = pytest.mark.skipif(
    not cpu_has_bf16(),
    reason="no bfloat16 instructions here: bf16 CRAFT is emulated (about 50 s a 1280x960 "
    "page on AVX2) and never a candidate; CPUs with them run these cases",
)


def _nnpack_available() -> bool:
    from inference.ocr_server.detectors import nnpack

    return nnpack.available()


needs_nnpack = pytest.mark.skipif(
    not _nnpack_available(),
    reason="NNPACK is not in this torch build or does not run on this CPU (it needs AVX2 "
    "and FMA): winograd CRAFT is no candidate here",
)
