"""`GET /health` reports a scheduled job whose last run failed (503, which job, its
error's class, the failures in a row; never the message), on SQLite and PostgreSQL, and
clears once the job succeeds."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sequestra.service.app import create_app
from sequestra.service.job_outcomes import JOB_OUTCOMES, JobOutcomes
from sequestra.service.scheduler import run_job
from tests.composed import APPLICATION
from tests.custody.conftest import Custody, custody  # noqa: F401

SECRET = "postgresql://watcher:hunter2@db/ledger"


class NodeDown(RuntimeError):
    pass


def broken_watch() -> None:
    raise NodeDown(f"could not reach {SECRET}")


def healthy_watch() -> None:
    return None


def test_a_failing_job_makes_health_not_ok(custody: Custody) -> None:  # noqa: F811
    outcomes = JobOutcomes()
    app = create_app(custody.world.engine, APPLICATION, job_outcomes=outcomes)
    client = TestClient(app)
    assert client.get("/health").status_code == 200
    outcomes.failed("watch", NodeDown(SECRET))
    outcomes.failed("watch", NodeDown(SECRET))
    outcomes.succeeded("checkpoint")
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "job_failing"
    ((failing),) = body["jobs_failing"]
    assert failing["job"] == "watch" and failing["last_error_kind"] == "NodeDown"
    assert failing["failures_in_a_row"] == 2
    assert "hunter2" not in response.text
    outcomes.succeeded("watch")
    assert client.get("/health").status_code == 200


def test_run_job_records_each_outcome() -> None:
    JOB_OUTCOMES.clear()
    try:
        with pytest.raises(NodeDown):
            run_job("watch", "tests.service.test_health_jobs:broken_watch")
        (failing,) = JOB_OUTCOMES.failing()
        assert (failing.job, failing.error_kind, failing.failures_in_a_row) == (
            "watch",
            "NodeDown",
            1,
        )
        run_job("watch", "tests.service.test_health_jobs:healthy_watch")
        assert JOB_OUTCOMES.failing() == []
    finally:
        JOB_OUTCOMES.clear()
