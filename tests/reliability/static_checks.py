"""Security scans of the code and the installed dependencies, with reports in bench/results.

* bandit on worker/ inference/ triton_models/ demo/: every finding of medium or high
  severity fails; low ones are reported. Justified exceptions are marked inline with
  ``# nosec <id>`` and a reason, or (for false positives) in ``bandit.yaml``.
* pip-audit of the project's virtualenv: advisories that have a fixed version fail,
  advisories with no fix are reported only. pip-audit needs the PyPI/OSV vulnerability
  service; when it cannot be reached the report says so and nothing fails.

    python -m tests.reliability.static_checks   # writes both reports, exits 1 on failure
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
SCANNED = ["worker", "inference", "triton_models", "demo"]
BANDIT_CONFIG = Path(__file__).with_name("bandit.yaml")
FAILING_SEVERITIES = {"MEDIUM", "HIGH"}

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    report: Path
    failures: list[str] = field(default_factory=list)


def _write(name: str, document: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def run_bandit(timeout_s: float = 240.0) -> Verdict:
    args = [str(BIN / "bandit"), "-c", str(BANDIT_CONFIG), "-r", *SCANNED, "-f", "json", "-q"]
    done = subprocess.run(
        args, cwd=REPO, capture_output=True, timeout=timeout_s, check=False, text=True
    )
    raw = json.loads(done.stdout)
    findings = [
        {
            "test_id": item["test_id"],
            "severity": item["issue_severity"],
            "confidence": item["issue_confidence"],
            "where": f"{item['filename']}:{item['line_number']}",
            "text": item["issue_text"],
        }
        for item in raw["results"]
    ]
    failures = [
        f"{f['test_id']} {f['severity']} {f['where']}: {f['text']}"
        for f in findings
        if f["severity"] in FAILING_SEVERITIES
    ]
    totals = raw["metrics"]["_totals"]
    report = _write(
        "bandit.json",
        {
            "tool": "bandit",
            "scanned": SCANNED,
            "skipped_by_config": ["B413"],
            "nosec_justified": totals.get("skipped_tests", 0) + totals.get("nosec", 0),
            "lines_of_code": totals.get("loc"),
            "failing": failures,
            "findings": findings,
            "errors": raw.get("errors", []),
        },
    )
    return Verdict(report, failures)


def _unreachable(stderr: str) -> bool:
    markers = (
        "ConnectionError",
        "Max retries exceeded",
        "NameResolution",
        "ProxyError",
        "Connection refused",
        "Failed to establish",
        "ReadTimeout",
        "ConnectTimeout",
        "Temporary failure in name resolution",
        "Network is unreachable",
    )
    return any(marker in stderr for marker in markers)


def run_pip_audit(timeout_s: float = 300.0) -> Verdict:
    """Audit the environment this interpreter runs in (the project's .venv)."""
    scratch = RESULTS / ".pip-audit-raw.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "pip_audit",
        "--format",
        "json",
        "--output",
        str(scratch),
        "--progress-spinner",
        "off",
        "--skip-editable",
        "--timeout",
        "20",
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(
            args, cwd=REPO, capture_output=True, timeout=timeout_s, check=False, text=True
        )
    except subprocess.TimeoutExpired:
        return Verdict(
            _write(
                "pip-audit.json",
                {
                    "tool": "pip-audit",
                    "reachable": False,
                    "reason": f"no answer in {timeout_s:.0f}s",
                },
            )
        )
    took = round(time.monotonic() - started, 1)
    if not scratch.exists():
        reachable = not _unreachable(done.stderr)
        document = {
            "tool": "pip-audit",
            "reachable": reachable,
            "reason": "vulnerability service unreachable" if not reachable else "pip-audit failed",
            "last_error": (done.stderr.strip().splitlines() or [""])[-1][:500],
            "seconds": took,
        }
        failures = [] if not reachable else [f"pip-audit failed: {done.stderr[-500:]}"]
        return Verdict(_write("pip-audit.json", document), failures)
    raw = json.loads(scratch.read_text())
    scratch.unlink()
    advisories = [
        {
            "package": dep["name"],
            "version": dep["version"],
            "id": vuln["id"],
            "aliases": vuln.get("aliases", []),
            "fix_versions": vuln.get("fix_versions", []),
        }
        for dep in raw.get("dependencies", [])
        for vuln in dep.get("vulns", [])
    ]
    fixable = [a for a in advisories if a["fix_versions"]]
    failures = [
        f"{a['package']} {a['version']}: {a['id']} fixed in {', '.join(a['fix_versions'])}"
        for a in fixable
    ]
    document = {
        "tool": "pip-audit",
        "reachable": True,
        "seconds": took,
        "packages": len(raw.get("dependencies", [])),
        "advisories": advisories,
        "with_fix": len(fixable),
        "without_fix": len(advisories) - len(fixable),
        "skipped": raw.get("skipped", []) if isinstance(raw, dict) else [],
    }
    return Verdict(_write("pip-audit.json", document), failures)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    failed = False
    for verdict in (run_bandit(), run_pip_audit()):
        log.info("report: %s", verdict.report)
        for failure in verdict.failures:
            log.error("%s", failure)
        failed = failed or bool(verdict.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
