"""Alert rules and the dashboard: promtool accepts them, each alert has unit tests that
fire and stay quiet, the cluster's copies equal compose's, and the dashboard is wired to
the Prometheus data source. (That every metric they name is exported is checked against
the running services in tests/triton/test_monitoring_metrics.py.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy import monitoring
from tests.deploy.manifests import named, render
from tests.support.services import IN_CI

ALERTS = {
    "StudySavvyQueueBacklogGrowing",
    "StudySavvyMissionFailureRatioHigh",
    "StudySavvyInference5xxRatioHigh",
    "StudySavvyInference429RatioHigh",
    "StudySavvyBatchWaitP95High",
    "StudySavvyModelNotReady",
    "StudySavvyTritonInferenceFailing",
    "StudySavvyWorkerStalled",
    "StudySavvyWorkersNotConsuming",
}


def promtool(*args: str, cwd: Path = monitoring.RULES.parent) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is missing (scripts/install.sh installs Debian's prometheus)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        [found, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_promtool_checks_the_rules_and_the_config() -> None:
    rules = promtool("check", "rules", monitoring.RULES.name)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = promtool("check", "config", monitoring.PROMETHEUS_CONFIG.name)
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", monitoring.RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_rule_fails_its_unit_test(tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against a rule with a wrong threshold."""
    rule = "studysavvy:mission_failure:ratio_rate15m > "
    text = monitoring.RULES.read_text(encoding="utf-8")
    assert f"{rule}0.1" in text
    (tmp_path / "rules.yml").write_text(text.replace(f"{rule}0.1", f"{rule}0.5"))
    shutil.copy(monitoring.RULE_TESTS, tmp_path / "rules.test.yml")
    result = promtool("test", "rules", "rules.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "StudySavvyMissionFailureRatioHigh" in result.stdout + result.stderr


def test_the_rules_cover_what_the_issue_asks_and_each_alert_is_unit_tested() -> None:
    alerts = {rule["alert"] for rule in monitoring.rules() if "alert" in rule}
    assert alerts >= ALERTS
    tests = yaml.safe_load(monitoring.RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    firing, quiet = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert alerts <= firing, f"never seen firing: {alerts - firing}"
    assert alerts <= quiet, f"never seen staying quiet: {alerts - quiet}"
    for rule in monitoring.rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert {"summary", "description"} <= set(rule["annotations"])


def test_the_cluster_ships_the_same_rules_and_dashboard() -> None:
    """k8s/base/monitoring holds copies (kustomize reads only below it); regenerate them
    with `python scripts/render_monitoring.py`."""
    rendered = named(render("gpu"), "PrometheusRule", "study-savvy")
    assert rendered["spec"]["groups"] == monitoring.rule_groups()
    copy = (monitoring.K8S_MONITORING / monitoring.DASHBOARD.name).read_text(encoding="utf-8")
    assert copy == monitoring.DASHBOARD.read_text(encoding="utf-8")
    configmap = named(render("gpu"), "ConfigMap", "study-savvy-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"][monitoring.DASHBOARD.name] == copy


def test_every_dashboard_panel_queries_the_provisioned_prometheus() -> None:
    board = monitoring.dashboard()
    (variable,) = board["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) >= 12
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
    provisioned = yaml.safe_load(
        (monitoring.MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert (provisioned["type"], provisioned["url"]) == ("prometheus", "http://prometheus:9090")


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        'sum by (le, batcher) (rate(inference_batch_wait_seconds_bucket{route!~"/x"}[5m]))'
        " / on () group_left (service) up_total offset 5m > 1e3 and vector(0)"
    )
    assert monitoring.metric_names(expr) == {"inference_batch_wait_seconds_bucket", "up_total"}
    used = monitoring.used_metric_names()
    assert "studysavvy_worker_queue_length" in used
    assert not [name for name in used if ":" in name], "recording rules are not exports"
