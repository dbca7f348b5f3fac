"""The one table that maps domain errors to HTTP statuses and client outcomes."""

from __future__ import annotations

import pytest

from inference import errors


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.UnsupportedMedia("x"), 415),
        (errors.CorruptMedia("x"), 400),
        (errors.MediaTooLarge("x"), 413),
        (errors.InvalidRequest("x"), 422),
        (errors.Overloaded("x"), 429),
        (errors.ModelNotReady("x"), 503),
        (errors.Unauthorized("x"), 401),
        (errors.InferenceError("x"), 500),
    ],
)
def test_status_of_each_domain_error(error: errors.InferenceError, status: int) -> None:
    assert errors.http_status_for(error) == status


def test_subclass_inherits_its_parent_status() -> None:
    class TooLong(errors.MediaTooLarge):
        pass

    assert errors.http_status_for(TooLong("x")) == 413


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    assert errors.outcome_for_status(status) is errors.Outcome.RETRY


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 415, 422])
def test_client_errors_fail_fast(status: int) -> None:
    assert errors.outcome_for_status(status) is errors.Outcome.FAIL


def test_table_statuses_agree_with_outcomes() -> None:
    for status, outcome in errors.ERROR_TABLE.values():
        assert errors.outcome_for_status(status) is outcome
