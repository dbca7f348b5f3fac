"""A small client for one Triton model, shared by the ASR and OCR Triton engines.

Engines run on their batcher's executor thread and send a whole batch at once: every
item becomes one Triton request, all in flight together, so Triton's dynamic batcher
sees them side by side (with the other replicas' requests) and batches them itself.

tritonclient's HTTP client is gevent based and must stay on the thread that made it,
hence one client per thread. Triton's failures become the domain errors of
:mod:`inference.errors`, so the services answer the same statuses in either mode.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from inference.errors import InferenceError, InvalidRequest, ModelNotReady, Overloaded

log = logging.getLogger(__name__)

# NumPy dtypes to Triton's wire names, for the inputs the engines send.
_DATATYPES = {
    np.dtype(np.float32): "FP32",
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.object_): "BYTES",
}

Inputs = dict[str, np.ndarray]


class TritonModelClient:
    """Calls ``model`` (its latest ready version) on the Triton at ``url`` (host:port)."""

    def __init__(
        self, url: str, model: str, *, timeout_s: float = 120.0, concurrency: int = 16
    ) -> None:
        self.url = url
        self.model = model
        self._timeout = timeout_s
        self._concurrency = concurrency
        self._local = threading.local()

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            import tritonclient.http as httpclient

            client = httpclient.InferenceServerClient(
                self.url,
                concurrency=self._concurrency,
                connection_timeout=self._timeout,
                network_timeout=self._timeout,
            )
            self._local.client = client
        return client

    def wait_ready(self) -> None:
        """Raise :class:`ModelNotReady` unless the server and the model can serve."""
        try:
            ready = bool(self._client().is_model_ready(self.model))
        except Exception as exc:
            raise ModelNotReady(f"Triton at {self.url} cannot be reached") from exc
        if not ready:
            raise ModelNotReady(f"model {self.model!r} is not ready on Triton")

    def infer_many(
        self, items: Sequence[Inputs], outputs: Sequence[str]
    ) -> list[dict[str, np.ndarray]]:
        """One request per item, all in flight at once; results in item order."""
        client = self._client()
        try:
            pending = [
                client.async_infer(self.model, _inputs(item), outputs=_outputs(outputs))
                for item in items
            ]
        except Exception as exc:
            raise _domain_error(exc) from exc
        results: list[dict[str, np.ndarray]] = []
        failure: InferenceError | None = None
        for request in pending:  # collect every answer, even after a failure
            try:
                result = request.get_result(timeout=self._timeout)
                results.append({name: result.as_numpy(name) for name in outputs})
            except Exception as exc:
                failure = failure or _domain_error(exc)
        if failure is not None:
            raise failure
        return results

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()
            self._local.client = None


def _inputs(item: Inputs) -> list[Any]:
    import tritonclient.http as httpclient

    tensors = []
    for name, array in item.items():
        tensor = httpclient.InferInput(name, list(array.shape), _DATATYPES[array.dtype])
        tensor.set_data_from_numpy(array, binary_data=True)
        tensors.append(tensor)
    return tensors


def _outputs(names: Sequence[str]) -> list[Any]:
    import tritonclient.http as httpclient

    return [httpclient.InferRequestedOutput(name, binary_data=True) for name in names]


def _domain_error(exc: Exception) -> InferenceError:
    """Triton's answer as a domain error; its text only when the model wrote it for users."""
    from tritonclient.utils import InferenceServerException

    if not isinstance(exc, InferenceServerException):
        log.warning("triton unreachable", extra={"error": type(exc).__name__})
        return ModelNotReady("the model server cannot be reached")
    status = str(exc.status() or "")
    message = str(exc.message() or "")
    log.warning("triton request failed", extra={"status": status})
    if status == "429":
        return Overloaded("the model server is overloaded; retry later")
    if status == "400" and "unavailable" not in message and "unknown model" not in message:
        # The model's own per-request error (see triton_models/runtime/common.py).
        return InvalidRequest(message or "the model rejected the input")
    return ModelNotReady("the model is not available on the model server")


def first_text(array: np.ndarray) -> str:
    """A BYTES output of shape [1, 1] as text."""
    value = array.reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def bytes_input(text: str) -> np.ndarray:
    """A BYTES input of shape [1, 1]."""
    return np.array([[text.encode("utf-8")]], dtype=np.object_)


__all__: Sequence[str] = ["TritonModelClient", "bytes_input", "first_text"]
