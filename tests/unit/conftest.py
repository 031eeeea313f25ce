"""Fixtures of the unit suites: the copy-slot table (moto) and a fake Step Functions client."""

from __future__ import annotations

import json
import threading
from functools import cache
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from rds_xacct.admission import pool
from rds_xacct.aws.clients import default_client
from simulation.moto import MotoPatches
from simulation.sam_template import load_template
from simulation.world import REGION

TABLE = "rds-xacct-copy-slots"


class FakeSfn:
    """Step Functions as the pools see it: `send_task_success` completes a waiting run's task
    token, or fails as real Step Functions does when that run no longer waits on it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.gone: dict[str, str] = {}
        """token → the error code its completion gets (`TaskTimedOut`, `InvalidToken`)."""
        self.on_send: list[Any] = []
        """Called with each token before it is completed (checks made at the moment of a
        grant)."""
        self._lock = threading.Lock()

    def send_task_success(self, *, taskToken: str, output: str) -> dict[str, Any]:
        for check in self.on_send:
            check(taskToken)
        if taskToken in self.gone:
            raise ClientError(
                {
                    "Error": {
                        "Code": self.gone[taskToken],
                        "Message": "Task Timed Out: 'Provided task does not exist anymore'",
                    }
                },
                "SendTaskSuccess",
            )
        with self._lock:
            self.sent.append((taskToken, json.loads(output)))
        return {}

    def tokens(self) -> list[str]:
        with self._lock:
            return [token for token, _ in self.sent]


@cache
def _admission_table_properties() -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"]["AdmissionTable"]["Properties"]
    return properties


@pytest.fixture
def table(patches: MotoPatches) -> str:
    """The copy-slot table, as template.yaml's `AdmissionTable` declares it."""
    properties = _admission_table_properties()
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        BillingMode=properties["BillingMode"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
    )
    return TABLE


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> FakeSfn:
    """The fake Step Functions client, also for the pools the steps make themselves."""
    fake = FakeSfn()
    real = default_client
    monkeypatch.setattr(
        pool,
        "default_client",
        lambda service: fake if service == "stepfunctions" else real(service),
    )
    return fake
