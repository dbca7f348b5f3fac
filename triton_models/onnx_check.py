"""Offline checks of the onnxruntime models, for machines without that Triton backend.

The local Triton (the pytriton wheel) has only the python backend, so the ``*_onnx``
configs cannot be loaded here. This parses each config with Triton's own protobuf schema
(from tritonclient) and checks it against the graph in every version folder: platform,
dynamic batching, the TensorRT accelerator, and inputs/outputs by name, type and shape
(the config's dims are the graph's after the batch dimension; -1 matches a dynamic axis).

    python -m triton_models.onnx_check REPOSITORY/craft_onnx [...]
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from triton_models.repository import ONNX_FILE, model_versions

# onnx TensorProto element types -> Triton data types (those our graphs use, and kin).
_TYPES = {1: "TYPE_FP32", 10: "TYPE_FP16", 2: "TYPE_UINT8", 6: "TYPE_INT32", 7: "TYPE_INT64"}


def model_config_schema() -> Any:
    """tritonclient's ``model_config_pb2``, loaded without its gRPC package."""
    import tritonclient

    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_config(text: str) -> Any:
    """The config as a ``ModelConfig`` message; a syntax or field error raises ParseError."""
    from google.protobuf import text_format

    return text_format.Parse(text, model_config_schema().ModelConfig())


def _graph_dims(value_info: Any) -> list[int]:
    return [
        d.dim_value if d.HasField("dim_value") else -1
        for d in value_info.type.tensor_type.shape.dim
    ]


def _compare(kind: str, tensors: Any, graph_values: Any, types: Any, batched: bool) -> list[str]:
    problems = []
    graph = {value.name: value for value in graph_values}
    if sorted(graph) != sorted(t.name for t in tensors):
        problems.append(f"{kind}s {sorted(t.name for t in tensors)} != graph {sorted(graph)}")
    for tensor in tensors:
        value = graph.get(tensor.name)
        if value is None:
            continue
        wanted = _TYPES.get(value.type.tensor_type.elem_type, "?")
        declared = types.Name(tensor.data_type)
        if declared != wanted:
            problems.append(f"{kind} {tensor.name}: {declared} but the graph has {wanted}")
        dims = _graph_dims(value)
        if batched:
            if dims and dims[0] != -1:
                problems.append(f"{kind} {tensor.name}: the graph's batch axis is fixed")
            dims = dims[1:]
        config_dims = list(tensor.dims)
        if len(dims) != len(config_dims) or any(
            c != -1 and g != -1 and c != g for c, g in zip(config_dims, dims, strict=False)
        ):
            problems.append(f"{kind} {tensor.name}: dims {config_dims} vs graph {dims}")
        elif any(c != -1 and g == -1 for c, g in zip(config_dims, dims, strict=True)):
            problems.append(f"{kind} {tensor.name}: dims {config_dims} fix a dynamic graph axis")
    return problems


def check_onnx_model(model_dir: Path) -> list[str]:
    """What is wrong with one onnxruntime model folder (empty: nothing)."""
    import onnx

    schema = model_config_schema()
    config = parse_config((model_dir / "config.pbtxt").read_text())
    problems = []
    if config.platform != "onnxruntime_onnx":
        problems.append(f"platform is {config.platform!r}, not onnxruntime_onnx")
    if config.name != model_dir.name:
        problems.append(f"name {config.name!r} is not the folder's {model_dir.name!r}")
    if not config.HasField("dynamic_batching") or config.max_batch_size < 1:
        problems.append("no dynamic batching")
    accelerators = config.optimization.execution_accelerators.gpu_execution_accelerator
    if "tensorrt" not in [a.name for a in accelerators]:
        problems.append("no TensorRT accelerator for GPU instances")
    versions = model_versions(model_dir)
    if not versions:
        problems.append("no version folders")
    for version in versions:
        path = model_dir / str(version) / ONNX_FILE
        if not path.exists():
            problems.append(f"version {version} has no {ONNX_FILE}")
            continue
        graph = onnx.load(str(path), load_external_data=False).graph
        batched = config.max_batch_size > 0
        types = schema.DataType
        problems += _compare("input", config.input, graph.input, types, batched)
        problems += _compare("output", config.output, graph.output, types, batched)
    return problems


def main(argv: list[str]) -> int:
    failed = False
    for folder in argv:
        for problem in check_onnx_model(Path(folder)):
            print(f"{folder}: {problem}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
