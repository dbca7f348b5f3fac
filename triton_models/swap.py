"""Hot swap one model version on a live Triton, without a restart and without a failed request.

    python -m triton_models.swap MODEL --version N [--repository DIR] [--source DIR]
        [--url 127.0.0.1:8000] [--admin-key-file FILE]

1. place: copy ``--source`` (or the serving version's folder) to ``DIR/MODEL/N``;
2. load: the served versions plus N, through the repository API with a config override,
   so the old version keeps serving while N initialises; a failed load stops here and
   removes what step 1 placed (the old version is untouched and keeps serving);
3. wait until N reports ready, then send it a smoke request built from its config;
4. retire: load again with only N, which unloads the old versions once their in-flight
   requests are done, and write the same ``version_policy`` into config.pbtxt so a
   restart serves N too.

Unversioned requests go to the newest ready version, so traffic moves to N in step 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inference.logs import configure_logging
from triton_models.repository import model_versions, set_version_policy

log = logging.getLogger("triton_models.swap")

# Triton's config data types to numpy, for the smoke request.
_NUMPY = {
    "TYPE_FP32": np.float32,
    "TYPE_FP16": np.float16,
    "TYPE_UINT8": np.uint8,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_BOOL": np.bool_,
    "TYPE_STRING": np.object_,
}
SMOKE_DIM = 64


class SwapError(RuntimeError):
    """The swap stopped; the versions that served before still serve."""


class AdminClient:
    """A tritonclient HTTP client that sends Triton's ``admin-key`` header with each call
    the swap makes, for servers started with ``--http-restricted-api=model-repository:...``.
    """

    _CALLS = frozenset(
        {"get_model_repository_index", "get_model_config", "load_model", "is_model_ready", "infer"}
    )

    def __init__(self, client: Any, admin_key: str) -> None:
        self._client = client
        self._headers = {"admin-key": admin_key}

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._CALLS:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return attribute(*args, headers=self._headers, **kwargs)

        return call


def served_versions(client: Any, model: str) -> list[int]:
    index = client.get_model_repository_index()
    return sorted(
        int(entry["version"])
        for entry in index
        if entry.get("name") == model and entry.get("state") == "READY" and entry.get("version")
    )


def with_versions(config: dict[str, Any], versions: Sequence[int]) -> str:
    override = dict(config)
    override["version_policy"] = {"specific": {"versions": [int(v) for v in versions]}}
    return json.dumps(override)


def smoke_inputs(config: dict[str, Any]) -> list[Any]:
    """Zeros for every required input, each variable dimension set to SMOKE_DIM."""
    import tritonclient.http as httpclient
    from tritonclient.utils import np_to_triton_dtype

    batched = int(config.get("max_batch_size", 0)) > 0
    inputs = []
    for spec in config.get("input", []):
        if spec.get("optional"):
            continue
        dims = [SMOKE_DIM if int(d) < 0 else int(d) for d in spec["dims"]]
        shape = [1, *dims] if batched else dims
        dtype = _NUMPY[spec["data_type"]]
        array = np.full(shape, b"", dtype=dtype) if dtype is np.object_ else np.zeros(shape, dtype)
        tensor = httpclient.InferInput(spec["name"], shape, np_to_triton_dtype(dtype))
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def wait_ready(client: Any, model: str, version: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not client.is_model_ready(model, str(version)):
        if time.monotonic() > deadline:
            raise SwapError(f"{model} version {version} was not ready after {timeout_s:.0f}s")
        time.sleep(0.2)


def place(repository: Path, model: str, version: int, source: Path | None) -> bool:
    """Put the version folder in place; True when this call created it."""
    target = repository / model / str(version)
    if target.exists():
        if source is not None:
            raise SwapError(f"{target} exists already; remove it or omit --source")
        _add_model_code(repository / model, target)
        return False
    if source is None:
        existing = model_versions(repository / model)
        if not existing:
            raise SwapError(f"{repository / model} has no version to copy model.py from")
        source = repository / model / str(existing[-1])
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return True


def _add_model_code(model_dir: Path, target: Path) -> None:
    """A version folder holding only new weights (the weights root may be the repository
    itself) gets the model code of the newest version that has it."""
    if (target / "model.py").exists():
        return
    for version in reversed(model_versions(model_dir)):
        code = model_dir / str(version) / "model.py"
        if code.is_file():
            shutil.copy2(code, target / "model.py")
            return
    raise SwapError(f"{target} has no model.py and no other version has one to copy")


def swap(
    client: Any,
    repository: Path,
    model: str,
    version: int,
    *,
    source: Path | None = None,
    timeout_s: float = 600.0,
) -> list[int]:
    """Serve ``version`` of ``model`` instead of the versions served now; returns those."""
    from tritonclient.utils import InferenceServerException

    old = [v for v in served_versions(client, model) if v != version]
    config = client.get_model_config(model)
    placed = place(repository, model, version, source)
    log.info("loading", extra={"model": model, "version": version, "serving": old})
    try:
        client.load_model(model, config=with_versions(config, [*old, version]))
        wait_ready(client, model, version, timeout_s)
        client.infer(model, smoke_inputs(config), model_version=str(version))
    except (InferenceServerException, SwapError) as exc:
        _roll_back(client, repository, model, version, old, config, placed)
        raise SwapError(f"{model} version {version} was refused: {_reason(exc)}") from exc
    log.info("smoke request passed; retiring", extra={"model": model, "retired": old})
    client.load_model(model, config=with_versions(config, [version]))
    config_file = repository / model / "config.pbtxt"
    config_file.write_text(set_version_policy(config_file.read_text(), [version]))
    return old


def _roll_back(
    client: Any,
    repository: Path,
    model: str,
    version: int,
    old: list[int],
    config: dict[str, Any],
    placed: bool,
) -> None:
    """Back to serving ``old`` only; a load that failed left them serving already."""
    from tritonclient.utils import InferenceServerException

    if old and client.is_model_ready(model, str(version)):
        try:
            client.load_model(model, config=with_versions(config, old))
        except InferenceServerException:
            log.exception("roll back failed", extra={"model": model, "serving": old})
    if placed:
        shutil.rmtree(repository / model / str(version), ignore_errors=True)


def _reason(exc: Exception) -> str:
    message = exc.message() if hasattr(exc, "message") else str(exc)
    return str(message).strip().splitlines()[0][:500] if message else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Hot swap a model version on a live Triton.")
    parser.add_argument("model")
    parser.add_argument("--version", type=int, required=True, help="the version to serve")
    parser.add_argument(
        "--repository",
        type=Path,
        default=Path("triton_models"),
        help="the model repository the server reads (default: triton_models)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="folder to copy in as the version (default: the newest one's)",
    )
    parser.add_argument("--url", default="127.0.0.1:8000", help="Triton HTTP host:port")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for ready")
    parser.add_argument(
        "--admin-key-file",
        type=Path,
        default=None,
        help="file holding the admin key of a Triton whose repository API is restricted",
    )
    args = parser.parse_args(argv)
    configure_logging("INFO")
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    raw = httpclient.InferenceServerClient(
        args.url, network_timeout=args.timeout, connection_timeout=args.timeout
    )
    client: Any = raw
    if args.admin_key_file is not None:
        client = AdminClient(raw, args.admin_key_file.read_text().strip())
    try:
        retired = swap(
            client,
            args.repository,
            args.model,
            args.version,
            source=args.source,
            timeout_s=args.timeout,
        )
    except SwapError as exc:
        log.error("swap refused", extra={"model": args.model, "reason": str(exc)})
        return 1
    except InferenceServerException as exc:  # e.g. the repository API refused us
        log.error("triton refused", extra={"model": args.model, "reason": _reason(exc)})
        return 1
    finally:
        raw.close()
    log.info("swapped", extra={"model": args.model, "version": args.version, "retired": retired})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
