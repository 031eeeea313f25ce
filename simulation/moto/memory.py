"""Memory: moto keeps nothing that neither AWS nor the simulation would read. What a window of
1,000 runs needs (a 200-database window kept 1.9 GB; a 1,000-database one ran out of 16 GB)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.core.common_models import BaseModel
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication


def _untracked_models() -> Callable[..., Any]:
    # moto appends every model object it ever makes to its class's `instances_tracked`, for
    # moto server's dashboard (`/moto-api/data.json`) and its reset: nothing is ever let go.
    # A DynamoDB transaction deep-copies each table it writes (to put back if it fails), so a
    # window of N runs kept some N x (items in the table) items alive: 1.9 GB of a 200-database
    # window. AWS keeps nothing of the kind, and the simulation never reads the dashboard: a
    # model lives as long as its service's state holds it, as any Python object does. (Safe:
    # the only readers are the dashboard and the reset, which empties the lists anyway; objects
    # made here are simply never put in them.)
    def new(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
        instance: BaseModel = object.__new__(cls)
        return instance

    return new


class ForgottenHistory(list[Any]):
    """A finished run's history, forgotten (`_histories_forgotten`): reading it is an error,
    not an empty history."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        raise AssertionError(
            "This run's history was forgotten when it ended (MotoPatches.states_entered): a "
            "window of many runs keeps only the states each run entered"
        )


def _histories_forgotten(
    entered: Callable[[], dict[str, list[str]] | None],
) -> Callable[..., None]:
    # For a window of many runs only (`entered()` gives a dict; None: every history kept). Step
    # Functions keeps a run's history for GetExecutionHistory; in moto it is ~250 KB a run (each
    # state's input and output), a quarter of a GB for a window of 1,000 runs, and the window
    # reads only which states each run entered (its looks at the copies). So when a run ends,
    # the names of the states it entered are kept in `entered()` by execution ARN, and the
    # history is dropped: a later GetExecutionHistory of that run fails loudly
    # (`ForgottenHistory`) rather than answer less than Step Functions would. Done before the
    # run's status is set, so whoever sees it ended finds its states.
    original = BaseExecutionWorkerCommunication.terminated

    def terminated(communication: BaseExecutionWorkerCommunication) -> None:
        kept = entered()
        worker = communication.execution.exec_worker
        if kept is not None and worker is not None and worker.env is not None:
            manager = worker.env.event_manager
            history: list[Any] = manager._history_event_list
            kept[communication.execution.exec_arn] = [
                event["stateEnteredEventDetails"]["name"]
                for event in history
                if "stateEnteredEventDetails" in event
            ]
            manager._history_event_list = ForgottenHistory()  # type: ignore[misc]
        original(communication)

    return terminated


def patches(entered: Callable[[], dict[str, list[str]] | None]) -> list[Any]:
    """`entered()`: where a finished run's states entered are kept, its history forgotten (None:
    every history kept)."""
    return [
        mock.patch.object(BaseModel, "__new__", _untracked_models()),
        mock.patch.object(
            BaseExecutionWorkerCommunication, "terminated", _histories_forgotten(entered)
        ),
    ]


__all__ = ["ForgottenHistory", "patches"]
