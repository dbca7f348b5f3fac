"""The compose files parse, and every service, volume, secret and build they name exists."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.deploy.dockerfiles import parse_dockerfile
from tests.deploy.manifests import COMPOSE, Doc, load_compose, merge_compose
from tests.support.services import REPO

GPU_SERVICES = {"asr", "ocr", "triton"}


def gpu_project() -> Doc:
    return load_compose("compose.yaml")


def cpu_project() -> Doc:
    return merge_compose(load_compose("compose.yaml"), load_compose("compose.cpu.yaml"))


def volume_source(entry: str | Doc) -> str:
    return entry["source"] if isinstance(entry, dict) else entry.split(":", 1)[0]


@pytest.mark.parametrize("project", [gpu_project, cpu_project], ids=["gpu", "cpu"])
def test_references_resolve(project: object) -> None:
    doc = project()  # type: ignore[operator]
    services = doc["services"]
    volumes = set(doc.get("volumes", {}))
    secrets = set(doc.get("secrets", {}))
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
        for entry in service.get("volumes", []):
            source = volume_source(entry)
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name} mounts unknown volume {source}"
        for secret in service.get("secrets", []):
            assert secret in secrets, f"{name} uses unknown secret {secret}"
        assert "healthcheck" in service, f"{name} has no healthcheck"


def test_every_declared_volume_and_secret_is_used() -> None:
    doc = gpu_project()
    used_volumes = {
        volume_source(v) for s in doc["services"].values() for v in s.get("volumes", [])
    }
    used_secrets = {x for s in doc["services"].values() for x in s.get("secrets", [])}
    assert set(doc["volumes"]) == used_volumes & set(doc["volumes"])
    assert set(doc["secrets"]) == used_secrets


def test_secret_files_stay_out_of_git() -> None:
    for secret in gpu_project()["secrets"].values():
        path = (COMPOSE / secret["file"]).resolve()
        assert path.parent == COMPOSE / "secrets", path
    ignore = (COMPOSE / "secrets" / ".gitignore").read_text(encoding="utf-8").split()
    assert ignore[0] == "*"


def test_builds_point_at_existing_stages() -> None:
    for name, service in gpu_project()["services"].items():
        build = service.get("build")
        if build is None:
            continue
        context = (COMPOSE / build["context"]).resolve()
        assert context == REPO, f"{name}: images build from the repository root"
        stages = parse_dockerfile(context / build["dockerfile"])
        if "target" in build:
            assert build["target"] in {s.name for s in stages}, f"{name}: no such stage"


def test_gpu_file_reserves_gpus_and_cpu_override_drops_them() -> None:
    for name in GPU_SERVICES:
        devices = gpu_project()["services"][name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"], name
        assert "deploy" not in cpu_project()["services"][name], name
    cpu = cpu_project()["services"]
    assert cpu["asr"]["environment"]["ASR_DEVICE"] == "cpu"
    assert cpu["ocr"]["environment"]["OCR_DEVICE"] == "cpu"
    assert cpu["asr"]["build"]["args"]["TORCH_INDEX_URL"].endswith("/cpu")


def test_redis_has_password_and_persistence() -> None:
    redis = gpu_project()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "requirepass" in command
    assert "/run/secrets/redis_password" in command
    assert "--appendonly yes" in command
    assert any(volume_source(v) == "redis-data" for v in redis["volumes"])


def test_worker_matches_the_contract_and_shuts_down_gracefully() -> None:
    worker = gpu_project()["services"]["worker"]
    env = worker["environment"]
    assert env["PRIVATE_KEY_PATH"] == "/run/secrets/rsa_private_key"
    assert {"redis_password", "smtp_password", "rsa_private_key"} <= set(worker["secrets"])
    grace = int(re.fullmatch(r"(\d+)s", worker["stop_grace_period"]).group(1))  # type: ignore[union-attr]
    assert grace > int(env["TASK_TIME_LIMIT_S"])
    media = next(v for v in worker["volumes"] if volume_source(v) == "media")
    assert media.endswith(":ro")
    assert gpu_project()["volumes"]["media"]["name"] == "study-savvy-media"


def test_triton_uses_explicit_model_control() -> None:
    triton = gpu_project()["services"]["triton"]
    script = " ".join(triton["command"])
    flags = shlex.split(script.split("exec ", 1)[1])
    assert flags[0] == "tritonserver"
    assert "--model-control-mode=explicit" in flags
    admin = "model-repository,shared-memory,trace,logging:admin-key=$$key"
    assert f"--http-restricted-api={admin}" in flags
    assert f"--grpc-restricted-protocol={admin}" in flags
    assert 'key="$$(cat /run/secrets/triton_admin_key)"' in script
    assert "triton_admin_key" in triton["secrets"]
    assert any(volume_source(v) == "triton-models" for v in triton["volumes"])
    assert "/v2/health/ready" in " ".join(triton["healthcheck"]["test"])


def test_worker_healthcheck_sees_the_consumer() -> None:
    check = " ".join(gpu_project()["services"]["worker"]["healthcheck"]["test"])
    assert "http://127.0.0.1:9100/livez" in check


def test_flower_is_an_optional_profile_behind_basic_auth() -> None:
    services = gpu_project()["services"]
    flower = services["flower"]
    assert flower["profiles"] == ["flower"]
    script = " ".join(flower["entrypoint"])
    assert 'FLOWER_BASIC_AUTH="$$(cat /run/secrets/flower_basic_auth)"' in script
    assert "exec celery --app=worker.app flower" in script
    assert {"flower_basic_auth", "redis_password"} <= set(flower["secrets"])
    assert flower["ports"] == ["127.0.0.1:5555:5555"], "loopback only"
    assert flower["build"]["target"] == "flower"
    assert "/healthcheck" in " ".join(flower["healthcheck"]["test"])
    # Every service without a profile starts by default; the optional ones stay off.
    optional = {name for name, service in services.items() if service.get("profiles")}
    assert optional == {"flower", "prometheus", "grafana"}


def test_monitoring_profile_provisions_rules_and_dashboard() -> None:
    services = gpu_project()["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["profiles"] == grafana["profiles"] == ["monitoring"]
    mounts = {volume_source(v): v for v in prometheus["volumes"]}
    assert mounts["./monitoring/prometheus"].endswith(":/etc/prometheus:ro")
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert (COMPOSE / "monitoring/prometheus/rules.yml").is_file()
    grafana_mounts = {volume_source(v): v.split(":")[1] for v in grafana["volumes"]}
    assert grafana_mounts["./monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert grafana_mounts["./monitoring/grafana/dashboards"] == "/etc/grafana/dashboards"
    provider = (COMPOSE / "monitoring/grafana/provisioning/dashboards/study-savvy.yml").read_text()
    assert "path: /etc/grafana/dashboards" in provider
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == (
        "/run/secrets/grafana_admin_password"
    )
    for name in ("prometheus", "grafana"):
        assert services[name]["ports"][0].startswith("127.0.0.1:"), name
