"""`make demo`: run the product locally on moto and print what happened.

make demo                                   # AWS Backup snapshot of an RDS database
make demo ARGS="--source aurora"            # AWS Backup snapshot of an Aurora cluster
make demo ARGS="--source rds-automated"     # native automated DB snapshot
make demo ARGS="--source rds-manual-cluster"
make demo ARGS="--event my-event.json"      # any recorded event
make demo ARGS="--retention 0"              # keep the backup copy for good
make demo ARGS="--retention 1"              # shorter than the backup account's minimum
make demo ARGS="--fail-at CopyBackup"       # watch the failure path
make demo ARGS="--backup-region us-east-1"  # the backup copy lands in another region (DR)
make demo ARGS="--source-accounts 2"        # two source accounts, one backup account
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from rds_xacct.model.constants import DEFAULT_MIN_RETENTION_DAYS, DEFAULT_RETENTION_DAYS
from simulation.driver import INJECTABLE_STEPS, RunResult, Simulation
from simulation.events import DEFAULT_EVENT, EVENTS_DIR, load_event
from simulation.operator import status_table
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, SECOND_ACCOUNT

SOURCES = {
    "aws-backup": "aws-backup-rds-completed.json",
    "aurora": "aws-backup-aurora-completed.json",
    "rds-automated": "rds-automated-snapshot-created.json",
    "rds-manual-cluster": "rds-manual-cluster-snapshot-created.json",
}
NATIVE_PARAMETERS = {
    "rds-automated": {"CopyRdsAutomatedSnapshots": "true"},
    "rds-manual-cluster": {"CopyRdsManualClusterSnapshots": "true"},
}
_AUTOMATED = re.compile(r"^rds:(?P<db>.+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$")


def _time(moment: datetime, start: datetime) -> str:
    delta = moment - start
    days, rest = divmod(int(delta.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"+{days}d {hours:02d}:{minutes:02d}:{seconds:02d}"


def prepare_source(sim: Simulation, event: dict[str, Any]) -> None:
    """Create, in the simulated main account, the database and snapshot the event names."""
    from rds_xacct.model.errors import UnsupportedEvent
    from rds_xacct.pipeline.events import parse_event

    try:
        source = parse_event(event)
    except UnsupportedEvent:
        return  # the run will say why; nothing to create
    if source.snapshot.account != "123456789012":
        return
    identifier = source.snapshot.identifier
    if source.database_arn:
        database = source.database_arn.rsplit(":", 1)[-1]
    elif match := _AUTOMATED.match(identifier):
        database = match["db"]
    else:
        database = identifier.replace(":", "-")
    if source.kind == "cluster":
        sim.world.cluster(database)
    else:
        sim.world.database(database)
    # (an AWS Backup cluster snapshot is a manual one: "awsbackup" does not apply to Aurora)
    snapshot_type = source.snapshot_type or "manual"
    sim.world.snapshot(database, identifier, kind=source.kind, snapshot_type=snapshot_type)


def attempt_early_delete(sim: Simulation) -> None:
    """Once the backup copy is made: someone holding the main account's pipeline role tries to
    delete it, then asks the backup account's keeper to; both refusals go in the timeline."""
    copies = [c for c in sim.world.app_copies(BACKUP_ACCOUNT) if c["status"] == "available"]
    if not copies:
        return
    copy = copies[0]
    backup = sim.backup_role_session()
    try:
        backup.client("rds").delete_db_snapshot(DBSnapshotIdentifier=copy["id"])
    except ClientError as error:
        code = error.response["Error"]["Code"]
        sim.note(f"the pipeline role tries DeleteDBSnapshot {copy['id']}: refused by IAM ({code})")
    answer = sim.ask_keeper(
        {
            "action": "expire",
            "kind": copy["kind"],
            "snapshot": copy["id"],
            "execution": copy["tags"].get("rds-xacct:execution", "demo-run"),
        },
        backup,
    )
    sim.note(f"the pipeline role asks the keeper to delete it now: {answer['decision']}")
    sim.permissions.take_refusals()  # expected: the attacker's, not the app's


def where_the_copies_are(sim: Simulation) -> list[str]:
    """Each copy of the app, in both accounts: its account, region and key (read from RDS where
    it is), the intermediate copy in the source's region, the backup copy where it lands."""
    lines = []
    for account, session in ((MAIN_ACCOUNT, sim.world.main), (BACKUP_ACCOUNT, sim.world.backup)):
        rds = session.client("rds")
        described: list[tuple[str, str, str | None]] = [
            (s["DBSnapshotIdentifier"], s["DBSnapshotArn"], s.get("KmsKeyId"))
            for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
        ] + [
            (s["DBClusterSnapshotIdentifier"], s["DBClusterSnapshotArn"], s.get("KmsKeyId"))
            for s in rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
        ]
        for identifier, arn, key in described:
            if not identifier.startswith("xacct-"):
                continue
            role = "backup copy" if account == BACKUP_ACCOUNT else "intermediate copy"
            lines.append(
                f"  {role:<18} account {account}, region {arn.split(':')[3]}: {identifier}\n"
                f"  {'':<18} key {key or '(not encrypted)'}"
            )
    return lines


def print_run(result: RunResult, *, out: Any = None) -> None:
    out = out or sys.stdout  # (read when called: a test captures it)

    def say(text: str = "") -> None:
        print(text, file=out)

    say(f"Rules matched: {', '.join(result.matched_rules) or 'none'}")
    if result.execution_arn is None:
        say(f"No run: {result.cause}")
        return
    say(f"Execution: {result.execution_arn}")
    say()
    say("Timeline (simulated time since the event; snapshots shown when they change)")
    shown: tuple[list[str], list[str]] | None = None
    for entry in result.timeline:
        marker = {"task": "  ", "wait": "..", "error": "!!"}.get(entry.kind, "  ")
        say(f"{marker} {_time(entry.at, result.started_at)}  {entry.text}")
        if entry.kind != "wait" and (entry.main, entry.backup) != shown:
            shown = (entry.main, entry.backup)
            say(f"                 main account:   {', '.join(entry.main) or '-'}")
            say(f"                 backup account: {', '.join(entry.backup) or '-'}")
    say()
    say(f"States: {' > '.join(result.states)}")
    say(f"Status: {result.status}" + (f" ({result.error})" if result.error else ""))
    say()
    for message in result.sns:
        say("SNS message")
        say(f"  Subject: {message['subject']}")
        attributes = {k: v.get("Value", v) for k, v in (message["attributes"] or {}).items()}
        say(f"  Attributes: {json.dumps(attributes)}")
        body = message["message"].split("\n\n--- summary (JSON) ---")[0]
        say(textwrap.indent(body, "  | "))
        say()
    for slack in result.slack:
        say("Slack message")
        say(f"  {slack.get('text')}")
        for block in slack.get("blocks", []):
            for field in block.get("fields", []):
                label, _, value = field["text"].partition("\n")
                say(f"  | {label.strip('*')}: {value}")
            for element in block.get("elements", []):
                say(f"  [{element['text']['text']}] {element.get('url', '')}")
        say()
    summary = result.summary or (result.output or {}).get("summary")
    if summary:
        backup = summary.get("backupCopy") or {}
        say("Summary")
        say(f"  outcome:     {summary['outcome']}")
        say(f"  source:      {summary['source'].get('arn')}")
        say(f"  backup copy: {backup.get('arn') or '-'}")
        say(f"  expires:     {summary.get('expiresAt') or 'never'}")
        if backup.get("action"):
            say(
                f"  retention:   asked the backup account's keeper to delete the copy: {backup['action']}"
            )
            say(f"               ({backup.get('note')})")
        say()
    say(
        f"Simulated {_time(result.finished_at, result.started_at)}, "
        f"{result.transitions} states entered, {result.lambda_calls} Lambda invocations."
    )


DEMO_ACCOUNTS = (MAIN_ACCOUNT, SECOND_ACCOUNT)
"""The source accounts of `--source-accounts 2`."""


def backup_copies(sim: Simulation) -> list[dict[str, str]]:
    """The backup account's copies as RDS describes them there: name, the snapshot it was
    copied from (RDS's record, `SourceDBSnapshotIdentifier`, which the keeper reads to know a
    copy's source account), key, status."""
    rds = sim.world.backup.client("rds")
    copies = []
    for snapshot in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        if snapshot["DBSnapshotIdentifier"].startswith("xacct-"):
            copies.append(
                {
                    "id": snapshot["DBSnapshotIdentifier"],
                    "source": snapshot.get("SourceDBSnapshotIdentifier") or "-",
                    "key": snapshot.get("KmsKeyId") or "(not encrypted)",
                    "status": snapshot["Status"],
                }
            )
    return copies


def show_copies(sim: Simulation, accounts: tuple[str, ...], *, out: Any) -> None:
    """The backup account's copies side by side, with their source account (RDS's record) and
    key, and what the keeper answers each account about the other's copy."""

    def say(text: str = "") -> None:
        print(text, file=out)

    landed = backup_copies(sim)
    say(f"Two hours later, in the backup account {BACKUP_ACCOUNT} ({sim.backup_region}):")
    for copy in landed:
        source = copy["source"]
        account = source.split(":")[4] if source.startswith("arn:") else "?"
        say(f"  {copy['id']}  ({copy['status']})")
        say(f"      copied from account {account}: {source}")
        say(f"      key {copy['key']}")
    # The keeper's view: it learns the asking account from AWS and answers it about its own
    # copies only (each account asks, through the backup role, to delete the other's copy)
    by_account = {c["source"].split(":")[4]: c for c in landed if c["source"].startswith("arn:")}
    for account, other in zip(accounts, reversed(accounts), strict=True):
        if account == other or other not in by_account:
            continue
        session = sim.backup_role_session(sim.pipeline_session(account))
        request = {"action": "expire", "kind": "db", "snapshot": by_account[other]["id"]}
        answer = sim.ask_keeper({**request, "execution": "demo"}, session)
        say(
            f"  account {account} asks the keeper to delete {other}'s copy now: {answer['decision']}"
        )
        say(f"      ({answer.get('reason')})")
    names = {copy["id"] for copy in landed}
    say(
        f"  {len(names)} copies, {'all names differ' if len(names) == len(accounts) else 'NAMES COLLIDE'}"
    )
    say()


def run_accounts(sim: Simulation, accounts: tuple[str, ...], *, out: Any = None) -> bool:
    """One database of the same name in each source account, an AWS Backup snapshot of each
    made in the same second, delivered together: each account's run, and the backup account's
    copies side by side. True if every run succeeded."""
    out = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out)

    moment = sim.clock.now() - timedelta(minutes=5)
    events = [
        sim.backup_event("orders-db", account=account, job_id="demo", created_at=moment)
        for account in accounts
    ]
    say(f"AWS Backup snapshots of orders-db, made at {moment:%Y-%m-%d %H:%M:%S} in each account:")
    for event in events:
        say(f"  {event['detail']['recoveryPointArn']}")
    say()
    # The demo takes part in the simulated clock: it stands still while the demo looks, and
    # moves only while it waits (else the runs' waits would move it on at once)
    with sim.clock.taking_part():
        arns = [sim.start_run(event, name=f"demo-run-{event['account']}") for event in events]
        sim.clock.wait_until(sim.clock.now() + timedelta(hours=2))
        show_copies(sim, accounts, out=out)
    # The runs go on to the end of their retention (the clock moves as they all wait)
    described = sim.wait_for_runs(arns)
    say("The runs, each in its own account:")
    for arn, run in zip(arns, described, strict=True):
        summary = json.loads(run["output"]) if run.get("output") else {}
        backup = summary.get("backupCopy") or {}
        say(f"  {arn}")
        say(
            f"      {run['status']}, outcome {summary.get('outcome', '-')}; backup copy "
            f"{backup.get('arn', '-')}"
        )
        say(
            f"      asked the keeper to delete it at the end of the retention: {backup.get('action')}"
        )
    say()
    say(
        f"Left in the backup account: {', '.join(c['id'] for c in backup_copies(sim)) or 'nothing'}"
    )
    return all(run["status"] == "SUCCEEDED" for run in described)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--event", help=f"an event JSON file (default: {DEFAULT_EVENT.name})")
    parser.add_argument("--source", choices=sorted(SOURCES), help="a recorded event of this kind")
    parser.add_argument(
        "--retention",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        help=f"RetentionDays (default {DEFAULT_RETENTION_DAYS})",
    )
    parser.add_argument("--fail-at", choices=INJECTABLE_STEPS, help="inject a failure at a step")
    parser.add_argument("--no-slack", action="store_true", help="deploy without Slack")
    parser.add_argument(
        "--backup-region",
        metavar="REGION",
        help=f"BackupRegion: the backup copy lands in this region (the main account's: {REGION})",
    )
    parser.add_argument(
        "--source-accounts",
        type=int,
        choices=(1, 2),
        default=1,
        help="source accounts copying into the one backup account (default 1)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
    }.items():
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)

    source = args.source or "aws-backup"
    event_path = Path(args.event) if args.event else EVENTS_DIR / SOURCES[source]
    event = load_event(event_path)
    parameters = {"RetentionDays": str(args.retention), **NATIVE_PARAMETERS.get(source, {})}
    if args.event:
        parameters.update({name: "true" for extra in NATIVE_PARAMETERS.values() for name in extra})

    began = time.perf_counter()
    if args.source_accounts > 1:
        return _main_accounts(args, parameters, began)
    with Simulation(
        parameters=parameters, slack=not args.no_slack, backup_region=args.backup_region
    ) as sim:
        print(
            f"Main account {sim.world.main.client('sts').get_caller_identity()['Account']} in "
            f"{REGION}, backup account {BACKUP_ACCOUNT} in {sim.backup_region} (key, role and "
            "keeper from other/backup-account"
            + (
                f"; its key for the intermediate copies in {REGION})"
                if sim.in_another_region
                else ")"
            )
        )
        print(f"Event: {event_path.name} ({event.get('detail-type')} from {event.get('source')})")
        print(
            f"RetentionDays={args.retention}, the backup account's "
            f"MinimumRetentionDays={DEFAULT_MIN_RETENTION_DAYS}"
            + (f", failure injected at {args.fail_at}" if args.fail_at else "")
        )
        print()
        prepare_source(sim, event)
        if args.fail_at:
            sim.inject_failure(args.fail_at)
        sim.after_step["DeleteIntermediate"] = lambda: attempt_early_delete(sim)
        where: list[str] = []
        sim.after_step["CopyBackup"] = lambda: where.extend(where_the_copies_are(sim))
        status: list[str] = []
        # `rds-xacct status` once the backup copy is made (the run then waits out its retention)
        sim.after_step["Notify"] = lambda: status.append(status_table(sim)[0])
        result = sim.deliver(event, name="demo-run")
        print_run(result)
        if where:
            print("Where the copies were once the backup copy was started (read from RDS):")
            print("\n".join(where))
            print()
        leftover = sim.world.app_copies(BACKUP_ACCOUNT)
        if leftover and any(c["tags"].get("rds-xacct:expires-at") for c in leftover):
            sim.clock.advance(DEFAULT_MIN_RETENTION_DAYS * 86400)
            passed = sim.keeper_pass()
            print(
                f"{DEFAULT_MIN_RETENTION_DAYS} days later, the keeper's hourly pass in the backup "
                f"account deletes: {', '.join(passed['deleted']) or 'nothing'}"
            )
        if result.status != "SUCCEEDED" or not status:
            status = [status_table(sim)[0]]
    print(f"Real time: {time.perf_counter() - began:.1f} s")
    when = "once the run ended" if result.status != "SUCCEEDED" else "once the copy was made"
    print()
    print(f"What the operator command showed {when} (rds-xacct status):")
    print(status[0], end="")
    expected = {"SUCCEEDED", "NOT_STARTED"} if not args.fail_at else {"FAILED"}
    return 0 if result.status in expected else 1


def _main_accounts(args: argparse.Namespace, parameters: dict[str, str], began: float) -> int:
    accounts = DEMO_ACCOUNTS[: args.source_accounts]
    with Simulation(
        parameters=parameters,
        slack=not args.no_slack,
        backup_region=args.backup_region,
        source_accounts=accounts,
    ) as sim:
        print(
            f"Source accounts {', '.join(accounts)} in {REGION}, each with the main stack; one "
            f"backup account {BACKUP_ACCOUNT} in {sim.backup_region} (SourceAccountIds="
            f"{','.join(accounts)})"
        )
        print(f"RetentionDays={args.retention}")
        print()
        succeeded = run_accounts(sim, accounts)
    print(f"Real time: {time.perf_counter() - began:.1f} s")
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
