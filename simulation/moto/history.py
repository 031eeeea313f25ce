"""Step Functions' GetExecutionHistory as AWS pages it: newest first on request, a page at a time.

moto 5.2.5 answers every event of a run, oldest first, whatever the request asks: it ignores
`reverseOrder`, `maxResults` and `nextToken`. The operator command reads a run's latest state
from the newest events (`rds_xacct.jobs.runs.last_state`): with moto's answer it would read the
first state instead.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

from moto.core.responses import ActionResult
from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.responses import StepFunctionResponse

DEFAULT_PAGE = 100
LARGEST_PAGE = 1000


def _paged_history() -> Any:
    # GetExecutionHistory API reference: "By default, the results are returned in ascending
    # order of the timeStamp of the events. Use the reverseOrder parameter to get the latest
    # events first." maxResults: "The default is 100 and the maximum allowed page size is 1000.
    # A value of 0 uses the default." nextToken: "If nextToken is returned, there are more
    # results available ... Make the call again using the returned token to retrieve the next
    # page. Keep all other arguments unchanged." (The token is opaque: an offset here.)
    def get_execution_history(response: StepFunctionResponse) -> ActionResult:
        arn = response._get_param("executionArn")
        events = list(response.stepfunction_backend.get_execution_history(arn)["events"])
        if response._get_param("reverseOrder"):
            events.reverse()
        size = int(response._get_param("maxResults") or 0) or DEFAULT_PAGE
        if not 0 < size <= LARGEST_PAGE:
            raise ValidationException(
                f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
                f"constraint: Member must have value less than or equal to {LARGEST_PAGE}"
            )
        first = int(response._get_param("nextToken") or 0)
        result: dict[str, Any] = {"events": events[first : first + size]}
        if first + size < len(events):
            result["nextToken"] = str(first + size)
        return ActionResult(result)

    return get_execution_history


def patches() -> list[Any]:
    return [
        mock.patch.object(StepFunctionResponse, "get_execution_history", _paged_history()),
    ]


__all__ = ["patches"]
