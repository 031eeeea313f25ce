"""moto made as strict as AWS where this app depends on it, and run on a simulated clock.

One module per service: `lambda_` (invocations run the real handlers), `sfn` (Step Functions:
waits on the clock, Catch and error rules, one thread per execution), `core` (one request at a
time), `rds` (sharing, keys, types, options, sources, tags), `rds_copies` (copies take time;
RDS's limits on them), `rds_encryption` (copies of encrypted snapshots across accounts and
Regions), `eventbridge` (pattern matching), `dynamodb` and `memory` (what a window of 1,000 runs
needs); `clock` is the simulated clock and `patches.MotoPatches` installs them all.
simulation/README.md says what each patch enforces and which AWS document says so;
`simulation.guard` (run when `simulation` is imported, before this) refuses a moto they were
not written against.
"""

import os

# No test starts an EC2 instance: moto's catalogue of default AMIs, loaded for every account and
# region its CloudFormation touches, was a tenth of each simulation's set-up.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

from simulation.moto.clock import SimClock
from simulation.moto.eventbridge import event_matches
from simulation.moto.lambda_ import (
    FakeContext,
    LambdaHandler,
    environment,
    make_fake_context,
)
from simulation.moto.patches import MOTO_CONFIG, MotoPatches
from simulation.moto.rds_copies import RDS_LIMITS, RdsSnapshotLimits
from simulation.moto.sfn import wait_for_execution

__all__ = [
    "MOTO_CONFIG",
    "RDS_LIMITS",
    "FakeContext",
    "LambdaHandler",
    "MotoPatches",
    "RdsSnapshotLimits",
    "SimClock",
    "environment",
    "event_matches",
    "make_fake_context",
    "wait_for_execution",
]
