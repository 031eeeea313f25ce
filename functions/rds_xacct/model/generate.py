"""What is written from the error table and the retry policies: the ASL and a table of the docs.

`state-machine/copy-snapshot.source.json` is the state machine with each Task's `Retry` given as
the names of its retry policies (`rds_xacct.model.retry_policy.POLICIES`), in order;
`expand_retries` spells each one out as an ASL retrier whose `ErrorEquals` are the errors the
error table retries with that policy. `troubleshooting_table` is the table under
"Troubleshooting" in docs/operations.md. `make asl` (`python -m rds_xacct.model.generate`)
writes both; tests/unit/test_error_table.py fails while either file differs from what this
gives. Not used by the functions at run time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rds_xacct.model.error_table import ERRORS, error_equals
from rds_xacct.model.retry_policy import POLICIES

ROOT = Path(__file__).resolve().parents[3]
ASL_SOURCE = ROOT / "state-machine" / "copy-snapshot.source.json"
ASL = ROOT / "state-machine" / "copy-snapshot.asl.json"
OPERATIONS = ROOT / "docs" / "operations.md"
TROUBLESHOOTING_HEADING = "## Troubleshooting"


def expand_retries(source: dict[str, Any]) -> dict[str, Any]:
    """The ASL from its source: each `Retry` lists policy names, here made retriers."""
    states = {}
    for name, state in source["States"].items():
        states[name] = state
        if "Retry" in state:
            retriers = []
            for policy_name in state["Retry"]:
                if not isinstance(policy_name, str) or policy_name not in POLICIES:
                    raise ValueError(f"{name}: {policy_name!r} is not a retry policy's name")
                policy = POLICIES[policy_name]
                retriers.append(policy.retrier(error_equals(policy)))
            states[name] = {**state, "Retry": retriers}
    return {**source, "States": states}


def asl_text(source_text: str) -> str:
    """The ASL file's text for its source's text."""
    return json.dumps(expand_retries(json.loads(source_text)), indent=2) + "\n"


def troubleshooting_table() -> list[str]:
    """One row per error name (names with the same policy and hint share one): how the state
    machine retries it (the policy, in words) and what to do (the failure notification's hint)."""
    rows: dict[tuple[str, str], list[str]] = {}
    for error in ERRORS:
        retried = error.retry.describe() if error.retry else "no"
        rows.setdefault((retried, error.hint), []).append(f"`{error.name}`")
    lines = ["| Error | Retried | What to do |", "|---|---|---|"]
    lines += [
        f"| {', '.join(names)} | {retried} | {hint} |" for (retried, hint), names in rows.items()
    ]
    return lines


def table_span(lines: list[str]) -> tuple[int, int]:
    """Where the troubleshooting table is in docs/operations.md's lines: the first table after
    its heading, up to the blank line after it."""
    start = next(
        i
        for i in range(lines.index(TROUBLESHOOTING_HEADING), len(lines))
        if lines[i].startswith("|")
    )
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return start, end


def with_troubleshooting_table(doc: str) -> str:
    """docs/operations.md's text with the troubleshooting table as the table gives it."""
    lines = doc.splitlines()
    start, end = table_span(lines)
    return "\n".join([*lines[:start], *troubleshooting_table(), *lines[end:]]) + "\n"


def main() -> int:
    """Write the ASL from its source and the troubleshooting table into docs/operations.md."""
    ASL.write_text(asl_text(ASL_SOURCE.read_text()))
    OPERATIONS.write_text(with_troubleshooting_table(OPERATIONS.read_text()))
    print(f"wrote {ASL.relative_to(ROOT)} and the troubleshooting table of {OPERATIONS.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
