"""What the daily jobs tell people: a message when the reconciliation started runs, left some
over or hit a problem, and when the sweep deleted copies or hit a problem; none when all is well.
The words are rds_xacct.messages.words'; the delivery, rds_xacct.messages.delivery's."""

from __future__ import annotations

from typing import Any

from rds_xacct.messages import words
from rds_xacct.messages.delivery import deliver
from rds_xacct.messages.words import Message
from rds_xacct.model.settings import Settings


def _tell(message: Message | None, result: dict[str, Any], settings: Settings) -> dict[str, Any]:
    if message is not None:
        sns = deliver(message, settings).settle()["sns"]
        if sns is not None:
            result["sns"] = sns
    return result


def report_reconcile(result: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A message when reconciliation started runs, left some over or hit a problem."""
    return _tell(words.reconcile_report(result), result, settings)


def report_sweep(result: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A message when the sweep deleted something or hit a problem."""
    return _tell(words.sweep_report(result), result, settings)
