"""`make bench`: speed and cost of a run, measured on the simulation.

For databases of several sizes it runs the whole pipeline (template, ASL, handlers) on moto and
prints, per run: simulated duration, polls, how late a finished copy is noticed, state
transitions, Lambda invocations and AWS API calls, the Step Functions and Lambda cost, and the
same figures for the original tool's fixed 300-second polling. Copy times follow the
simulation's model (3 minutes + 1 minute per GiB, per copy); real RDS copy times vary.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from typing import Any
from unittest import mock

from moto.core.botocore_stubber import BotocoreStubber

from tests.support.simulation import RunResult, Simulation

SFN_PRICE_PER_TRANSITION = 0.025 / 1000  # Standard workflows, us-east-1, per state transition
LAMBDA_PRICE_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PRICE_PER_GB_SECOND_ARM = 0.0000133334
LAMBDA_MEMORY_GB = 0.25
LAMBDA_SECONDS_PER_INVOCATION = 0.4  # a conservative estimate for one handler invocation
FIXED_POLL_SECONDS = 300
COPY_MODEL = (3.0, 1.0)  # base minutes, minutes per GiB (MotoPatches.simulate_copy_progress)


def _copy_minutes(size_gib: int) -> float:
    base, per_gib = COPY_MODEL
    return base + size_gib * per_gib


def _fixed_polling(size_gib: int) -> tuple[int, float]:
    """(polls, minutes late) for one copy polled every 300 s, as the original tool did."""
    seconds = _copy_minutes(size_gib) * 60
    polls = math.ceil(seconds / FIXED_POLL_SECONDS)
    return polls, (polls * FIXED_POLL_SECONDS - seconds) / 60


def _our_polling(result: RunResult) -> tuple[int, float]:
    """(polls, minutes late) per copy, measured: CheckShared and CheckBackup calls, and the
    time from a copy's real end (by the model) to the look that saw it available."""
    polls = sum(1 for state in result.states if state in ("CheckShared", "CheckBackup")) / 2
    summary = result.summary or {}
    started = summary.get("startedAt")
    shared = (summary.get("sharedCopy") or {}).get("availableAt")
    if not (started and shared):
        return int(polls), float("nan")
    from rds_xacct.snapshots import parse_iso

    noticed = (parse_iso(shared) - parse_iso(started)).total_seconds() / 60
    source = summary.get("source") or {}
    late = noticed - _copy_minutes(int(source.get("sizeGiB") or 0))
    return round(polls), late


def run(size_gib: int, retention: int) -> dict[str, Any]:
    calls: Counter[str] = Counter()
    original = BotocoreStubber.process_request

    def counting(stubber: BotocoreStubber, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        action = (
            target.rsplit(".", 1)[-1] if target else body.split("Action=", 1)[-1].split("&", 1)[0]
        )
        calls[f"{request.url.split('//', 1)[-1].split('.', 1)[0]}:{action}"] += 1
        return original(stubber, request)

    with Simulation(parameters={"RetentionDays": str(retention)}, slack=True) as sim:
        event = sim.backup_event(f"db-{size_gib}gib", size_gib=size_gib)
        began = time.perf_counter()
        with mock.patch.object(BotocoreStubber, "process_request", counting):
            result = sim.deliver(event, name=f"bench-{size_gib}")
        real = time.perf_counter() - began
    app_calls = sum(
        n for key, n in calls.items() if key.split(":")[0] in ("rds", "sts", "sns", "ssm")
    )
    our_polls, our_late = _our_polling(result)
    fixed_polls, fixed_late = _fixed_polling(size_gib)
    transitions = result.transitions
    sfn_cost = transitions * SFN_PRICE_PER_TRANSITION
    lambda_cost = result.lambda_calls * (
        LAMBDA_PRICE_PER_REQUEST
        + LAMBDA_SECONDS_PER_INVOCATION * LAMBDA_MEMORY_GB * LAMBDA_PRICE_PER_GB_SECOND_ARM
    )
    # The original tool: same steps, but 300 s waits: each extra poll is a Wait + Task + Choice
    fixed_transitions = transitions + 3 * 2 * (fixed_polls - our_polls)
    return {
        "size": size_gib,
        "status": result.status,
        "real_s": real,
        "simulated_h": (result.finished_at - result.started_at).total_seconds() / 3600,
        "copy_min": _copy_minutes(size_gib),
        "polls": our_polls,
        "late_min": our_late,
        "fixed_polls": fixed_polls,
        "fixed_late_min": fixed_late,
        "transitions": transitions,
        "fixed_transitions": fixed_transitions,
        "lambda": result.lambda_calls,
        "api_calls": app_calls,
        "cost": sfn_cost + lambda_cost,
        "fixed_cost": fixed_transitions * SFN_PRICE_PER_TRANSITION
        + lambda_cost
        + 2 * (fixed_polls - our_polls) * (LAMBDA_PRICE_PER_REQUEST),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="20,200,1000,4000", help="database sizes in GiB")
    parser.add_argument("--retention", type=int, default=1)
    parser.add_argument("--databases", type=int, default=30, help="for the monthly cost line")
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        os.environ[name] = value

    rows = [run(int(size), args.retention) for size in args.sizes.split(",")]
    header = (
        f"{'GiB':>5} {'copy':>7} {'polls/copy':>10} {'late':>7} {'300s polls':>10} {'300s late':>9} "
        f"{'transitions':>11} {'(300s)':>7} {'Lambda':>6} {'API':>5} {'$ / run':>9} {'(300s)':>9} "
        f"{'sim time':>9} {'real':>6}"
    )
    print(__doc__.split("\n\n")[0])
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['size']:>5} {r['copy_min']:>5.0f}m {r['polls']:>10} {r['late_min']:>6.1f}m "
            f"{r['fixed_polls']:>10} {r['fixed_late_min']:>8.1f}m {r['transitions']:>11} "
            f"{r['fixed_transitions']:>7} {r['lambda']:>6} {r['api_calls']:>5} "
            f"{r['cost']:>9.5f} {r['fixed_cost']:>9.5f} {r['simulated_h']:>8.1f}h {r['real_s']:>5.1f}s"
        )
    monthly = sum(r["cost"] for r in rows) / len(rows) * args.databases * 30
    print()
    print(
        f"Runs: {', '.join(r['status'] for r in rows)}. A month of daily copies of "
        f"{args.databases} databases (average of the sizes above): ${monthly:.2f} in Step "
        f"Functions and Lambda; snapshot storage in the backup account is billed by RDS."
    )
    print(
        "polls/copy: looks at one copy until it is available; late: minutes between the copy's "
        "end and the look that saw it; 300s: the original tool's fixed polling."
    )
    return 0 if all(r["status"] == "SUCCEEDED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
