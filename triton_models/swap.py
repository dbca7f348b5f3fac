"""Hot swap one model version on a live Triton: no restart, no failed request, and no
live request ever answered by a version that has not passed its check.

    python -m triton_models.swap MODEL --version N [--repository DIR] [--source DIR]
        [--url 127.0.0.1:8000] [--admin-key-file FILE]

1. place: copy ``--source`` to ``DIR/MODEL/N`` (or use the folder already there) and give
   it the model code of the newest version when it has none;
2. stage: load N alone under the model name ``MODEL-staging``, which no live client asks
   for, send it the request that N ships in ``smoke.json`` and compare the answer with the
   expected values there (triton_models/smoke.py); then unload it. Anything wrong (it
   does not load, it fails, it answers differently) stops here: the versions that served
   before were never touched, and the folder step 1 placed is removed;
3. promote: load the served versions plus N under the live name (the old ones keep
   serving while N initialises), wait for N, check it once more, then load N alone, which
   retires the old versions after their in-flight requests, and write the same
   ``version_policy`` into config.pbtxt so a restart serves N too.

Unversioned requests go to the newest ready version, so live traffic reaches N in step 3
only, once N has answered its check.
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

from inference.logs import configure_logging
from triton_models.repository import model_versions, rewrite_config, set_version_policy
from triton_models.smoke import SmokeCheck, SmokeError, load_check, mismatches, request_inputs

log = logging.getLogger("triton_models.swap")

STAGING_SUFFIX = "-staging"


class SwapError(RuntimeError):
    """The swap stopped; the versions that served before still serve."""


class AdminClient:
    """A tritonclient HTTP client that sends Triton's ``admin-key`` header with each call
    the swap makes, for servers started with ``--http-restricted-api=model-repository:...``.
    """

    _CALLS = frozenset(
        {
            "get_model_repository_index",
            "get_model_config",
            "load_model",
            "unload_model",
            "is_model_ready",
            "infer",
        }
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


def staging_name(model: str) -> str:
    return f"{model}{STAGING_SUFFIX}"


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


def staged_config(config: dict[str, Any], name: str, version: int) -> str:
    """The live config under the staging name, serving only ``version``, one instance."""
    override = dict(config, name=name)
    groups = override.get("instance_group") or []
    if groups:
        override["instance_group"] = [dict(groups[0], count=1)]
    return with_versions(override, [version])


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
        raise SwapError(f"{target} does not exist: put the version there or give --source")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        _add_model_code(repository / model, target)
    except SwapError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return True


def _add_model_code(model_dir: Path, target: Path) -> None:
    """A version folder holding only new weights (the weights root may be the repository
    itself) gets the model code of the newest version that has it."""
    if (target / "model.py").exists() or any(target.glob("model.*")):
        return
    for version in reversed(model_versions(model_dir)):
        code = model_dir / str(version) / "model.py"
        if code.is_file():
            shutil.copy2(code, target / "model.py")
            return
    raise SwapError(f"{target} has no model file and no other version has one to copy")


def answer(
    client: Any, model: str, version: int, check: SmokeCheck, config: dict[str, Any]
) -> dict[str, Any]:
    result = client.infer(model, request_inputs(check, config), model_version=str(version))
    return {spec["name"]: result.as_numpy(spec["name"]) for spec in config.get("output", [])}


def verify(
    client: Any,
    model: str,
    version: int,
    check: SmokeCheck,
    config: dict[str, Any],
    folder: Path,
) -> None:
    """Send the version's smoke request; SwapError unless it answers what it ships."""
    problems = mismatches(check, answer(client, model, version, check, config), folder)
    if problems:
        raise SwapError(f"{model} version {version} answered wrongly: {'; '.join(problems)}")


def stage(
    client: Any,
    repository: Path,
    model: str,
    version: int,
    *,
    check: SmokeCheck,
    config: dict[str, Any],
    timeout_s: float,
) -> None:
    """Load ``version`` alone under the staging name, verify it, and unload it again."""
    from tritonclient.utils import InferenceServerException

    name = staging_name(model)
    folder = repository / name
    shutil.rmtree(folder, ignore_errors=True)  # left over from an interrupted swap
    folder.mkdir()
    try:
        text = rewrite_config((repository / model / "config.pbtxt").read_text(), name=name)
        (folder / "config.pbtxt").write_text(set_version_policy(text, [version]))
        (folder / str(version)).symlink_to((repository / model / str(version)).resolve())
        log.info("staging", extra={"model": model, "version": version, "as": name})
        client.load_model(name, config=staged_config(config, name, version))
        wait_ready(client, name, version, timeout_s)
        verify(client, name, version, check, config, repository / model / str(version))
        log.info("staging check passed", extra={"model": model, "version": version})
    finally:
        try:
            client.unload_model(name)
        except InferenceServerException:
            log.warning("could not unload the staging model", extra={"model": name})
        shutil.rmtree(folder, ignore_errors=True)


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
    folder = repository / model / str(version)
    try:
        check = load_check(folder, config)
        stage(client, repository, model, version, check=check, config=config, timeout_s=timeout_s)
    except (InferenceServerException, SwapError, SmokeError, OSError) as exc:
        if placed:
            shutil.rmtree(folder, ignore_errors=True)
        raise SwapError(f"{model} version {version} was refused: {_reason(exc)}") from exc
    log.info("promoting", extra={"model": model, "version": version, "serving": old})
    try:
        client.load_model(model, config=with_versions(config, [*old, version]))
        wait_ready(client, model, version, timeout_s)
        verify(client, model, version, check, config, folder)
    except (InferenceServerException, SwapError) as exc:
        _roll_back(client, model, version, old, config)
        raise SwapError(f"{model} version {version} was refused: {_reason(exc)}") from exc
    log.info("promoted; retiring", extra={"model": model, "retired": old})
    client.load_model(model, config=with_versions(config, [version]))
    config_file = repository / model / "config.pbtxt"
    config_file.write_text(set_version_policy(config_file.read_text(), [version]))
    return old


def _roll_back(
    client: Any, model: str, version: int, old: list[int], config: dict[str, Any]
) -> None:
    """Back to serving ``old`` only (the version folder stays: it passed staging)."""
    from tritonclient.utils import InferenceServerException

    if old:
        try:
            client.load_model(model, config=with_versions(config, old))
        except InferenceServerException:
            log.exception("roll back failed", extra={"model": model, "serving": old})


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
        help="folder to copy in as the version: model code (optional), weights, smoke.json",
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
