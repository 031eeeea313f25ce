"""The error table is the one place errors are defined: the exceptions, `classify`, the
notification's hint, the ASL's Retry/Catch and the docs' troubleshooting table all follow it;
every Task's Retry is its retry policies, spelled out from one definition."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rds_xacct.aws.clients import classify
from rds_xacct.model import errors, settings
from rds_xacct.model.constants import UNCATCHABLE_ERRORS
from rds_xacct.model.error_table import (
    APP,
    ERRORS,
    LAMBDA,
    STEP_FUNCTIONS,
    WILDCARD,
    entry,
    error_equals,
    for_aws_error,
    hint,
    retried_app_errors,
)
from rds_xacct.model.generate import (
    ASL,
    ASL_SOURCE,
    OPERATIONS,
    asl_text,
    table_span,
    troubleshooting_table,
    with_troubleshooting_table,
)
from rds_xacct.model.retry_policy import POLICIES
from rds_xacct.model.summary import build_summary
from rds_xacct.model.times import utc_now

NAMES = {error.name for error in ERRORS}


def _asl() -> dict[str, Any]:
    asl: dict[str, Any] = json.loads(ASL.read_text())
    return asl


def _source() -> dict[str, Any]:
    source: dict[str, Any] = json.loads(ASL_SOURCE.read_text())
    return source


def retry_differences(asl: dict[str, Any], source: dict[str, Any]) -> list[str]:
    """Each Task whose Retry is not, retrier by retrier, the policies its source names (each
    policy's numbers, and the errors the error table retries with it)."""
    problems = []
    for name, state in asl["States"].items():
        if state["Type"] != "Task":
            continue
        named = source["States"][name].get("Retry", [])
        expected = [POLICIES[p].retrier(error_equals(POLICIES[p])) for p in named]
        actual = state.get("Retry", [])
        if len(actual) != len(expected):
            problems.append(
                f"{name}: {len(actual)} retriers, its policies {named} make {len(expected)}"
            )
        for i, (have, want) in enumerate(zip(actual, expected, strict=False)):
            if have != want:
                problems.append(f"{name}: retrier {i} is {have}, policy {named[i]!r} is {want}")
    return problems


def test_the_asl_is_its_source_with_the_retry_policies_spelled_out() -> None:
    # The committed ASL is what `make asl` writes: edit state-machine/copy-snapshot.source.json
    # (or the policies, or the error table), then run `make asl`
    assert ASL.read_text() == asl_text(ASL_SOURCE.read_text()), "run `make asl`"


def test_every_tasks_retry_is_the_defined_policies() -> None:
    asl, source = _asl(), _source()
    tasks = [name for name, state in asl["States"].items() if state["Type"] == "Task"]
    assert len(tasks) == 17
    assert all(source["States"][name].get("Retry") for name in tasks)
    assert retry_differences(asl, source) == []


@pytest.mark.parametrize(
    "change",
    ["MaxAttempts", "IntervalSeconds", "BackoffRate", "JitterStrategy", "ErrorEquals", "order"],
)
def test_a_task_whose_retry_differs_from_its_policy_is_found(change: str) -> None:
    # Given the ASL with one Task's Retry edited by hand
    asl = copy.deepcopy(_asl())
    retry = asl["States"]["CopyBackup"]["Retry"]
    if change == "order":
        retry.reverse()
    elif change == "ErrorEquals":
        retry[2]["ErrorEquals"] = retry[2]["ErrorEquals"][:-1]
    elif change == "JitterStrategy":
        retry[2]["JitterStrategy"] = "NONE"
    else:
        retry[2][change] += 1
    # Then the check names that Task
    problems = retry_differences(asl, _source())
    assert problems
    assert all(p.startswith("CopyBackup: ") for p in problems)


def test_every_policy_is_used_and_retries_errors_of_the_table() -> None:
    used = {p for state in _source()["States"].values() for p in state.get("Retry", [])}
    assert used == set(POLICIES)
    for policy in POLICIES.values():
        assert error_equals(policy), policy.name
    assert {e.retry for e in ERRORS if e.retry} == set(POLICIES.values())


def test_every_error_name_in_the_asl_is_in_the_table() -> None:
    named = {
        error
        for state in _asl()["States"].values()
        for rule in [*state.get("Retry", []), *state.get("Catch", [])]
        for error in rule["ErrorEquals"]
    }
    assert named - {WILDCARD} <= NAMES
    # Step Functions' errors no Catch can handle are in it too (the notification names them)
    assert {e.name for e in ERRORS if e.by == STEP_FUNCTIONS} >= set(UNCATCHABLE_ERRORS)


def test_the_apps_error_names_are_its_exception_classes() -> None:
    classes = {
        cls.__name__
        for module in (errors, settings)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, errors.PipelineError)
    }
    # EventSkipped never reaches the state machine (DescribeSource makes it a skip)
    assert {e.name for e in ERRORS if e.by == APP} == classes - {"PipelineError", "EventSkipped"}
    assert {e.by for e in ERRORS} == {APP, LAMBDA, STEP_FUNCTIONS}
    assert len(NAMES) == len(ERRORS)


def test_the_retryable_exceptions_are_the_ones_the_table_retries() -> None:
    assert {cls.__name__ for cls in errors.RETRYABLE} == set(retried_app_errors())
    assert {cls.__name__ for cls in errors.RETRYABLE} == {
        e.name for e in ERRORS if e.by == APP and e.retry is not None
    }


def test_an_aws_code_names_one_error() -> None:
    # A code may be in two rows only when one of them asks for a message too (RDS's
    # SnapshotQuotaExceeded: copies in progress, or the manual snapshot quota)
    for error in ERRORS:
        for other in ERRORS:
            shared = error.aws_codes & other.aws_codes
            if error is not other and shared:
                assert (error.aws_message is None) != (other.aws_message is None), shared


def _client_error(code: str, message: str = "refused", status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "CopyDBSnapshot")


@pytest.mark.parametrize(
    ("code", "name"),
    [(code, e.name) for e in ERRORS if e.aws_message is None for code in sorted(e.aws_codes)],
)
def test_classify_raises_the_tables_exception_with_its_words(code: str, name: str) -> None:
    raised = classify(_client_error(code), "Copying")
    assert type(raised).__name__ == name
    row = entry(name)
    assert row is not None
    assert str(raised) == f"Copying failed: {code}: refused" + (
        f". {row.detail}" if row.detail else ""
    )


def test_classify_tells_the_copy_limit_by_its_message_and_5xx_from_other_errors() -> None:
    limit = classify(
        _client_error("SnapshotQuotaExceeded", "Cannot copy more than 20 snapshots"), "C"
    )
    assert type(limit) is errors.CopyLimitReached
    assert for_aws_error("SnapshotQuotaExceeded", "Cannot create more than 100", 400).name == (
        "QuotaExceeded"
    )
    assert type(classify(_client_error("InternalFailure", status=500), "C")) is (
        errors.ServiceUnavailable
    )
    assert type(classify(_client_error("Whatever"), "C")) is errors.AwsError


def test_the_failure_notification_gives_the_tables_hint() -> None:
    for error in ERRORS:
        state = {"error": {"Error": error.name, "Cause": "x"}}
        failure = build_summary(
            state,
            outcome="failed",
            execution_arn="arn:aws:states:eu-west-1:1:execution:m:r",
            now=utc_now(),
        )["failure"]
        assert failure["hint"] == error.hint == hint(error.name)
    assert hint("Unknown.Error") == "See the execution in the console for details."


def test_the_troubleshooting_table_of_the_docs_is_the_error_tables() -> None:
    doc = OPERATIONS.read_text()
    start, end = table_span(doc.splitlines())
    assert doc.splitlines()[start:end] == troubleshooting_table(), "run `make asl`"
    assert with_troubleshooting_table(doc) == doc
    for name in NAMES:
        assert f"`{name}`" in "\n".join(troubleshooting_table()), name


def test_the_other_troubleshooting_rows_name_errors_and_states_that_exist() -> None:
    # The hand-written table after the generated one: each error or state it names is real
    lines = OPERATIONS.read_text().splitlines()
    _, end = table_span(lines)
    rows = []
    for line in lines[end + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("| ") and not line.startswith("| Symptom"):
            rows.append(line.split(" | ")[0])
    assert len(rows) > 10
    states = set(_asl()["States"])
    named = {n for row in rows for n in re.findall(r"`([A-Z][A-Za-z]+(?:\.[A-Za-z]+)?)`", row)}
    assert named
    assert named <= NAMES | states, named - NAMES - states
