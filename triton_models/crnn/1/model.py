"""Triton entry point of ``crnn``; the code is in triton_models.runtime.crnn.

The python stub ignores PYTHONPATH, so the launcher passes the folders to import from
(numpy 1.x, the virtualenv, this repository) in STUDYSAVVY_TRITON_PYTHONPATH; they must
be on sys.path before anything imports numpy.
"""

import os
import sys

sys.path[:0] = [p for p in os.environ.get("STUDYSAVVY_TRITON_PYTHONPATH", "").split(":") if p]

from triton_models.runtime.crnn import TritonPythonModel  # noqa: E402

__all__ = ["TritonPythonModel"]
