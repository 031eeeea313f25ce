"""The fault matrix: every step x every fault (simulation/faults.py), each run end to end.

For each cell, one run meets the fault at the AWS call inside the step (or around the handler:
a Lambda service error, a Lambda timeout after the work was done, a stop right after the step),
then the same event is delivered again. Every cell asserts:

* the run ends as the matrix says (succeeded through retries, or FAILED with the error),
* its notifications say so (one per outcome; a failure names the step and the error),
* nothing is left that is not a complete backup copy (or, when Cleanup itself is denied, what
  is left is named in the notification), and no copy slot stays taken,
* snapshots the app did not make (the same database's manual snapshot, another database's, one
  in the backup account) are untouched,
* the redelivery ends with exactly one good backup copy (none for a cell at the retention's end:
  the copy's time is over),
* no secret (the Slack webhook URL, a credential) is in the logs of either run.

DeleteBackup's way to the backup account's keeper (the Invoke, the keeper's own calls) is also
faulted call by call: the matrix's cell meets the step's first call only.

One simulation is deployed per worker and shared by the cells, each with its own database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto.rds.models import rds_backends

from rds_xacct.model.constants import RETENTION_TAG, SLOT_LEASE_SECONDS, TAG_SOURCE_ARN
from simulation.driver import Simulation, outcomes
from simulation.faults import (
    ACCESS_DENIED,
    ASL,
    BASE_FAILURE_STEP,
    FAULTS,
    MATRIX,
    NETWORK,
    NOT_APPLICABLE,
    RETRIED,
    RUN,
    STEP_CALLS,
    STOPPED,
    THROTTLING,
    Cell,
    documented_failure_table,
    failure_table,
)
from simulation.world import (
    BACKUP_ACCOUNT,
    MAIN_ACCOUNT,
    REGION,
    TEST_ENVIRONMENT,
    UNSET_IN_TESTS,
    postgres_instance,
    session_in,
)


class Foreign:
    """Snapshots the app must never touch: another database's manual snapshot in the main
    account and a manual snapshot in the backup account (each cell adds its own database's)."""

    def __init__(self, sim: Simulation) -> None:
        sim.world.database("unrelated-db", size_gib=1)
        sim.world.native_snapshot("unrelated-db", "unrelated-db-by-hand")
        rds = session_in(BACKUP_ACCOUNT).client("rds")
        postgres_instance(rds, "backup-own-db", size_gib=1)
        rds.create_db_snapshot(DBInstanceIdentifier="backup-own-db", DBSnapshotIdentifier="own")
        self.sim = sim
        self.rds = sim.world.main.client("rds")
        self.before = self._state()

    @contextmanager
    def with_cell_snapshot(self, database: str) -> Iterator[None]:
        """The cell's database's own manual snapshot, untouched through the cell; afterwards it
        and the cell's copies are deleted, so that the shared world stays small."""
        rds = self.rds
        rds.create_db_snapshot(
            DBInstanceIdentifier=database, DBSnapshotIdentifier=f"{database}-own"
        )
        self.before = self._state()
        try:
            yield
        finally:
            rds.delete_db_snapshot(DBSnapshotIdentifier=f"{database}-own")
            for account in (MAIN_ACCOUNT, BACKUP_ACCOUNT):
                backend = rds_backends[account][REGION]
                for copy in self.sim.world.app_copies(account):
                    backend.database_snapshots.pop(copy["id"], None)
            self.before = self._state()

    def _state(self) -> dict[str, tuple[str, dict[str, str]]]:
        found = {}
        for account in (MAIN_ACCOUNT, BACKUP_ACCOUNT):
            for snapshot in self.sim.world.snapshots(account):
                if not snapshot["tags"].get(TAG_SOURCE_ARN):
                    found[snapshot["arn"]] = (snapshot["status"], snapshot["tags"])
        return found

    def intact(self) -> bool:
        return self._state() == self.before


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulation]:
    with pytest.MonkeyPatch.context() as patch:
        for name in UNSET_IN_TESTS:
            patch.delenv(name, raising=False)
        for name, value in TEST_ENVIRONMENT.items():
            patch.setenv(name, value)
        with Simulation() as simulation:
            simulation.recording = False  # no timeline: the cells assert on the accounts
            yield simulation


@pytest.fixture(scope="module")
def foreign(sim: Simulation) -> Foreign:
    return Foreign(sim)


def _deliver(sim: Simulation, cell: Cell, event: dict[str, Any]) -> Any:
    if cell.step == "Cleanup":
        sim.inject_failure(BASE_FAILURE_STEP)
    if cell.fault == STOPPED:
        sim.stop_run_after(cell.step)
    else:
        sim.aws_faults.plan(cell.step, cell.fault)
    try:
        result = sim.deliver(event)
    finally:
        plan = sim.aws_faults.clear()
        sim.failures.clear()
        sim.stop_after = None
    return result, plan


def _left_named(copies: list[dict[str, Any]], message: str) -> bool:
    return all(copy["arn"] in message or copy["id"] in message for copy in copies)


@pytest.mark.parametrize("cell", RUN, ids=[c.id for c in RUN])
def test_fault(sim: Simulation, foreign: Foreign, cell: Cell) -> None:
    # Given a database of its own, a manual snapshot of it the app must leave alone, and the
    # fault armed at the step
    database = f"{cell.step.lower()}-{cell.fault}"
    event = sim.backup_event(database, size_gib=1, tags={RETENTION_TAG: str(cell.retention_days)})
    with foreign.with_cell_snapshot(database):
        _run_cell(sim, foreign, cell, event)


def _run_cell(sim: Simulation, foreign: Foreign, cell: Cell, event: dict[str, Any]) -> None:
    source = event["resources"][0]
    logs_from = len(sim.logs.getvalue())

    # When the event is delivered
    result, plan = _deliver(sim, cell, event)

    # Then the fault was met where the matrix says
    if cell.fault != STOPPED:
        assert plan is not None
        assert plan.hits >= 1, f"{cell.id}: the fault was never injected"
    # And the run ended as documented
    assert (result.status, result.error) == (cell.status, cell.error), result.cause
    # And its notifications say what happened, one per outcome
    assert outcomes(result.sns) == cell.outcomes
    assert len(result.slack) == cell.slack_messages
    if cell.status == "FAILED":
        failure = result.sns[-1]
        assert failure["subject"].endswith(f" at {cell.failed_step}"), failure["subject"]
        assert str(cell.error) in failure["message"]
        slack_text = str(result.slack[-1])
        assert cell.failed_step in slack_text
        assert str(cell.error) in slack_text
    # And nothing is left that is not a complete backup copy (or, when Cleanup itself failed,
    # what is left is named in the failure notification)
    main = [c for c in sim.world.app_copies(MAIN_ACCOUNT) if c["tags"][TAG_SOURCE_ARN] == source]
    backup = [
        c for c in sim.world.app_copies(BACKUP_ACCOUNT) if c["tags"][TAG_SOURCE_ARN] == source
    ]
    unfinished = main + [c for c in backup if c["status"] != "available"]
    if cell.step == "Cleanup" and cell.fault not in (STOPPED, *RETRIED):
        assert _left_named(unfinished, result.sns[-1]["message"]), unfinished
    else:
        assert unfinished == [], unfinished
    assert len(backup) <= 1
    # And nothing the app did not make was touched
    assert foreign.intact()

    # When the same event is delivered again, once any slot lease of the first run has lapsed
    sim.clock.advance(SLOT_LEASE_SECONDS + 3600)
    again = sim.deliver(event)

    # Then it ends with exactly one good backup copy (none once the retention is over)
    assert again.status == "SUCCEEDED", again.cause
    assert outcomes(again.sns) == ["succeeded"]
    main = [c for c in sim.world.app_copies(MAIN_ACCOUNT) if c["tags"][TAG_SOURCE_ARN] == source]
    backup = [
        c for c in sim.world.app_copies(BACKUP_ACCOUNT) if c["tags"][TAG_SOURCE_ARN] == source
    ]
    assert main == []
    expected = 0 if cell.retention_days else 1
    assert [c["status"] for c in backup] == ["available"] * expected
    # And every copy slot is given back
    for pool in sim.copy_slots().values():
        assert pool == {"inUse": 0, "holders": [], "waiting": []}
    assert foreign.intact()
    # And no secret reached the logs of either run
    logs = sim.logs.getvalue()[logs_from:]
    assert "Run summary" in logs
    assert sim.secrets_in(logs) == []
    assert sim.secrets_in(json.dumps(result.sns + again.sns + result.slack)) == []
    # And every AWS call a step made is in the matrix's inventory
    for step, calls in sim.aws_faults.observed.items():
        if step in STEP_CALLS:
            assert calls <= set(STEP_CALLS[step]), f"{step} calls {calls - set(STEP_CALLS[step])}"


KEEPER_ROUTE = [
    # (call, fault, how the run ends, its error, in the failure message)
    # (the role whose session signs the call of the keeper's URL; the call itself is HTTP, not
    # an SDK call this matrix meets: tests/unit/test_steps.py maps its statuses)
    ("sts:AssumeRole", THROTTLING, "SUCCEEDED", None, None),
    ("sts:AssumeRole", ACCESS_DENIED, "FAILED", "AccessDenied", "sts:AssumeRole"),
    ("dynamodb:GetItem", THROTTLING, "SUCCEEDED", None, None),
    ("sts:AssumeRole", NETWORK, "SUCCEEDED", None, None),
    # the keeper's delete unanswered: the keeper raises NetworkError, which comes back to the
    # step by name and is retried; the keeper, asked again, deletes (or answers `gone`)
    ("rds:DeleteDBSnapshot", NETWORK, "SUCCEEDED", None, None),
    (
        "rds:DeleteDBSnapshot",
        ACCESS_DENIED,
        "FAILED",
        "AwsError",
        "The backup account's keeper failed (AccessDenied)",
    ),
]
"""DeleteBackup's way to the keeper, fault by fault at the one call (the matrix's cell meets
the step's first call that can raise the fault, its AssumeRole): the role assumed to sign the
call of the keeper's URL, and the keeper's own calls, in the backup account."""


@pytest.mark.parametrize(
    ("call", "fault", "status", "error", "named"),
    KEEPER_ROUTE,
    ids=[f"{call}-{fault}" for call, fault, *_ in KEEPER_ROUTE],
)
def test_a_fault_on_the_way_to_the_keeper(
    sim: Simulation,
    foreign: Foreign,
    call: str,
    fault: str,
    status: str,
    error: str | None,
    named: str | None,
) -> None:
    # Given a run at the end of its retention, and the fault armed at one call of DeleteBackup
    database = f"keeper-{call.split(':')[1].lower()}-{fault}"
    cell = Cell("DeleteBackup", fault)
    event = sim.backup_event(database, size_gib=1, tags={RETENTION_TAG: str(cell.retention_days)})
    source = event["resources"][0]
    with foreign.with_cell_snapshot(database):
        # When the event is delivered
        sim.aws_faults.plan("DeleteBackup", fault, only={call})
        try:
            result = sim.deliver(event)
        finally:
            plan = sim.aws_faults.clear()

        # Then the fault was met at that call
        assert plan is not None
        assert plan.hits >= 1
        assert set(plan.calls) == {call}
        # And the run ended as the error the keeper's answer becomes says: a throttle (of the
        # Invoke, or raised by the keeper under its own name) is retried; a denial fails it
        assert (result.status, result.error) == (status, error), result.cause
        backup = [
            c for c in sim.world.app_copies(BACKUP_ACCOUNT) if c["tags"][TAG_SOURCE_ARN] == source
        ]
        if status == "SUCCEEDED":
            # And the keeper deleted the copy at the end of its retention (one notification:
            # the copy's)
            assert outcomes(result.sns) == ["succeeded"]
            assert backup == []
        else:
            # And the failure notification names what was refused; the complete copy is kept
            assert outcomes(result.sns) == ["succeeded", "failed"]
            assert result.sns[-1]["subject"].endswith(" at DeleteBackup")
            assert str(named) in result.sns[-1]["message"]
            assert [c["status"] for c in backup] == ["available"]
        assert foreign.intact()


def test_the_matrix_is_every_step_times_every_fault() -> None:
    assert len(MATRIX) == len(STEP_CALLS) * len(FAULTS)
    assert {(c.step, c.fault) for c in MATRIX} == {(s, f) for s in STEP_CALLS for f in FAULTS}
    # a cell not run says why
    assert all(c.reason == "not applicable: the step makes no such call" for c in NOT_APPLICABLE)
    assert all(c.reason == "" for c in RUN)


def test_the_documented_failure_table_is_the_matrixs() -> None:
    # The table in docs/operations.md (error, where, what the app does, what to do) is the one
    # the matrix gives
    assert documented_failure_table() == failure_table()


def test_the_steps_are_the_state_machines_tasks() -> None:
    definition = json.loads(ASL.read_text())
    tasks = {name for name, state in definition["States"].items() if state["Type"] == "Task"}
    notify = {"NotifyCopied", "NotifySkipped", "NotifyFailure", "Summarize"}
    assert tasks - notify | {"Notify"} == set(STEP_CALLS)
