"""Optional engine modules (the Triton ones), imported only when configured."""

from __future__ import annotations

import importlib
from types import ModuleType

from inference.errors import ModelNotReady


def load_plugin(module: str) -> ModuleType:
    """Import ``module``, with an operator-readable error if it is not there."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only the module itself (or its package) missing is ours to explain; a missing
        # dependency inside it must surface as it is.
        if exc.name is not None and module.startswith(exc.name):
            raise ModelNotReady(f"engine module {module} is not available") from exc
        raise
