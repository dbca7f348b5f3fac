"""Write the cluster's copies of the monitoring files from compose's, which are the source.

    python scripts/render_monitoring.py

* compose/monitoring/prometheus/rules.yml -> k8s/base/monitoring/prometheus-rule.yaml
  (the same groups inside a PrometheusRule);
* compose/monitoring/grafana/dashboards/study-savvy.json -> k8s/base/monitoring/ (kustomize
  reads files only below the kustomization, so the ConfigMap needs its own copy).

tests/deploy/test_monitoring.py fails when the copies drift.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "compose" / "monitoring" / "prometheus" / "rules.yml"
DASHBOARD = ROOT / "compose" / "monitoring" / "grafana" / "dashboards" / "study-savvy.json"
K8S = ROOT / "k8s" / "base" / "monitoring"
HEADER = """\
# Generated from compose/monitoring/prometheus/rules.yml by scripts/render_monitoring.py:
# edit that file, then run the script. The Prometheus Operator loads it; add the label
# your Prometheus' ruleSelector asks for (kube-prometheus-stack: `release: <name>`).
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, the way they are written in rules.yml."""


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def prometheus_rule() -> str:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "study-savvy", "labels": {"app.kubernetes.io/name": "study-savvy"}},
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(rule, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def main() -> None:
    K8S.mkdir(parents=True, exist_ok=True)
    (K8S / "prometheus-rule.yaml").write_text(prometheus_rule(), encoding="utf-8")
    shutil.copyfile(DASHBOARD, K8S / DASHBOARD.name)


if __name__ == "__main__":
    main()
