"""Request plumbing every python-backend model shares.

A model's ``execute`` gets a list of requests that Triton's dynamic batcher grouped. It
must answer each one; one bad request must not fail its neighbours. :func:`run_isolated`
runs the whole batch in one model call and, only when that call raises, retries each
item alone so that the error lands on the item that caused it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic_settings import BaseSettings, SettingsConfigDict

from inference.device import Placement, choose_placement
from inference.errors import InferenceError, InvalidRequest, http_status_for

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class RuntimeSettings(BaseSettings):
    """The one settings object of a model process (environment prefix ``TRITON_MODELS_``)."""

    model_config = SettingsConfigDict(env_prefix="TRITON_MODELS_", extra="ignore")

    # Relative ``weights`` parameters of config.pbtxt resolve against this folder.
    weights_root: Path | None = None
    log_level: str = "INFO"


@dataclass(frozen=True)
class ModelArgs:
    """What Triton passes to ``initialize``, parsed."""

    name: str
    version: str
    instance_kind: str  # "CPU" or "GPU"
    device_id: int
    config: dict[str, Any]
    directory: Path | None = None  # this model's folder in the repository

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> ModelArgs:
        repository = args.get("model_repository")
        return cls(
            name=args["model_name"],
            version=args["model_version"],
            instance_kind=args.get("model_instance_kind", "CPU"),
            device_id=int(args.get("model_instance_device_id", "0") or 0),
            config=json.loads(args["model_config"]),
            directory=Path(repository) if repository else None,
        )

    @property
    def onnx_engine(self) -> bool:
        """``engine: onnx``: run the version folder's exported graph on ONNX Runtime."""
        engine = self.parameters.get("engine") or "torch"
        if engine not in ("torch", "onnx"):
            raise ValueError(f"unknown engine parameter {engine!r} (torch or onnx)")
        return engine == "onnx"

    def onnx_graph(self) -> Path:
        """The version folder's graph (``onnx_file`` parameter, default model.onnx)."""
        if self.directory is None:
            raise ValueError("Triton did not pass the model's repository folder")
        path = self.directory / self.version / (self.parameters.get("onnx_file") or "model.onnx")
        if not path.exists():
            raise FileNotFoundError(f"no ONNX graph at {path}")
        return path

    @property
    def parameters(self) -> dict[str, str]:
        raw = self.config.get("parameters") or {}
        return {key: str(value.get("string_value", "")) for key, value in raw.items()}

    def placement(self) -> Placement:
        """CUDA + fp16 for a KIND_GPU instance, CPU float32 otherwise."""
        if self.instance_kind != "GPU":
            return choose_placement("cpu")
        import torch

        # Engines address "cuda"; the current device makes that mean this instance's GPU.
        torch.cuda.set_device(self.device_id)
        return choose_placement("cuda")


def resolve_weights(spec: str, version: str, root: Path | None) -> Path:
    """The weights location of one version: ``{version}`` expands, relative paths use root."""
    if not spec:
        raise ValueError("the model config has no 'weights' parameter")
    path = Path(spec.replace("{version}", version))
    if not path.is_absolute():
        if root is None:
            raise ValueError(
                f"weights {spec!r} is relative but TRITON_MODELS_WEIGHTS_ROOT is not set"
            )
        path = root / path
    if not path.exists():
        raise FileNotFoundError(f"no weights at {path}")
    return path


@dataclass(frozen=True)
class Failed:
    """An item that gets an error response; ``message`` is safe to show a client.

    ``invalid``: the request itself is at fault (Triton answers it 400, INVALID_ARG);
    otherwise the model failed (500, INTERNAL), which a client may retry.
    """

    message: str
    invalid: bool = True


def client_message(exc: BaseException) -> str:
    """Domain errors keep their message; anything else is not shown (it may quote data)."""
    if isinstance(exc, InferenceError):
        return exc.message
    return f"the model failed on this request ({type(exc).__name__})"


def failure(exc: BaseException) -> Failed:
    """How an exception raised for one request is answered."""
    invalid = isinstance(exc, InferenceError) and http_status_for(exc) < 500
    return Failed(client_message(exc), invalid=invalid)


def run_isolated(
    items: Sequence[T], batch_fn: Callable[[list[T]], Sequence[R]]
) -> list[R | Failed]:
    """``batch_fn`` on all items at once; on failure, item by item to isolate the culprit."""
    if not items:
        return []
    try:
        results = list(batch_fn(list(items)))
        if len(results) != len(items):
            raise RuntimeError(f"{len(results)} results for {len(items)} inputs")
        return list(results)
    except Exception as exc:
        if len(items) == 1:
            log.warning("request failed", extra={"error": type(exc).__name__})
            return [failure(exc)]
        log.warning("batch failed; retrying its requests one by one", extra={"size": len(items)})
    return [_single(batch_fn, item) for item in items]


def _single(batch_fn: Callable[[list[T]], Sequence[R]], item: T) -> R | Failed:
    try:
        (result,) = batch_fn([item])
        return result
    except Exception as exc:
        log.warning("request failed", extra={"error": type(exc).__name__})
        return failure(exc)


def decode_each(requests: Sequence[Any], decode: Callable[[Any], T]) -> list[T | Failed]:
    """Each request's inputs, or why they are unusable (that request's error only)."""
    decoded: list[T | Failed] = []
    for request in requests:
        try:
            decoded.append(decode(request))
        except InferenceError as exc:
            decoded.append(Failed(exc.message))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            decoded.append(Failed(f"invalid request ({type(exc).__name__})"))
    return decoded


def answer_all(
    decoded: Sequence[T | Failed], batch_fn: Callable[[list[T]], Sequence[R]]
) -> list[R | Failed]:
    """Run the valid items in one batch; results come back in request order."""
    valid = [i for i, item in enumerate(decoded) if not isinstance(item, Failed)]
    outputs = run_isolated([cast(T, decoded[i]) for i in valid], batch_fn)
    answers: list[R | Failed] = [
        item if isinstance(item, Failed) else Failed("not run") for item in decoded
    ]
    for index, output in zip(valid, outputs, strict=True):
        answers[index] = output
    return answers


_INVALID_ARG, _INTERNAL = "INVALID_ARG", "INTERNAL"  # TritonError codes: HTTP 400 / 500


def respond(answers: Sequence[R | Failed], encode: Callable[[R], list[Any]]) -> list[Any]:
    """One ``InferenceResponse`` per answer: output tensors, or a ``TritonError``."""
    import triton_python_backend_utils as pb_utils

    responses = []
    for answer in answers:
        if isinstance(answer, Failed):
            code = getattr(pb_utils.TritonError, _INVALID_ARG if answer.invalid else _INTERNAL)
            error = pb_utils.TritonError(answer.message, code=code)
            responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
        else:
            responses.append(pb_utils.InferenceResponse(output_tensors=encode(answer)))
    return responses


def input_array(request: Any, name: str) -> Any:
    """The named input as numpy without the batch dimension, or None if it was not sent."""
    import triton_python_backend_utils as pb_utils

    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    array = tensor.as_numpy()
    require(array.shape[0] == 1, f"{name}: send one item per request (batch dimension 1)")
    return array[0]


def input_text(request: Any, name: str, default: str = "") -> str:
    """An optional BYTES input of shape [1] as text."""
    array = input_array(request, name)
    if array is None or array.size == 0:
        return default
    value = array.reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def require(condition: bool, message: str) -> None:
    """Input validation inside ``decode``: a failed check is that request's error."""
    if not condition:
        raise InvalidRequest(message)


def rgb_image(image: Any, *, min_side: int) -> Any:
    """Validate one request's IMAGE tensor: uint8, height x width x 3 (RGB), contiguous."""
    import numpy as np

    if image is None:
        raise InvalidRequest("IMAGE is required")
    require(image.dtype == np.uint8, "IMAGE must be UINT8")
    require(image.ndim == 3 and image.shape[2] == 3, "IMAGE must be height x width x 3 (RGB)")
    height, width = image.shape[:2]
    require(
        height >= min_side and width >= min_side,
        f"IMAGE is smaller than {min_side}x{min_side} pixels",
    )
    return np.ascontiguousarray(image)
