"""template.yaml and the ASL agree with each other and with the code's contracts."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    COPY_DEADLINE_HOURS,
    COPY_ID_PREFIX,
    DEFAULT_MAX_COPIES_IN_FLIGHT,
    DEFAULT_MIN_RETENTION_DAYS,
    DEFAULT_RETENTION_DAYS,
    EXECUTION_LIMIT_DAYS,
    KEEPER_CALLER_TIMEOUT_SECONDS,
    KEEPER_READ_TIMEOUT_SECONDS,
    KEEPER_TIMEOUT_SECONDS,
    MAX_RECOVERY_POINT_OBJECTIVE_HOURS,
    MAX_RETENTION_DAYS,
    RDS_COPIES_IN_PROGRESS_LIMIT,
    RECOVERY_POINT_OBJECTIVE_HOURS,
    RETRY_ALLOWANCE_HOURS,
    RUN_MARGIN_HOURS,
    SLOT_RECHECK_SECONDS,
    SLOT_WAIT_HOURS,
    TAG_APP,
    UNCATCHABLE_ERRORS,
    WATCH_SCHEDULE,
    WORST_CASE_COPY_HOURS,
)
from rds_xacct.model.metrics import DATABASES_WITHOUT_FRESH_COPY, DIMENSION, NAMESPACE, SERVICE
from rds_xacct.model.settings import (
    ENV_COPY_RDS_AUTOMATED,
    ENV_COPY_RDS_AUTOMATED_CLUSTER,
    ENV_RPO_HOURS,
)
from rds_xacct.pipeline import reporting
from simulation.cfn_yaml import iam_actions, load_cfn_yaml
from simulation.faults import LAMBDA_DIED_ERRORS
from simulation.moto import event_matches
from simulation.sam_template import (
    BACKUP_TEMPLATE,
    ROOT,
    TEMPLATE,
    App,
    Resolver,
    load_app,
    state_machine_resource,
)

README = ROOT / "README.md"
DESIGN_DOC = ROOT / "docs" / "design.md"
CAPACITY_DOC = ROOT / "docs" / "capacity-and-costs.md"
"""Where the docs state the numbers these tests check against the code (limits in the last)."""

LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_cfn_yaml(TEMPLATE)


@pytest.fixture(scope="module")
def asl_text(template: dict[str, Any]) -> str:
    _, machine = state_machine_resource(template)
    return (ROOT / str(machine["Properties"]["DefinitionUri"])).read_text()


@pytest.fixture(scope="module")
def asl(asl_text: str) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(asl_text)
    return definition


def test_every_asl_placeholder_has_a_substitution_and_no_substitution_is_unused(
    template: dict[str, Any], asl_text: str
) -> None:
    _, machine = state_machine_resource(template)
    substitutions = set(machine["Properties"]["DefinitionSubstitutions"])
    placeholders = set(re.findall(r"\$\{(\w+)\}", asl_text))
    assert placeholders == substitutions


def test_every_task_has_lambda_retries_with_jitter_and_a_catch(asl: dict[str, Any]) -> None:
    tasks = {name: s for name, s in asl["States"].items() if s["Type"] == "Task"}
    assert len(tasks) >= 10
    for name, state in tasks.items():
        retried = {e for retry in state.get("Retry", []) for e in retry["ErrorEquals"]}
        assert retried >= LAMBDA_ERRORS, name
        for retry in state["Retry"]:
            assert retry["JitterStrategy"] == "FULL", name
            assert retry["BackoffRate"] > 1, name
        assert state.get("Catch"), name
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name


def test_error_names_in_the_asl_are_exception_classes(asl: dict[str, Any]) -> None:
    names = {
        error
        for state in asl["States"].values()
        for rule in [*state.get("Retry", []), *state.get("Catch", [])]
        for error in rule["ErrorEquals"]
    }
    ours = {n for n in names if not n.startswith(("States.", "Lambda."))} - set(LAMBDA_DIED_ERRORS)
    classes = {
        n for n, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)
    }
    assert ours
    assert ours <= classes
    assert {cls.__name__ for cls in errors.RETRYABLE} <= ours


def test_every_task_that_retries_throttling_retries_network_and_service_errors_alike(
    asl: dict[str, Any],
) -> None:
    # A network failure, or a service failing on its side (5xx, a keeper that died), that
    # outlasts the SDK's retries clears by itself as throttling does: every Task retrying
    # `Throttled` retries `NetworkError` and `ServiceUnavailable` with the same retrier (same
    # backoff, so the run's worst-case retry time is unchanged)
    tasks = {name: s for name, s in asl["States"].items() if s["Type"] == "Task"}
    throttled = {
        name: retrier
        for name, state in tasks.items()
        for retrier in state.get("Retry", [])
        if "Throttled" in retrier["ErrorEquals"]
    }
    assert len(throttled) >= 10
    for name, retrier in throttled.items():
        assert "NetworkError" in retrier["ErrorEquals"], name
        assert "ServiceUnavailable" in retrier["ErrorEquals"], name
    assert errors.NetworkError in errors.RETRYABLE
    assert errors.ServiceUnavailable in errors.RETRYABLE


def test_a_failed_run_ends_in_fail_after_cleanup_and_notification(asl: dict[str, Any]) -> None:
    states = asl["States"]
    work = {
        name: state
        for name, state in states.items()
        if state["Type"] == "Task"
        and state["Resource"] not in ("${NotifyFunctionArn}", "${CleanupFunctionArn}")
    }
    assert len(work) == 12
    for name, state in work.items():
        if name.startswith("WaitFor"):
            assert state["Catch"][-1]["Next"] == "Cleanup", name
        elif name.startswith("Release"):
            # giving a slot back is bookkeeping: a failure there lets the backup go on (the
            # slot's lease lapses and a waiting run reaps it)
            assert state["Catch"][0]["Next"] == state["Next"], name
        else:
            assert state["Catch"][0]["Next"] == "Cleanup", name
    assert states["Cleanup"]["Next"] == "NotifyFailure"
    assert states["Cleanup"]["Catch"][0]["Next"] == "NotifyFailure"
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["NotifyFailure"]["Catch"][0]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"


def test_a_notification_that_fails_never_changes_the_outcome(asl: dict[str, Any]) -> None:
    states = asl["States"]
    notifications = {
        name: s for name, s in states.items() if s.get("Resource") == "${NotifyFunctionArn}"
    }
    assert set(notifications) == {"NotifyCopied", "Summarize", "NotifySkipped", "NotifyFailure"}
    for name, state in notifications.items():
        assert state["Catch"][0]["Next"] == state["Next"], name


NOT_RETRIED_WHEN_DIED = {"${NotifyFunctionArn}"}
"""Functions whose task is not retried when the function died: a notification whose answer was
lost has sent its message (at most one message; the failure table of docs/operations.md, at
Notify)."""


def _is_lambda_task(state: dict[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    return state["Type"] == "Task" and (
        resource.endswith("FunctionArn}") or resource == "${LambdaInvokeWaitForTaskTokenArn}"
    )


def died_rule_problems(asl: dict[str, Any]) -> list[str]:
    """What is wrong with how the ASL meets a function that died (timed out, ran out of memory):
    any Retry or Catch naming one of `LAMBDA_DIED_ERRORS` names all of them; every Lambda task
    retries them (but the notifications, which must not send twice); every Task catches them."""
    died = set(LAMBDA_DIED_ERRORS)
    problems = []
    for name, state in asl["States"].items():
        if state["Type"] != "Task":
            continue
        for kind in ("Retry", "Catch"):
            for rule in state.get(kind, []):
                named = died & set(rule["ErrorEquals"])
                if named and named != died:
                    problems.append(f"{name}: a {kind} names {sorted(named)}, not {sorted(died)}")
        retried = any(died <= set(r["ErrorEquals"]) for r in state.get("Retry", []))
        if _is_lambda_task(state) and state.get("Resource") not in NOT_RETRIED_WHEN_DIED:
            if not retried:
                problems.append(f"{name}: no Retry for {sorted(died)}")
        elif retried:
            problems.append(f"{name}: retries {sorted(died)} (it must not)")
        caught = any(
            died <= set(c["ErrorEquals"])
            or {"States.ALL", "States.TaskFailed"} & set(c["ErrorEquals"])
            for c in state.get("Catch", [])
        )
        if not caught:
            problems.append(f"{name}: no Catch for {sorted(died)}")
    return problems


def test_a_function_that_died_is_retried_and_caught_under_every_name(asl: dict[str, Any]) -> None:
    lambda_tasks = [s for s in asl["States"].values() if _is_lambda_task(s)]
    assert len(lambda_tasks) == sum(s["Type"] == "Task" for s in asl["States"].values())
    assert died_rule_problems(asl) == []


def test_a_retry_naming_only_one_name_of_a_died_function_is_reported(asl: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(asl))
    copy = broken["States"]["CopyIntermediate"]
    for retrier in copy["Retry"]:
        if "Sandbox.Timedout" in retrier["ErrorEquals"]:
            retrier["ErrorEquals"].remove("Sandbox.Timedout")
    every = "['Lambda.Unknown', 'Runtime.ExitError', 'Sandbox.Timedout']"
    assert died_rule_problems(broken) == [
        f"CopyIntermediate: a Retry names ['Lambda.Unknown', 'Runtime.ExitError'], not {every}",
        f"CopyIntermediate: no Retry for {every}",
    ]
    copy["Retry"] = [r for r in copy["Retry"] if "Lambda.Unknown" not in r["ErrorEquals"]]
    assert died_rule_problems(broken) == [f"CopyIntermediate: no Retry for {every}"]


def test_a_full_manual_snapshot_quota_fails_at_once(asl: dict[str, Any]) -> None:
    # It does not clear by itself (unlike copies in progress): no retry, straight to Cleanup
    for name in ("CopyIntermediate", "CopyBackup"):
        retried = {e for r in asl["States"][name]["Retry"] for e in r["ErrorEquals"]}
        assert "QuotaExceeded" not in retried, name


def test_the_service_integration_is_in_the_stacks_own_partition(template: dict[str, Any]) -> None:
    _, machine = state_machine_resource(template)
    substitutions = machine["Properties"]["DefinitionSubstitutions"]
    assert substitutions["LambdaInvokeWaitForTaskTokenArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:states:::lambda:invoke.waitForTaskToken"
    }


def test_slot_waits_take_a_token_ask_again_and_give_back(asl: dict[str, Any]) -> None:
    states = asl["States"]
    for pool, wait, copy, ready, release in (
        ("main", "WaitForMainSlot", "CopyIntermediate", "IntermediateReady?", "ReleaseMainSlot"),
        ("backup", "WaitForBackupSlot", "CopyBackup", "BackupReady?", "ReleaseBackupSlot"),
    ):
        # Given the slot wait before each copy
        state = states[wait]
        assert state["Next"] == copy
        assert state["Resource"] == "${LambdaInvokeWaitForTaskTokenArn}"
        assert state["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
        assert state["Parameters"]["Payload"]["pool"] == pool
        # Then it times out every SLOT_RECHECK_SECONDS and asks again (entering the state anew,
        # with a new task token) until the Lambda's own deadline (SLOT_WAIT_HOURS) ends it
        assert state["TimeoutSeconds"] == SLOT_RECHECK_SECONDS < SLOT_WAIT_HOURS * 3600
        assert state["Catch"][0]["ErrorEquals"] == ["States.Timeout"]
        assert state["Catch"][0]["Next"] == wait
        assert state["Catch"][-1]["Next"] == "Cleanup"
        # And the slot is given back as soon as the copy is available
        assert [c["Next"] for c in states[ready]["Choices"]] == [release]
        assert states[release]["Parameters"]["pool"] == pool


def test_copies_wait_when_rds_has_too_many_copies_in_progress(asl: dict[str, Any]) -> None:
    for name in ("CopyIntermediate", "CopyBackup"):
        rules = [r for r in asl["States"][name]["Retry"] if "CopyLimitReached" in r["ErrorEquals"]]
        assert rules, name
        # room comes back as copies finish, which takes minutes to hours: wait hours in all
        waits = [
            min(rules[0]["IntervalSeconds"] * rules[0]["BackoffRate"] ** n, 1800)
            for n in range(rules[0]["MaxAttempts"])
        ]
        assert sum(waits) > 4 * 3600, name


def test_the_retention_is_not_a_number_in_the_asl(asl: dict[str, Any]) -> None:
    waits = [s for s in asl["States"].values() if s["Type"] == "Wait"]
    assert waits
    for wait in waits:
        assert "Seconds" not in wait
        assert "Timestamp" not in wait


def test_every_function_handler_exists(template: dict[str, Any]) -> None:
    functions = {
        k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    assert len(functions) == 14
    for logical_id, resource in functions.items():
        module_name, function_name = resource["Properties"]["Handler"].rsplit(".", 1)
        module = importlib.import_module(module_name)
        assert callable(getattr(module, function_name)), logical_id


@pytest.mark.parametrize("path", [TEMPLATE, BACKUP_TEMPLATE], ids=["main", "backup"])
def test_no_iam_action_has_a_wildcard(path: Path) -> None:
    actions = iam_actions(load_cfn_yaml(path))
    assert actions
    assert [a for a in actions if isinstance(a, str) and "*" in a] == []


def test_deletes_in_the_main_account_need_the_apps_tag(template: dict[str, Any]) -> None:
    role = template["Resources"]["PipelineRole"]["Properties"]
    statements = [
        s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if isinstance(s, dict)
    ]
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if any(a.startswith("rds:") and ("Delete" in a or "ModifyDB" in a) for a in actions):
            assert statement["Condition"] == {
                "StringEquals": {f"aws:ResourceTag/{TAG_APP}": APP_NAME}
            }


def test_template_limits_match_the_code(template: dict[str, Any]) -> None:
    retention = template["Parameters"]["RetentionDays"]
    assert retention["MaxValue"] == MAX_RETENTION_DAYS
    copies = template["Parameters"]["MaxCopiesInFlight"]
    assert copies["Default"] == DEFAULT_MAX_COPIES_IN_FLIGHT < RDS_COPIES_IN_PROGRESS_LIMIT
    assert copies["MaxValue"] == RDS_COPIES_IN_PROGRESS_LIMIT
    assert retention["MinValue"] == 0
    assert retention["Default"] == DEFAULT_RETENTION_DAYS
    text = TEMPLATE.read_text()
    assert f"prefix: {COPY_ID_PREFIX}-" in text


@pytest.mark.parametrize(
    ("parameter", "bad"),
    [
        ("BackupAccountId", "12345"),
        ("BackupAccountKmsKeyArn", "alias/backup"),
        ("BackupAccountKmsKeyArn", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("BackupAccountRoleArn", "arn:aws:iam::222222222222:user/bob"),
        ("BackupAccountKeeperUrl", "rds-xacct-keeper"),
        (
            "BackupAccountKeeperUrl",
            "arn:aws:lambda:eu-west-1:222222222222:function:rds-xacct-keeper",
        ),
        ("BackupAccountKeeperUrl", "http://abc123.lambda-url.eu-west-1.on.aws/"),
        ("BackupAccountKeeperUrl", "https://abc123.lambda-url.eu-west-1.on.aws.evil.example/"),
        ("ResourcePrefix", "Has_Upper"),
    ],
)
def test_parameter_patterns_refuse_typos(
    template: dict[str, Any], parameter: str, bad: str
) -> None:
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert re.fullmatch(pattern, bad) is None


def test_parameter_patterns_accept_good_values(template: dict[str, Any]) -> None:
    good = {
        "BackupAccountId": "222222222222",
        "BackupAccountKmsKeyArn": "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "BackupAccountRoleArn": "arn:aws:iam::222222222222:role/rds-xacct-backup-copy",
        "BackupAccountKeeperUrl": "https://abc123def456.lambda-url.eu-west-1.on.aws/",
        "BackupAccountSlotBrokerUrl": "https://def456abc123.lambda-url.eu-west-1.on.aws/",
        "SlackWebhookParameterName": "/rds-xacct/slack-webhook",
        "SelectionTag": "backup-copy=true",
        "IncludeDatabases": "prod-*, billing",
    }
    for name, value in good.items():
        assert re.fullmatch(template["Parameters"][name]["AllowedPattern"], value), name


def test_the_runtime_is_the_one_the_makefile_type_checks_for(template: dict[str, Any]) -> None:
    runtime = template["Globals"]["Function"]["Runtime"]
    version = runtime.removeprefix("python")
    assert f"--python-version {version} functions" in (ROOT / "Makefile").read_text()


# --- Limits and formats (issue 11, item 5) ---------------------------------------------------------
RULE_FUNCTIONS = {
    "Ref",
    "Fn::And",
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::Equals",
    "Fn::Not",
    "Fn::Or",
    "Fn::RefAll",
    "Fn::ValueOf",
    "Fn::ValueOfAll",
}
"""CloudFormation User Guide, "Rule functions", Supported functions: inside rule functions only
`Ref` and other rule-specific functions."""


def _functions_in(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_functions_in(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {key for key in node if key == "Ref" or key.startswith("Fn::")}
    return found.union(*(_functions_in(value) for value in node.values()))


def test_rules_use_only_the_functions_cloudformation_allows_in_rules(
    template: dict[str, Any],
) -> None:
    used = _functions_in(template["Rules"])
    assert used, "the template's Rules check something"
    assert used <= RULE_FUNCTIONS, f"not allowed in Rules: {sorted(used - RULE_FUNCTIONS)}"


@pytest.mark.parametrize("path", [TEMPLATE, BACKUP_TEMPLATE], ids=["main", "backup"])
def test_kms_via_service_is_written_for_every_partition(path: Path) -> None:
    text = path.read_text()
    lines = [line for line in text.splitlines() if "kms:ViaService" in line]
    assert lines
    for line in lines:
        # (`rds.*.`: RDS of any region, for the backup role reading a source region's key)
        assert re.search(r"(rds|sns)\.(\$\{AWS::Region\}|\*)\.\$\{AWS::URLSuffix\}", line)
        assert "amazonaws.com" not in line


def _worst_retry_seconds(asl: dict[str, Any]) -> float:
    """Every Retry's backoffs at their longest (full jitter waits at most the interval) and
    every attempt's TimeoutSeconds, added up over all Task states: more than any run spends."""
    total = 0.0
    for state in asl["States"].values():
        if state["Type"] != "Task":
            continue
        attempts = 1
        for retrier in state.get("Retry", []):
            interval = retrier.get("IntervalSeconds", 1)
            rate = retrier.get("BackoffRate", 2.0)
            cap = retrier.get("MaxDelaySeconds", float("inf"))
            count = retrier.get("MaxAttempts", 3)
            total += sum(min(interval * rate**i, cap) for i in range(count))
            attempts += count
        total += attempts * state.get("TimeoutSeconds", 60)
    return total


def test_the_longest_retention_fits_in_one_execution(
    template: dict[str, Any], asl: dict[str, Any]
) -> None:
    # A Standard execution lasts at most a year: the retention, both slot waits, both copies up
    # to their deadline and every retry fit in it, with the margin
    assert _worst_retry_seconds(asl) <= RETRY_ALLOWANCE_HOURS * 3600
    assert WORST_CASE_COPY_HOURS >= 2 * (SLOT_WAIT_HOURS + COPY_DEADLINE_HOURS)
    longest = MAX_RETENTION_DAYS * 24 + WORST_CASE_COPY_HOURS + RUN_MARGIN_HOURS
    assert longest <= EXECUTION_LIMIT_DAYS * 24
    assert (MAX_RETENTION_DAYS + 1) * 24 + WORST_CASE_COPY_HOURS + RUN_MARGIN_HOURS > 8760
    # And the template, its description and the docs say the same number: the README's
    # parameters at a glance, the parameters in full, and the limits that explain it
    retention = template["Parameters"]["RetentionDays"]
    assert retention["MaxValue"] == MAX_RETENTION_DAYS
    assert f"At most {MAX_RETENTION_DAYS}" in retention["Description"]
    for doc in (README, DESIGN_DOC, CAPACITY_DOC):
        assert f"at most {MAX_RETENTION_DAYS}" in doc.read_text(), doc


def test_every_wait_reads_a_value_the_app_writes_in_the_format_step_functions_needs(
    asl: dict[str, Any],
) -> None:
    # A Wait whose timestamp is not RFC 3339, or whose seconds are not a whole number >= 0,
    # fails the run with States.Runtime, which no Catch handles. These are the only ones, and
    # tests/unit/test_limits.py checks what the app writes there.
    waits = {
        name: {key: value for key, value in state.items() if key.endswith(("Path", "Seconds"))}
        for name, state in asl["States"].items()
        if state["Type"] == "Wait"
    }
    assert waits == {
        "WaitIntermediate": {"SecondsPath": "$.intermediate.waitSeconds"},
        "WaitBackup": {"SecondsPath": "$.backup.waitSeconds"},
        "WaitRetention": {"TimestampPath": "$.backup.expiresAt"},
    }


def test_the_fail_state_always_finds_the_error_it_reports(asl: dict[str, Any]) -> None:
    # `Failed` reads $.error.Error: every Catch on the way to it writes $.error, else the run
    # would end with States.Runtime after notifying, and be reported twice
    failed = asl["States"]["Failed"]
    assert (failed["ErrorPath"], failed["CausePath"]) == ("$.error.Error", "$.error.Cause")
    for name, state in asl["States"].items():
        for catch in state.get("Catch", []):
            if catch["Next"] == "Cleanup":
                assert catch["ResultPath"] == "$.error", name


KEEPER = "https://abc123def456.lambda-url.eu-west-1.on.aws/"


@pytest.fixture(scope="module")
def app() -> App:
    parameters = {
        "BackupAccountId": "222222222222",
        "BackupAccountKmsKeyArn": "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "BackupAccountRoleArn": "arn:aws:iam::222222222222:role/rds-xacct-backup-copy",
        "BackupAccountKeeperUrl": KEEPER,
        "BackupAccountSlotBrokerUrl": KEEPER.replace("https://", "https://b"),
    }
    refs = {"NotificationTopic": "arn:aws:sns:eu-west-1:111111111111:t", "AdmissionTable": "t"}
    return load_app(parameters, account="111111111111", region="eu-west-1", refs=refs)


@pytest.mark.parametrize(
    ("status", "error", "reported"),
    [
        ("TIMED_OUT", None, True),
        ("ABORTED", None, True),
        ("FAILED", "States.Runtime", True),
        ("FAILED", "States.DataLimitExceeded", True),
        ("FAILED", "AwsError", False),  # failed through its Catch: notified already
        ("FAILED", "States.Timeout", False),
        ("FAILED", None, True),  # no `error` in the event: the function reads it (below)
        ("SUCCEEDED", None, False),
    ],
)
def test_runs_that_cannot_report_themselves_go_to_the_notify_function(
    app: App, status: str, error: str | None, reported: bool
) -> None:
    machine = app.resolver.refs[state_machine_resource(app.template)[0]]
    detail = {"stateMachineArn": machine, "status": status, **({"error": error} if error else {})}
    event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": detail,
    }
    assert event_matches(app.stopped_run_pattern, event) is reported
    # And the Notify function reports exactly what the rule sends it with an error named
    if status != "FAILED" or error:
        assert (reporting.outcome_of_status_change(detail) is not None) is reported


def test_the_stopped_run_rule_names_the_errors_no_catch_handles(app: App) -> None:
    branches = app.stopped_run_pattern["detail"]["$or"]
    assert {"status": ["FAILED"], "error": list(UNCATCHABLE_ERRORS)} in branches


def test_the_sweep_can_name_the_runs_of_the_deployed_state_machine(app: App) -> None:
    machine = app.resolver.refs[state_machine_resource(app.template)[0]]
    assert app.functions["SweepFunction"].environment["STATE_MACHINE_ARN"] == machine


# --- The backup account owns its copies (issue 12) --------------------------------------------------
def test_the_keepers_url_is_a_required_parameter_every_function_is_given(
    template: dict[str, Any], app: App
) -> None:
    # Given the main stack's parameter naming the backup account's keeper
    parameter = template["Parameters"]["BackupAccountKeeperUrl"]
    # Then it has no default (a deployment must name it: runs ask it to delete their copies)
    assert "Default" not in parameter
    assert parameter["Type"] == "String"
    # And every function gets it as BACKUP_KEEPER_URL (the template's Globals), as deployed
    assert template["Globals"]["Function"]["Environment"]["Variables"]["BACKUP_KEEPER_URL"] == {
        "Ref": "BackupAccountKeeperUrl"
    }
    assert app.functions
    for logical_id, spec in app.functions.items():
        assert spec.environment["BACKUP_KEEPER_URL"] == KEEPER, logical_id


def test_the_default_retention_is_the_codes_and_at_least_the_backup_accounts_minimum(
    template: dict[str, Any],
) -> None:
    # RetentionDays' default is the code's (a deployment without RETENTION_DAYS keeps as long);
    # below the backup account's minimum the keeper would refuse every run's request
    backup = load_cfn_yaml(BACKUP_TEMPLATE)
    retention = template["Parameters"]["RetentionDays"]
    minimum = backup["Parameters"]["MinimumRetentionDays"]
    assert retention["Default"] == DEFAULT_RETENTION_DAYS
    assert int(minimum["Default"]) == DEFAULT_MIN_RETENTION_DAYS <= DEFAULT_RETENTION_DAYS


def test_the_run_asks_the_keeper_once_and_reports_its_answer(asl: dict[str, Any]) -> None:
    states = asl["States"]
    # The keeper refuses a copy not due yet by its own rules and deletes it in its hourly pass:
    # the run no longer waits on a moved expiry, it reports the answer
    assert "Expired?" not in states
    assert states["WaitRetention"]["Next"] == "DeleteBackup"
    assert states["DeleteBackup"]["Next"] == "Summarize"
    assert states["DeleteBackup"]["ResultPath"] == "$.backup"
    # And what the keeper raises by name when it clears by itself is retried
    retried = {e for r in states["DeleteBackup"]["Retry"] for e in r["ErrorEquals"]}
    assert {"Throttled", "SnapshotNotReady"} <= retried
    # And no state other than the retention's Wait comes back to DeleteBackup
    back = [
        name
        for name, state in states.items()
        if state.get("Next") == "DeleteBackup"
        or any(c.get("Next") == "DeleteBackup" for c in state.get("Choices", []))
        or state.get("Default") == "DeleteBackup"
    ]
    assert back == ["WaitRetention"]


# --- Waiting for the keeper (issue 18) ---------------------------------------------------------------
KEEPER_CALLERS = {
    # function → the ASL state that runs it (None: run by the stopped-run rule only)
    "DeleteBackupFunction": "DeleteBackup",
    "CleanupFunction": "Cleanup",
    "NotifyFunction": None,  # a stopped run's report cleans up as Cleanup does
}
"""The main stack's functions whose handlers may ask the backup account's keeper."""


def test_a_run_waits_for_the_keepers_answer_longer_than_the_keeper_can_run(
    app: App, asl: dict[str, Any]
) -> None:
    # Given the keeper's timeout, as the backup-account stack deploys it
    backup = load_cfn_yaml(BACKUP_TEMPLATE)
    keeper_timeout = backup["Resources"]["KeeperFunction"]["Properties"]["Timeout"]
    assert keeper_timeout == KEEPER_TIMEOUT_SECONDS
    # Then a run waits for its answer longer than that (Accounts.ask_keeper; sent once:
    # tests/unit/test_steps.py)
    assert KEEPER_READ_TIMEOUT_SECONDS > KEEPER_TIMEOUT_SECONDS
    # And every function that asks the keeper may run longer than its wait, and its state's
    # TimeoutSeconds longer still (the function's own timeout fires first)
    for logical_id, state in KEEPER_CALLERS.items():
        timeout = app.functions[logical_id].timeout
        assert timeout >= KEEPER_CALLER_TIMEOUT_SECONDS > KEEPER_READ_TIMEOUT_SECONDS, logical_id
        if state is not None:
            assert asl["States"][state]["TimeoutSeconds"] > timeout, state
    # And the limits in the docs say the same numbers
    limits = " ".join(CAPACITY_DOC.read_text().split())
    assert (
        f"waits up to {KEEPER_READ_TIMEOUT_SECONDS} s for its answer (the keeper's timeout is "
        f"{KEEPER_TIMEOUT_SECONDS} s, and DeleteBackup and Cleanup may run "
        f"{KEEPER_CALLER_TIMEOUT_SECONDS} s)"
    ) in limits


# --- Freshness: the main account's half (issue 20) -------------------------------------------------
def test_every_function_reads_the_recovery_point_objective_the_stack_sets(
    template: dict[str, Any], app: App
) -> None:
    # Given the parameter, by default the app's and within what Settings accepts
    rpo = template["Parameters"]["RecoveryPointObjectiveHours"]
    assert rpo["Type"] == "Number"
    assert rpo["Default"] == RECOVERY_POINT_OBJECTIVE_HOURS
    assert (rpo["MinValue"], rpo["MaxValue"]) == (1, MAX_RECOVERY_POINT_OBJECTIVE_HOURS)
    # And the backup account's parameter of the same name defaults alike
    backup = load_cfn_yaml(BACKUP_TEMPLATE)["Parameters"]["RecoveryPointObjectiveHours"]
    assert backup["Default"] == rpo["Default"]
    # Then every function, as deployed, reads it into its settings
    for logical_id, spec in app.functions.items():
        assert spec.environment[ENV_RPO_HOURS] == str(RECOVERY_POINT_OBJECTIVE_HOURS), logical_id


def test_the_watch_runs_hourly_with_the_automated_copies_it_expects_fresh(app: App) -> None:
    # Given the watch function as deployed
    watch = app.functions["WatchFunction"]
    resource = app.template["Resources"]["WatchFunction"]["Properties"]
    # Then its handler is the watch's, on the pipeline's role (which the backup account trusts)
    assert watch.handler == "watch.handler"
    assert resource["Role"] == {"Fn::GetAtt": ["PipelineRole", "Arn"]}
    # And a schedule runs it every hour, retried as the other jobs are
    (event,) = resource["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == WATCH_SCHEDULE
    assert event["Properties"]["RetryPolicy"] == {"MaximumRetryAttempts": 2}
    # And its settings say which automated snapshots the deployment copies
    assert watch.environment[ENV_COPY_RDS_AUTOMATED] == "false"
    assert watch.environment[ENV_COPY_RDS_AUTOMATED_CLUSTER] == "false"


def test_the_watch_may_list_aws_backups_protected_resources_and_nothing_more(
    template: dict[str, Any],
) -> None:
    # Given the pipeline role's statements that name AWS Backup
    role = template["Resources"]["PipelineRole"]["Properties"]
    statements = [
        s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"] if isinstance(s, dict)
    ]
    backup = [s for s in statements if "backup:" in json.dumps(s.get("Action"))]
    # Then the one statement lists the protected resources (an action with no resource type)
    assert backup == [
        {"Effect": "Allow", "Action": "backup:ListProtectedResources", "Resource": "*"}
    ]


def test_the_freshness_alarm_watches_the_watchs_count_and_pages_when_it_stops(
    template: dict[str, Any], app: App
) -> None:
    # Given the alarm, resolved with the longest prefix and objective the parameters allow
    declared = template["Resources"]["DatabasesWithoutFreshCopyAlarm"]["Properties"]
    given = {k: v for k, v in app.resolver.values.items() if not k.startswith("AWS::")}
    resolver = Resolver(
        template,
        {**given, "ResourcePrefix": "a-prefix-of-20-chars", "RecoveryPointObjectiveHours": "8784"},
        account="111111111111",
        region="eu-west-1",
        refs={},
    )
    alarm = resolver.resolve({k: v for k, v in declared.items() if not k.endswith("Actions")})
    # Then it watches the metric the watch writes, as Powertools writes it
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, DATABASES_WITHOUT_FRESH_COPY)
    assert alarm["Dimensions"] == [{"Name": DIMENSION, "Value": SERVICE}]
    # And goes off on one database without a fresh copy, or on no value at all
    assert (alarm["Statistic"], alarm["Period"]) == ("Maximum", 3600)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert alarm["TreatMissingData"] == "breaching"
    # And pages through the alarms' topic, both ways
    assert declared["AlarmActions"] == declared["OKActions"] == [{"Ref": "AlarmTopic"}]
    # And says what happened and what to do, within CloudWatch's 1024 characters
    assert len(alarm["AlarmDescription"]) <= 1024
    assert "8784 hours" in alarm["AlarmDescription"]
    assert "a-prefix-of-20-chars-watch" in alarm["AlarmDescription"]
