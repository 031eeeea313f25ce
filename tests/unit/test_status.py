"""`rds-xacct status`'s judgement (rds_xacct.jobs.status.join): a database is stale by its newest
copy, failing by its last failure against that copy, and a run in flight is its second chance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rds_xacct.jobs.freshness import Freshness
from rds_xacct.jobs.runs import Run
from rds_xacct.jobs.status import FAILING, NEVER_COPIED, NOT_COVERED, OK, STALE, Status, join

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def _fresh(
    database: str,
    *,
    newest_copy: str | None = "arn:aws:rds:eu-west-1:222222222222:snapshot:xacct-x",
    recovery_point: datetime | None = NOW - timedelta(hours=6),
    age_hours: float | None = 6.0,
    stale: bool = False,
) -> Freshness:
    """A covered DB instance, by default copied 6 hours ago."""
    return Freshness(
        database=database,
        kind="db",
        source_arn="",
        newest_copy=newest_copy,
        recovery_point=recovery_point,
        age_hours=age_hours,
        stale=stale,
    )


def _run(database: str, status: str = "FAILED", **fields: Any) -> Run:
    made = fields.pop("data_of", None)
    summary = {"source": {"createdAt": made.strftime("%Y-%m-%dT%H:%M:%SZ")}} if made else None
    return Run(
        name=f"run-{database}",
        arn=f"arn:aws:states:eu-west-1:111111111111:execution:m:run-{database}",
        status=status,
        started_at=fields.pop("started_at", NOW - timedelta(hours=1)),
        database=database,
        kind="db",
        summary=summary,
        **fields,
    )


def _verdicts(status: Status) -> dict[str, str]:
    return {line.database: line.verdict for line in status.databases}


def test_each_covered_database_is_judged_by_its_newest_copy() -> None:
    fresh = [
        _fresh("fresh-db"),
        _fresh("old-db", recovery_point=NOW - timedelta(hours=30), age_hours=30, stale=True),
        _fresh("new-db", newest_copy=None, recovery_point=None, age_hours=None, stale=True),
    ]
    status = Status(NOW, 26, join(fresh, [], []))
    assert _verdicts(status) == {"fresh-db": OK, "old-db": STALE, "new-db": NEVER_COPIED}
    assert [line.database for line in status.needs_a_look] == ["new-db", "old-db"]


def test_a_failure_about_newer_data_than_the_newest_copy_is_failing() -> None:
    # the run failed copying a snapshot taken after the newest copy's data
    failed = [_run("orders-db", data_of=NOW - timedelta(hours=2), step="CopyBackup")]
    lines = join([_fresh("orders-db")], [], failed)
    assert [line.verdict for line in lines] == [FAILING]
    assert lines[0].last_failure is failed[0]


def test_a_failure_about_older_data_than_the_newest_copy_is_shown_but_not_failing() -> None:
    # a backfill of an old snapshot failed; newer data was copied since
    failed = [_run("orders-db", data_of=NOW - timedelta(days=5))]
    lines = join([_fresh("orders-db")], [], failed)
    assert [line.verdict for line in lines] == [OK]
    assert lines[0].last_failure is failed[0]


def test_a_failure_with_a_run_of_the_database_in_flight_is_being_tried_again() -> None:
    never = _fresh("orders-db", newest_copy=None, recovery_point=None, age_hours=None, stale=True)
    lines = join([never], [_run("orders-db", "RUNNING", step="CheckBackup")], [_run("orders-db")])
    assert [line.verdict for line in lines] == [NEVER_COPIED]
    assert [run.step for run in lines[0].in_flight] == ["CheckBackup"]
    assert not lines[0].failing


def test_a_failure_before_the_run_knew_its_source_counts_from_when_it_started() -> None:
    failed = [_run("orders-db", started_at=NOW - timedelta(hours=1))]  # no summary: no source
    assert [line.verdict for line in join([_fresh("orders-db")], [], failed)] == [FAILING]


def test_a_database_the_deployment_does_not_cover_gets_a_line_for_its_runs_only() -> None:
    lines = join([], [_run("elsewhere-db", "RUNNING", step="Share")], [])
    assert [(line.database, line.covered, line.verdict) for line in lines] == [
        ("elsewhere-db", False, NOT_COVERED)
    ]
    assert Status(NOW, 26, lines).needs_a_look == []


def test_the_json_names_every_column() -> None:
    lines = join([_fresh("orders-db")], [_run("orders-db", "RUNNING", step="Share")], [])
    entry = Status(NOW, 26, lines).to_dict()
    assert entry["healthy"] is True
    assert entry["databases"][0] == {
        "database": "orders-db",
        "kind": "db",
        "covered": True,
        "sourceArn": "",
        "newestCopy": "arn:aws:rds:eu-west-1:222222222222:snapshot:xacct-x",
        "recoveryPoint": "2026-11-24T02:00:00Z",
        "ageHours": 6.0,
        "stale": False,
        "failing": False,
        "verdict": OK,
        "inFlight": [{"name": "run-orders-db", "step": "Share"}],
        "lastFailure": None,
    }
