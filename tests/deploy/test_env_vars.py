"""Every variable a Deployment, ConfigMap or compose service sets is one its settings
class reads, so a typo cannot silently fall back to a default."""

from __future__ import annotations

import importlib

import pytest
from pydantic_settings import BaseSettings

from tests.deploy.manifests import (
    OVERLAYS,
    container_env_names,
    load_compose,
    merge_compose,
    pod_specs,
    render,
)
from tests.support.settings_env import accepted_env_names, unknown_env_names

# Container (and compose service) name -> the one settings class of that process.
SETTINGS = {
    "worker": ("worker.settings", "WorkerSettings"),
    "asr": ("inference.asr_server.settings", "AsrSettings"),
    "ocr": ("inference.ocr_server.settings", "OcrSettings"),
    "triton": ("triton_models.runtime.common", "RuntimeSettings"),
    # Flower runs the worker's app (its settings) and reads FLOWER_<option> itself.
    "flower": ("worker.settings", "WorkerSettings"),
}
# Third-party images in compose, configured by their own documented variables.
THIRD_PARTY = {"redis", "mysql", "prometheus", "grafana"}


def flower_options() -> set[str]:
    """FLOWER_<NAME> for every option Flower defines (flower/options.py)."""
    import flower.options  # noqa: F401  (defines them)
    from tornado.options import options

    return {f"FLOWER_{name.upper().replace('-', '_')}" for name in options._options}


def unknown_names(name: str, names: set[str]) -> set[str]:
    if name == "flower":
        names = {n for n in names if not n.startswith("FLOWER_")} | (
            {n for n in names if n.startswith("FLOWER_")} - flower_options()
        )
    return unknown_env_names(names, settings_for(name))


def settings_for(name: str) -> type[BaseSettings]:
    module, cls = SETTINGS[name]
    found = getattr(importlib.import_module(module), cls)
    assert issubclass(found, BaseSettings)
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_set_only_known_variables(overlay: str) -> None:
    docs = render(overlay)
    for deployment, pod in pod_specs(docs):
        for container in pod["containers"]:
            assert container["name"] in SETTINGS, f"{deployment}: no settings class mapped"
            names = container_env_names(docs, container)
            unknown = unknown_names(container["name"], names)
            assert not unknown, f"{overlay}/{deployment}: unknown variables {sorted(unknown)}"


@pytest.mark.parametrize("files", [["compose.yaml"], ["compose.yaml", "compose.cpu.yaml"]])
def test_compose_services_set_only_known_variables(files: list[str]) -> None:
    project = load_compose(files[0])
    for extra in files[1:]:
        project = merge_compose(project, load_compose(extra))
    for name, service in project["services"].items():
        if name in THIRD_PARTY:
            continue
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use the mapping form"
        # The worker's (and Flower's) entrypoint exports the secret files under these names.
        exported = {
            "worker": {"REDIS_PASSWORD", "SMTP_PASSWORD", "DATABASE_URL"},
            "flower": {"REDIS_PASSWORD", "FLOWER_BASIC_AUTH"},
        }.get(name, set())
        unknown = unknown_names(name, set(environment) | exported)
        assert not unknown, f"{name}: unknown variables {sorted(unknown)}"


def test_nested_names_come_from_the_model() -> None:
    asr = accepted_env_names(settings_for("asr"))
    assert {"ASR_PORT", "ASR_BATCH__MAX_BATCH_SIZE", "ASR_DEVICE"} <= asr
    worker = accepted_env_names(settings_for("worker"))
    assert {"REDIS_PASSWORD", "REDIS_DB", "CELERY_TASK", "DIRECTORY_AUDIO"} <= worker


def test_a_flower_option_typo_is_reported() -> None:
    assert unknown_names("flower", {"FLOWER_BASIC_AUTH", "FLOWER_MAX_TASK", "REDIS_HOST"}) == {
        "FLOWER_MAX_TASK"
    }


def test_a_typo_is_reported() -> None:
    names = {"ASR_PORT", "ASR_BATCH__MAX_BATCH", "ASR_DEVIC", "ASR_BATCH__MAX_QUEUE"}
    assert unknown_env_names(names, settings_for("asr")) == {"ASR_BATCH__MAX_BATCH", "ASR_DEVIC"}
    assert unknown_env_names({"REDIS_PASWORD"}, settings_for("worker")) == {"REDIS_PASWORD"}
