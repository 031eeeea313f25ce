"""CloudWatch metrics as embedded metric format (EMF) log lines, with the standard library only:
the backup account's keeper ships without Powertools (whose Metrics writes the same lines for
the main account's functions).

A Lambda function publishes a metric by writing an EMF line to standard output: "Lambda
automatically sends everything that your function writes to standard output to a CloudWatch
Logs log group, and CloudWatch Logs extracts metrics from any log events that follow the
embedded metric format specification" (CloudWatch User Guide, "Using the embedded metric format
with Lambda"); with the JSON log format, Lambda does not encode again a line that is JSON
already (Lambda Developer Guide, "Configuring JSON and plain text log formats"). No
cloudwatch:PutMetricData, no extra call.

Each line follows the "Specification: Embedded metric format": a root `_aws` with `Timestamp`
(milliseconds since the epoch) and one `CloudWatchMetrics` directive naming the namespace, the
dimension set and each metric with its unit; the dimension's value and each metric's value are
members of the root. Names come from rds_xacct.model.metrics.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any

from rds_xacct.model.metrics import DIMENSION, NAMESPACE, SERVICE

COUNT = "Count"
DISABLED = "POWERTOOLS_METRICS_DISABLED"
"""The switch Powertools' Metrics obey in the main account's functions, obeyed here too: the
tests and `make demo` turn metrics off for both accounts at once (unset in Lambda: on)."""
MAX_METRICS = 100
"""The specification allows at most 100 metrics in a directive."""


def emf_line(
    metrics: Mapping[str, float], *, now: datetime, units: Mapping[str, str] | None = None
) -> str:
    """One EMF line carrying `metrics` (name to value) at `now`, each in its unit (`Count`
    unless `units` says otherwise), in the app's namespace with its `service` dimension."""
    if not 0 < len(metrics) <= MAX_METRICS:
        raise ValueError(f"An EMF line carries 1 to {MAX_METRICS} metrics, not {len(metrics)}")
    units = units or {}
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(now.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": units.get(name, COUNT)} for name in metrics],
                }
            ],
        },
        DIMENSION: SERVICE,
        **metrics,
    }
    return json.dumps(document, separators=(",", ":"))


def emit(
    metrics: Mapping[str, float],
    *,
    now: datetime,
    units: Mapping[str, str] | None = None,
    stream: IO[str] | None = None,
) -> None:
    """Write one EMF line to standard output (or `stream`), where Lambda's log agent takes it;
    nothing when metrics are turned off (`DISABLED`)."""
    if os.environ.get(DISABLED, "").strip().lower() in {"1", "t", "true", "y", "yes", "on"}:
        return
    print(emf_line(metrics, now=now, units=units), file=stream or sys.stdout, flush=True)
