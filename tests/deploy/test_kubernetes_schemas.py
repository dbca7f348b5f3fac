"""Every object each overlay renders is valid against the Kubernetes API schemas, offline."""

from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy.crd_schemas import CRD_SCHEMAS
from tests.deploy.manifests import OVERLAYS, Doc, named, render

# The oldest API the manifests may use: the native preStop `sleep` action is GA here.
KUBERNETES_VERSION = "1.33"


def validate(doc: Doc) -> None:
    schema = CRD_SCHEMAS.get(doc["kind"])
    if schema is not None:
        jsonschema.validate(doc, schema)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_every_overlay_is_found() -> None:
    assert {"cpu", "gpu", "gpu-triton", "gpu-hpa"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_objects_validate(overlay: str) -> None:
    docs = render(overlay)
    assert docs, "kustomize rendered nothing"
    for doc in docs:
        validate(doc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_namespace(overlay: str) -> None:
    for doc in render(overlay):
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "study-savvy", doc["metadata"]


def test_a_misspelt_field_is_caught() -> None:
    """The validation above is strict: an unknown field fails instead of being dropped."""
    deployment = copy.deepcopy(named(render("gpu"), "Deployment", "asr"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbes"] = container.pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    scaled = copy.deepcopy(named(render("gpu"), "ScaledObject", "worker"))
    scaled["spec"]["minReplicas"] = 1
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)
