"""The check a model version ships with: one request and the answers expected of it.

``<model>/<version>/smoke.json`` beside the version's code and weights::

    {"inputs": {"IMAGE": {"file": "smoke_IMAGE.npy"}},
     "expect": {"TEXT": {"equals": ["over the lazy dog"]}, "CONFIDENCE": {"min": 0.5}}}

An input is a ``.npy`` file (loaded without pickle) or an inline ``value`` (a list, e.g.
``["en"]`` for a string input); a batched model gets the batch axis added when the array
has the config's rank. Each expected output says one or more of:

* ``equals``: the values, flattened (strings compare as text);
* ``contains``: a substring of the output's text;
* ``close``: numbers (or ``{"file": "x.npy"}``) equal within ``atol`` / ``rtol``;
* ``min`` / ``max``: bounds on every value;
* ``near`` with ``max_cer``: the texts read, within a character error rate of the
  expected ones (summed over the batch; spaces collapsed). For recognizers, whose new
  weights may read a line a character differently and still be right::

    "TEXT": {"near": ["Dear Mr. Chen,", "thank you for"], "max_cer": 0.05}

Nothing here depends on a model's name: the swap checks any model the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SMOKE_FILE = "smoke.json"
# Record one from a version that serves now (review the values, tighten the bounds):
#   python -m triton_models.smoke MODEL --version N --repository DIR --input IMAGE=crop.npy
CHECKS = frozenset({"equals", "contains", "close", "min", "max", "atol", "rtol", "near", "max_cer"})
DEFAULT_MAX_CER = 0.05

# Triton's config data types to numpy.
NUMPY = {
    "TYPE_FP32": np.float32,
    "TYPE_FP16": np.float16,
    "TYPE_FP64": np.float64,
    "TYPE_UINT8": np.uint8,
    "TYPE_INT8": np.int8,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_BOOL": np.bool_,
    "TYPE_STRING": np.object_,
}


class SmokeError(ValueError):
    """The version ships no usable check, or its answer does not match it."""


@dataclass(frozen=True)
class SmokeCheck:
    inputs: dict[str, np.ndarray]
    expect: dict[str, dict[str, Any]]


def _array(folder: Path, spec: Any, dtype: Any) -> np.ndarray:
    if not isinstance(spec, dict) or len({"file", "value"} & set(spec)) != 1:
        raise SmokeError(f"an input must give exactly one of 'file' or 'value': {spec!r}")
    if "file" in spec:
        path = (folder / spec["file"]).resolve()
        if folder.resolve() not in path.parents:
            raise SmokeError(f"{spec['file']} lies outside the version folder")
        loaded: np.ndarray = np.load(path, allow_pickle=False)
        return loaded
    if dtype is np.object_:
        return np.array([str(v).encode() for v in np.ravel(spec["value"])], dtype=np.object_)
    return np.asarray(spec["value"], dtype=dtype)


def load_check(version_dir: Path, config: dict[str, Any]) -> SmokeCheck:
    """Read and validate ``smoke.json`` against the model's config."""
    path = version_dir / SMOKE_FILE
    if not path.is_file():
        raise SmokeError(f"{path} is missing: a version must ship its smoke request")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SmokeError(f"{path} is not valid JSON: {exc}") from None
    specs = {spec["name"]: spec for spec in config.get("input", [])}
    outputs = {spec["name"] for spec in config.get("output", [])}
    given, expect = raw.get("inputs", {}), raw.get("expect", {})
    missing = [n for n, s in specs.items() if not s.get("optional") and n not in given]
    if missing or set(given) - set(specs):
        raise SmokeError(f"smoke inputs {sorted(given)} do not match the inputs {sorted(specs)}")
    if not expect or set(expect) - outputs:
        raise SmokeError(f"smoke expectations {sorted(expect)} must name some of {sorted(outputs)}")
    for name, rule in expect.items():
        if not isinstance(rule, dict) or not rule or set(rule) - CHECKS:
            raise SmokeError(f"{name}: unknown check {rule!r}; known: {sorted(CHECKS)}")
    arrays = {
        name: _array(version_dir, spec, NUMPY[specs[name]["data_type"]])
        for name, spec in given.items()
    }
    return SmokeCheck(batched(arrays, config), {name: dict(r) for name, r in expect.items()})


def batched(arrays: dict[str, np.ndarray], config: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each array with the batch axis a batched model expects, added when missing."""
    if int(config.get("max_batch_size", 0)) <= 0:
        return arrays
    ranks = {spec["name"]: len(spec["dims"]) for spec in config.get("input", [])}
    return {n: a[np.newaxis] if a.ndim == ranks[n] else a for n, a in arrays.items()}


def request_inputs(check: SmokeCheck, config: dict[str, Any]) -> list[Any]:
    import tritonclient.http as httpclient

    types = {spec["name"]: spec["data_type"].removeprefix("TYPE_") for spec in config["input"]}
    tensors = []
    for name, array in check.inputs.items():
        datatype = "BYTES" if types[name] == "STRING" else types[name]
        tensor = httpclient.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


def _values(array: np.ndarray) -> list[Any]:
    """Python values: text for strings, plain numbers (readable in a refusal message)."""
    values = array.ravel().tolist()
    return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in values]


def _problems(name: str, rule: dict[str, Any], got: np.ndarray, folder: Path) -> list[str]:
    values = _values(got)
    found = []
    if "equals" in rule:
        wanted = np.ravel(rule["equals"]).tolist()
        if values != wanted:
            found.append(f"{name} is {values[:8]!r}, expected {wanted[:8]!r}")
    if "contains" in rule and str(rule["contains"]) not in " ".join(map(str, values)):
        found.append(f"{name} {values[:8]!r} does not contain {rule['contains']!r}")
    if "close" in rule:
        close = rule["close"]
        wanted_array = _array(folder, close, np.float64) if isinstance(close, dict) else close
        wanted_values = np.ravel(np.asarray(wanted_array, dtype=np.float64))
        numbers = np.asarray(got, dtype=np.float64).ravel()
        atol, rtol = float(rule.get("atol", 1e-3)), float(rule.get("rtol", 1e-3))
        if numbers.shape != wanted_values.shape or not np.allclose(
            numbers, wanted_values, atol=atol, rtol=rtol
        ):
            found.append(f"{name} is not close to the expected values (atol {atol}, rtol {rtol})")
    if "near" in rule:
        found.extend(_near(name, rule, values))
    if "min" in rule and not all(v >= rule["min"] for v in values):
        found.append(f"{name} {values[:8]!r} falls below {rule['min']}")
    if "max" in rule and not all(v <= rule["max"] for v in values):
        found.append(f"{name} {values[:8]!r} exceeds {rule['max']}")
    return found


def _near(name: str, rule: dict[str, Any], values: list[Any]) -> list[str]:
    from inference.ocr_server.training.evaluate import cer

    wanted = [str(v) for v in np.ravel(rule["near"]).tolist()]
    if len(values) != len(wanted):
        return [f"{name} has {len(values)} values, expected {len(wanted)}"]
    bound = float(rule.get("max_cer", DEFAULT_MAX_CER))
    rate = cer(zip(wanted, map(str, values), strict=True))
    if rate > bound:
        return [f"{name} {values[:4]!r} reads at CER {rate:.3f} > {bound} of {wanted[:4]!r}"]
    return []


def mismatches(check: SmokeCheck, outputs: dict[str, np.ndarray | None], folder: Path) -> list[str]:
    """What differs from the expected answers; empty when the version answered right."""
    found: list[str] = []
    for name, rule in check.expect.items():
        got = outputs.get(name)
        if got is None:
            found.append(f"{name} is missing from the answer")
            continue
        found.extend(_problems(name, rule, got, folder))
    return found


def recorded(
    folder: Path, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]
) -> dict[str, Any]:
    """A smoke.json that expects ``outputs`` for ``inputs`` (saved beside it as .npy):
    text and integers exactly, floats within 1e-3."""
    spec: dict[str, Any] = {"inputs": {}, "expect": {}}
    for name, array in inputs.items():
        np.save(folder / f"smoke_{name}.npy", array)
        spec["inputs"][name] = {"file": f"smoke_{name}.npy"}
    for name, array in outputs.items():
        if array.dtype.kind in "fc":
            spec["expect"][name] = {"close": array.ravel().tolist(), "atol": 1e-3, "rtol": 1e-3}
        else:
            spec["expect"][name] = {"equals": _values(array)}
    return spec


def main(argv: list[str] | None = None) -> int:
    """Record what a serving version answers as its smoke.json (review it, then tighten)."""
    import argparse
    import logging

    import tritonclient.http as httpclient

    from inference.logs import configure_logging

    parser = argparse.ArgumentParser(description="Record a served version's smoke.json.")
    parser.add_argument("model")
    parser.add_argument("--version", type=int, required=True, help="a version served now")
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--input", action="append", required=True, help="NAME=file.npy")
    parser.add_argument("--url", default="127.0.0.1:8000", help="Triton HTTP host:port")
    args = parser.parse_args(argv)
    configure_logging("INFO")
    log = logging.getLogger("triton_models.smoke")
    inputs = {}
    for item in args.input:
        name, _, path = item.partition("=")
        inputs[name] = np.load(path, allow_pickle=False)
    folder = args.repository / args.model / str(args.version)
    with httpclient.InferenceServerClient(args.url) as client:
        config = client.get_model_config(args.model)
        check = SmokeCheck(batched(inputs, config), {})
        tensors = request_inputs(check, config)
        result = client.infer(args.model, tensors, model_version=str(args.version))
        outputs = {s["name"]: result.as_numpy(s["name"]) for s in config.get("output", [])}
    spec = recorded(folder, check.inputs, outputs)
    (folder / SMOKE_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    log.info("recorded", extra={"model": args.model, "version": args.version})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
