"""What CloudWatch sees of the whole product on the simulation: the functions' EMF lines and AWS's
own metrics in the right account, the templates' alarms in moto, and alarms going off and back
as CloudWatch would evaluate them (simulation/alarms.py, simulation/moto/emf.py, cloudwatch.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.sns.models import sns_backends

from simulation.driver import MakeSim, Simulation
from simulation.sam_template import BACKUP_TEMPLATE, Resolver, load_template
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION


def sums(account: str, namespace: str) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """The sum of every metric of `namespace` in `account`, by name and dimensions."""
    found: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for datum in cloudwatch_backends[account][REGION].metric_data:
        if datum.namespace == namespace:
            dimensions = tuple((str(d.name), str(d.value)) for d in datum.dimensions)
            found[(datum.name, dimensions)] += getattr(datum, "value")  # noqa: B009
    return found


def emf_lines(sim: Simulation) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in sim.logs.getvalue().splitlines()
        if line.startswith("{") and '"_aws"' in line
    ]


def test_a_failed_run_counts_in_aws_states_and_its_alarm_goes_off_then_back_to_ok(
    make_sim: MakeSim,
) -> None:
    # Given an alarm on failed runs in the main account: any in 5 minutes, missing data fine,
    # to the alarms' topic
    sim = make_sim()
    topic = sim.app.resolver.refs["AlarmTopic"]
    machine = [{"Name": "StateMachineArn", "Value": sim.state_machine_arn}]
    sim.world.main.client("cloudwatch").put_metric_alarm(
        AlarmName="failed-runs",
        Namespace="AWS/States",
        MetricName="ExecutionsFailed",
        Dimensions=machine,
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    # And a run that succeeds: the alarm is OK
    assert sim.deliver(sim.backup_event("orders-db")).status == "SUCCEEDED"
    assert sim.alarm_states(MAIN_ACCOUNT)["failed-runs"] == "OK"
    # When a run fails
    sim.inject_failure("CopyBackup")
    failed = sim.deliver(sim.backup_event("billing-db"))
    assert failed.status == "FAILED"
    # Then Step Functions counted both runs, Lambda the failing function's errors
    states = sums(MAIN_ACCOUNT, "AWS/States")
    key = (("StateMachineArn", sim.state_machine_arn),)
    assert [
        states[(n, key)] for n in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed")
    ] == [2, 1, 1]
    copy_backup = sim.app.functions["CopyBackupFunction"].name
    assert sums(MAIN_ACCOUNT, "AWS/Lambda")[("Errors", (("FunctionName", copy_backup),))] >= 1
    # And the alarm went off and told its topic (after the OK it went to from INSUFFICIENT_DATA,
    # its first evaluation), and DescribeAlarms says so
    evaluation = sim.alarm("failed-runs", MAIN_ACCOUNT)
    assert evaluation.state == "ALARM", str(evaluation)
    assert evaluation.points[0].value == 1.0
    told = [n for n in sim.alarm_notifications if n.alarm == "failed-runs"]
    assert [(n.alarm, n.old_state, n.new_state, n.action, n.published) for n in told] == [
        ("failed-runs", "INSUFFICIENT_DATA", "OK", topic, True),
        ("failed-runs", "OK", "ALARM", topic, True),
    ]
    sent = [
        json.loads(n[1])
        for n in sns_backends[MAIN_ACCOUNT][REGION].topics[topic].sent_notifications
    ]
    assert [m["NewStateValue"] for m in sent if m["AlarmName"] == "failed-runs"] == ["OK", "ALARM"]
    described = sim.world.main.client("cloudwatch").describe_alarms(AlarmNames=["failed-runs"])
    assert described["MetricAlarms"][0]["StateValue"] == "ALARM"
    # When an hour passes without a failure
    sim.advance(1)
    # Then the alarm is OK again, and said so once
    assert sim.alarm_states(MAIN_ACCOUNT)["failed-runs"] == "OK", str(sim.alarm("failed-runs"))
    told = [n for n in sim.alarm_notifications if n.alarm == "failed-runs"]
    assert [n.new_state for n in told] == ["OK", "ALARM", "OK"]
    # And the runs' own metrics (Powertools' EMF) are in the main account only, each line whole
    outcomes = sums(MAIN_ACCOUNT, "RdsXacct")
    service = (("service", "rds-xacct"),)
    assert (outcomes[("Run-succeeded", service)], outcomes[("Run-failed", service)]) == (1, 1)
    assert ("Run-failed", service) not in sums(BACKUP_ACCOUNT, "RdsXacct")
    assert sim.patches.function_logs.rejected == []
    assert {line["service"] for line in emf_lines(sim)} == {"rds-xacct"}


def test_stopped_runs_count_as_aborted_or_as_timed_out(make_sim: MakeSim) -> None:
    # Given a run stopped by StopExecution, and one stopped as its time limit would
    sim = make_sim()
    sim.stop_run_after("Share", "ABORTED")
    assert sim.deliver(sim.backup_event("orders-db")).status == "ABORTED"
    sim.stop_run_after("Share", "TIMED_OUT")
    assert sim.deliver(sim.backup_event("billing-db")).status == "ABORTED"  # (moto's)
    # Then AWS/States counts one of each
    states = sums(MAIN_ACCOUNT, "AWS/States")
    key = (("StateMachineArn", sim.state_machine_arn),)
    counted = {
        n: states[(n, key)]
        for n in ("ExecutionsStarted", "ExecutionsAborted", "ExecutionsTimedOut")
    }
    assert counted == {"ExecutionsStarted": 2, "ExecutionsAborted": 1, "ExecutionsTimedOut": 1}


def test_concurrent_runs_keep_their_metrics_apart_and_each_account_gets_its_own(
    make_sim: MakeSim,
) -> None:
    # Given two runs delivered at the same moment, and a function of the backup account that
    # prints an EMF line
    sim = make_sim()
    probe = "rds-xacct-probe"

    def handler(event: Any, context: Any) -> dict[str, Any]:
        at = int(sim.clock.now().timestamp() * 1000)
        directive = {
            "Namespace": "RdsXacct",
            "Dimensions": [["service"]],
            "Metrics": [{"Name": "ProbeMetric"}],
        }
        print(
            json.dumps(
                {
                    "_aws": {"Timestamp": at, "CloudWatchMetrics": [directive]},
                    "service": "rds-xacct",
                    "ProbeMetric": 3,
                }
            )
        )
        return {}

    sim.patches.route_lambda(probe, handler, account=BACKUP_ACCOUNT)
    # When the runs go on side by side and the backup account's function is invoked
    described = sim.deliver_window(
        [(0, sim.backup_event("orders-db")), (0, sim.backup_event("billing-db"))]
    )
    assert [d["status"] for d in described] == ["SUCCEEDED", "SUCCEEDED"]
    sim.backup_lambda.invoke(
        FunctionName=f"arn:aws:lambda:{REGION}:{BACKUP_ACCOUNT}:function:{probe}"
    )
    # Then each run's outcome is a document of its own (one value), both in the main account
    outcomes = [line for line in emf_lines(sim) if "Run-succeeded" in line]
    assert [line["Run-succeeded"] for line in outcomes] == [[1.0], [1.0]]  # not one [1.0, 1.0]
    service = (("service", "rds-xacct"),)
    assert sums(MAIN_ACCOUNT, "RdsXacct")[("Run-succeeded", service)] == 2
    # And the backup account's function's metric is in the backup account only, with Lambda's
    assert sums(BACKUP_ACCOUNT, "RdsXacct")[("ProbeMetric", service)] == 3
    assert ("ProbeMetric", service) not in sums(MAIN_ACCOUNT, "RdsXacct")
    invoked = sums(BACKUP_ACCOUNT, "AWS/Lambda")
    assert invoked[("Invocations", (("FunctionName", probe),))] == 1
    # And the keeper, asked by each run in the backup account, counts there, not in the main one
    keeper = (("FunctionName", sim.keeper_name),)
    assert invoked[("Invocations", keeper)] == 4  # each run: record its copy, then expire it
    assert ("Invocations", keeper) not in sums(MAIN_ACCOUNT, "AWS/Lambda")


def test_advance_runs_the_keepers_pass_each_hour_and_an_alarm_sees_it_stop(
    make_sim: MakeSim,
) -> None:
    # Given an alarm in the backup account: the keeper's pass did not run in the last hour
    sim = make_sim()
    sim.world.backup.client("cloudwatch").put_metric_alarm(
        AlarmName="keeper-not-running",
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": sim.keeper_pass_name}],
        Statistic="Sum",
        Period=3600,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )
    assert sim.alarm_states(BACKUP_ACCOUNT)["keeper-not-running"] == "ALARM"
    # When three hours pass: a pass each hour, the alarm OK
    assert len(sim.advance(3)) == 3
    assert sim.alarm_states(BACKUP_ACCOUNT)["keeper-not-running"] == "OK"
    # When the schedule stops for three hours: no pass, the alarm goes off
    assert sim.advance(3, keeper_passes=False) == []
    assert sim.alarm_states(BACKUP_ACCOUNT)["keeper-not-running"] == "ALARM"
    # When it runs again: one pass an hour later, none made up for the missed ones, OK again
    assert len(sim.advance(1)) == 1
    assert sim.alarm_states(BACKUP_ACCOUNT)["keeper-not-running"] == "OK"
    invoked = sums(BACKUP_ACCOUNT, "AWS/Lambda")[
        ("Invocations", (("FunctionName", sim.keeper_pass_name),))
    ]
    assert invoked == 4


def test_every_alarm_of_both_templates_is_made_in_its_account_and_evaluated(
    make_sim: MakeSim,
) -> None:
    # Given both stacks deployed
    sim = make_sim()
    main = load_template()
    main_alarms = [
        r
        for r in main["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and ("Condition" not in r or sim.app.resolver.condition(r["Condition"]))
    ]
    backup = load_template(BACKUP_TEMPLATE)
    backup_resolver = Resolver(
        backup, {"SourceAccountIds": MAIN_ACCOUNT}, account=BACKUP_ACCOUNT, region=REGION
    )
    backup_alarms = [
        r
        for r in backup["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and ("Condition" not in r or backup_resolver.condition(r["Condition"]))
    ]
    # Then each main template alarm is in the main account, with its threshold and topic
    described = {
        a["AlarmName"]: a
        for a in sim.world.main.client("cloudwatch").describe_alarms()["MetricAlarms"]
    }
    assert sorted(sim.alarm_names) == sorted(described)
    assert len(described) == len(main_alarms)
    for name in sim.alarm_names:
        assert described[name]["AlarmActions"] == [sim.app.resolver.refs["AlarmTopic"]]
    # And each of the backup stack's is in the backup account, made by its stack
    cfn = sim.world.backup.client("cloudformation")
    made = [
        r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName="rds-xacct-backup-account")[
            "StackResourceSummaries"
        ]
        if r["ResourceType"] == "AWS::CloudWatch::Alarm"
    ]
    in_backup = {
        a["AlarmName"]
        for a in sim.world.backup.client("cloudwatch").describe_alarms()["MetricAlarms"]
    }
    assert sorted(made) == sorted(in_backup)
    assert len(made) == len(backup_alarms)
    # And the simulation evaluates every one of them (none refused as unsupported)
    states = {**sim.alarm_states(MAIN_ACCOUNT), **sim.alarm_states(BACKUP_ACCOUNT)}
    assert set(states) == set(described) | in_backup
    assert set(states.values()) <= {"OK", "ALARM", "INSUFFICIENT_DATA"}
