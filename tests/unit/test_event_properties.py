"""Property tests of the event parser: whatever JSON arrives, the answer is a snapshot to copy,
or a clear `UnsupportedEvent` (a skip, `EventSkipped`, is one), never another exception."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rds_xacct.model.errors import UnsupportedEvent
from rds_xacct.pipeline.events import SourceEvent, parse_event

EVENTS = sorted((Path(__file__).parent.parent / "events").glob("*.json"))
RECORDED = [json.loads(path.read_text()) for path in EVENTS]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no example database written into the working tree
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    # strings the parser looks for, so that generated events reach its deeper branches
    | st.sampled_from(
        [
            "aws.backup",
            "aws.rds",
            "Backup Job State Change",
            "Copy Job State Change",
            "RDS DB Snapshot Event",
            "RDS DB Cluster Snapshot Event",
            "COMPLETED",
            "RUNNING",
            "RDS",
            "Aurora",
            "DocumentDB",
            "RDS-EVENT-0091",
            "RDS-EVENT-0169",
            "arn:aws:rds:eu-west-1:123456789012:snapshot:awsbackup:job-1",
            "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:x",
            "arn:aws:rds:eu-west-1:123456789012:db:orders-db",
            "arn:aws:backup:eu-west-1:1:recovery-point:continuous:db-x",
            "arn:aws:rds:eu-west-1",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
"""Any JSON document."""

FIELDS = sorted(
    {key for event in RECORDED for key in event}
    | {key for event in RECORDED for key in event.get("detail", {})}
)


def _answer(raw: Any) -> SourceEvent | UnsupportedEvent:
    try:
        return parse_event(raw)
    except UnsupportedEvent as error:
        return error


def _assert_clear(answer: SourceEvent | UnsupportedEvent) -> None:
    if isinstance(answer, UnsupportedEvent):
        assert str(answer).strip()
    else:
        assert answer.snapshot.identifier
        assert answer.kind in ("db", "cluster")


@SETTINGS
@given(json_values)
def test_any_json_is_a_source_or_unsupported(raw: Any) -> None:
    _assert_clear(_answer(raw))


@SETTINGS
@given(
    base=st.sampled_from(RECORDED),
    changes=st.lists(
        st.tuples(st.booleans(), st.sampled_from(FIELDS), st.none() | json_values), max_size=4
    ),
)
def test_mutated_recorded_events_are_a_source_or_unsupported(
    base: dict[str, Any], changes: list[tuple[bool, str, Any]]
) -> None:
    # Given a recorded event with fields of it or of its detail replaced, removed or added
    event = copy.deepcopy(base)
    for in_detail, field, value in changes:
        detail = event.get("detail")
        target = detail if in_detail and isinstance(detail, dict) else event
        if value is None:
            target.pop(field, None)
        else:
            target[field] = value
    # When it is read, Then the answer is a source or a clear UnsupportedEvent
    _assert_clear(_answer(event))


@SETTINGS
@given(detail=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8))
def test_any_detail_of_the_handled_shapes_is_a_source_or_unsupported(
    detail: dict[str, Any],
) -> None:
    for source, detail_type in (
        ("aws.backup", "Backup Job State Change"),
        ("aws.backup", "Copy Job State Change"),
        ("aws.rds", "RDS DB Snapshot Event"),
        ("aws.rds", "RDS DB Cluster Snapshot Event"),
    ):
        event = {"source": source, "detail-type": detail_type, "detail": detail}
        _assert_clear(_answer(event))
