"""What the rendered manifests must say: Pod Security "restricted", probes, GPUs, scaling,
graceful shutdown and the network policy. checkov covers the generic checks; these pin
down the project's own decisions."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.deploy.manifests import (
    OVERLAYS,
    Doc,
    config_data,
    container_env_names,
    named,
    of_kind,
    pod_specs,
    render,
)
from worker.settings import WorkerSettings


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_meet_restricted_pod_security(overlay: str) -> None:
    for name, pod in pod_specs(render(overlay)):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert sc["readOnlyRootFilesystem"] is True, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, f"{name}: /tmp must be an emptyDir"
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name


def test_namespace_enforces_restricted() -> None:
    namespace = named(render("gpu"), "Namespace", "study-savvy")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def probe_path(probe: Doc) -> str:
    return str(probe["httpGet"]["path"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_inference_services_probe_ready_and_health(overlay: str) -> None:
    docs = render(overlay)
    for name in ("asr", "ocr"):
        pod = named(docs, "Deployment", name)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert probe_path(container["startupProbe"]) == "/readyz"
        assert probe_path(container["readinessProbe"]) == "/readyz"
        assert probe_path(container["livenessProbe"]) == "/healthz"
        assert container["lifecycle"]["preStop"]["sleep"]["seconds"] >= 5
        # The worker waits up to INFERENCE_TIMEOUT_S for one request; let it finish.
        assert pod["terminationGracePeriodSeconds"] >= 600
        assert named(docs, "Service", name)["spec"]["ports"][0]["targetPort"] == "http"
        assert named(docs, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/name": name
        }


def test_gpu_overlay_requests_a_gpu_for_asr_and_ocr() -> None:
    docs = render("gpu")
    for name in ("asr", "ocr"):
        container = named(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    config = config_data(docs, "asr-config")
    assert config["ASR_DEVICE"] == "cuda"


def test_cpu_overlay_requests_no_gpu() -> None:
    for _, pod in pod_specs(render("cpu")):
        for container in pod["containers"]:
            assert "nvidia.com/gpu" not in container["resources"]["limits"]


def test_triton_serves_a_model_repository_claim_with_explicit_control() -> None:
    docs = render("gpu-triton")
    pod = named(docs, "Deployment", "triton")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    flags = shlex.split(" ".join(container["args"]).split("exec ", 1)[1])
    assert flags[0] == "tritonserver"
    assert "--model-control-mode=explicit" in flags
    assert "--model-repository=/models" in flags
    # The load/unload API needs the admin key, read from a mounted secret file.
    admin = "model-repository,shared-memory,trace,logging:admin-key=$key"
    assert f"--http-restricted-api={admin}" in flags
    assert f"--grpc-restricted-protocol={admin}" in flags
    key_file = "/run/secrets/triton-admin/admin-key"
    assert f'key="$(cat {key_file})"' in container["args"][0]
    mount = next(m for m in container["volumeMounts"] if key_file.startswith(m["mountPath"]))
    secret = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
    assert secret["secretName"] == "triton-admin-key"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    # Started once every model has loaded; then ready while the models the services call
    # are (a swap loads and unloads versions, which the server-wide check counts).
    assert probe_path(container["startupProbe"]) == "/v2/health/ready"
    script = container["readinessProbe"]["exec"]["command"][2]
    probed = set(re.search(r"for m in ([\w\s-]+);", script).group(1).split())  # type: ignore[union-attr]
    asr, ocr = config_data(docs, "asr-config"), config_data(docs, "ocr-config")
    called = {
        asr["ASR_TRITON_MODEL"],
        ocr["OCR_TRITON__DETECTOR_MODEL"],
        ocr["OCR_TRITON__RECOGNIZER_MODEL"],
    }
    assert probed == called
    assert '"http://127.0.0.1:8000/v2/models/$m/ready" || exit 1' in script
    models = next(v for v in pod["volumes"] if v["name"] == "models")
    claim = models["persistentVolumeClaim"]["claimName"]
    assert named(docs, "PersistentVolumeClaim", claim)
    assert config_data(docs, "asr-config")["ASR_ENGINE"] == "triton"


def worker_pod(docs: tuple[Doc, ...]) -> Doc:
    return dict(named(docs, "Deployment", "worker")["spec"]["template"]["spec"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_shutdown_outlasts_the_longest_task(overlay: str) -> None:
    docs = render(overlay)
    config = config_data(docs, "worker-config")
    limit = int(config.get("TASK_TIME_LIMIT_S", WorkerSettings().task_time_limit_s))
    assert worker_pod(docs)["terminationGracePeriodSeconds"] > limit


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_probes_see_the_consumer_and_the_broker(overlay: str) -> None:
    """Liveness: the consumer's heartbeat (/livez); readiness: a broker PING (/readyz).
    Both on the worker's own port, no `celery inspect` round trip; /metrics answers from
    a thread of its own and says nothing about the consumer."""
    docs = render(overlay)
    container = worker_pod(docs)["containers"][0]
    live, ready = container["livenessProbe"], container["readinessProbe"]
    assert "exec" not in live, "an exec probe would be a `celery inspect` round trip"
    assert probe_path(live) == "/livez"
    assert probe_path(ready) == "/readyz"
    port_name = live["httpGet"]["port"]
    assert ready["httpGet"]["port"] == port_name
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == port_name)
    config = config_data(docs, "worker-config")
    assert int(config["METRICS_PORT"]) == port, "the probes must hit the worker's own port"
    window = float(config.get("LIVENESS_WINDOW_S", WorkerSettings().liveness_window_s))
    # A stuck worker is restarted within a few minutes: the window plus the failures.
    restart_after = window + live["periodSeconds"] * live["failureThreshold"]
    assert restart_after <= 300
    # The heartbeat's first window covers the start (connect to Redis), with room.
    assert live["initialDelaySeconds"] + window >= 60
    args = container["args"]
    assert "--pool=threads" in args
    assert "--without-mingle" in args


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_flower_runs_behind_basic_auth_with_its_own_network_policy(overlay: str) -> None:
    docs = render(overlay)
    deployment = named(docs, "Deployment", "flower")
    assert deployment["spec"]["replicas"] == 1, "each Flower keeps its own view of events"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["--app=worker.app", "flower"]
    env = {e["name"]: e for e in container["env"]}
    auth = env["FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"]
    assert (auth["name"], auth["key"]) == ("study-savvy-flower", "basic-auth")
    assert "optional" not in auth, "Flower never runs without its password"
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "study-savvy-redis"
    assert config_data(docs, "flower-config")["FLOWER_PORT"] == "5555"
    assert probe_path(container["livenessProbe"]) == "/healthcheck"
    assert named(docs, "Service", "flower")["spec"]["ports"][0]["targetPort"] == "http"
    policy = named(docs, "NetworkPolicy", "flower")["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "flower"}
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (egress,) = policy["egress"]
    assert egress["ports"] == [{"protocol": "TCP", "port": 6379}], "Redis only"
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 5555}]
    assert all("podSelector" not in source for source in ingress["from"])
    assert {
        s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for s in ingress["from"]
    } == {"ingress-nginx", "monitoring"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_alert_rules_and_dashboard_ship_with_every_overlay(overlay: str) -> None:
    docs = render(overlay)
    rule = named(docs, "PrometheusRule", "study-savvy")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert "StudySavvyWorkerStalled" in alerts
    assert named(docs, "ConfigMap", "study-savvy-dashboard")["metadata"]["labels"] == {
        "grafana_dashboard": "1",
        "app.kubernetes.io/part-of": "study-savvy",
    }


@pytest.mark.parametrize("overlay", [o for o in OVERLAYS if o != "gpu-hpa"])
def test_keda_scales_the_worker_on_the_celery_list(overlay: str) -> None:
    docs = render(overlay)
    scaled = named(docs, "ScaledObject", "worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "worker"
    assert scaled["spec"]["minReplicaCount"] >= 1
    (trigger,) = scaled["spec"]["triggers"]
    meta = trigger["metadata"]
    config = config_data(docs, "worker-config")
    assert trigger["type"] == "redis"
    assert meta["listName"] == "celery"
    assert meta["databaseIndex"] == config["REDIS_DB"]
    worker_env = container_env_names(docs, worker_pod(docs)["containers"][0])
    assert {meta["hostFromEnv"], meta["portFromEnv"]} <= worker_env
    auth = named(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"][0]["name"] == "study-savvy-redis"


def test_hpa_alternative_replaces_keda() -> None:
    docs = render("gpu-hpa")
    assert not of_kind(docs, "ScaledObject")
    assert not of_kind(docs, "TriggerAuthentication")
    hpa = named(docs, "HorizontalPodAutoscaler", "worker")
    assert hpa["spec"]["minReplicas"] >= 1
    metric = hpa["spec"]["metrics"][0]["external"]["metric"]
    assert metric["selector"]["matchLabels"] == {"key": "celery"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_denies_by_default_and_allows_the_needed_flows(overlay: str) -> None:
    docs = render(overlay)
    deny = named(docs, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    worker_egress = named(docs, "NetworkPolicy", "worker")["spec"]["egress"]
    ports = {p["port"] for rule in worker_egress for p in rule["ports"]}
    assert {8101, 8102, 6379, 3306, 443, 587} <= ports
    for name, port in (("asr", 8101), ("ocr", 8102)):
        (rule,) = named(docs, "NetworkPolicy", name)["spec"]["ingress"]
        sources = [s.get("podSelector", {}).get("matchLabels") for s in rule["from"]]
        assert {"app.kubernetes.io/name": "worker"} in sources
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_shipped(overlay: str) -> None:
    docs = render(overlay)
    assert not of_kind(docs, "Secret"), "secrets are created by the admin (docs/deploy.md)"
    pod = worker_pod(docs)
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in pod["containers"][0]["env"]
        if "valueFrom" in e
    }
    assert {"study-savvy-redis", "study-savvy-smtp", "study-savvy-database"} <= refs
    rsa = next(v for v in pod["volumes"] if v["name"] == "rsa-key")
    assert rsa["secret"]["secretName"] == "study-savvy-rsa"
    config = config_data(docs, "worker-config")
    assert config["PRIVATE_KEY_PATH"].startswith("/secrets/rsa/")
    media = next(v for v in pod["volumes"] if v["name"] == "media")
    assert media["persistentVolumeClaim"]["claimName"] == "study-savvy-media"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_are_scraped(overlay: str) -> None:
    docs = render(overlay)
    monitor = named(docs, "ServiceMonitor", "inference")
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/component": "inference"
    }
    for name in ("asr", "ocr"):
        labels = named(docs, "Service", name)["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "inference"
    assert (
        named(docs, "PodMonitor", "worker")["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    )
