"""The CI variant of bench/load.py: 200 missions at once, and a short fixed-concurrency
run against the real ASR and OCR services."""

from __future__ import annotations

import pytest

from bench.load import run_missions, run_services
from tests.reliability.harness import record
from tests.support.services import require_service

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.mark.timeout(240)
def test_200_missions_at_once_all_succeed_once(redis_url: str, mariadb_url: str) -> None:
    require_service("MariaDB", "127.0.0.1", 3306)
    result = run_missions(200, baseline=5)
    load = result["load"]
    assert load["success"] == 200
    assert load["lost"] == 0
    assert load["duplicates"] == 0
    assert result["llm_calls"] >= 205
    # Throughput and latency are recorded (docs/reliability.md), not asserted.
    record(
        "200 text missions pushed at once",
        happened=f"{load['missions_per_s']} missions/s, p50 {load['latency_p50_s']} s, "
        f"p95 {load['latency_p95_s']} s",
        recover_s=load["wall_s"],
        lost=load["lost"],
        duplicates=load["duplicates"],
    )


@pytest.mark.timeout(300)
def test_asr_and_ocr_hold_a_fixed_concurrency_without_errors() -> None:
    services = run_services(total=16, concurrency=4)
    for name in ("asr", "ocr"):
        loaded = services[name]["loaded"]
        assert loaded["error_ratio"] == 0, loaded
        assert loaded["p95_s"] > 0
