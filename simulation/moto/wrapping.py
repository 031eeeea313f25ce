"""Two helpers of the RDS patches: wrap what is installed, and read a backend method's argument."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock


@contextmanager
def wrapping(
    owner: Any, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Iterator[None]:
    """Patch `owner.name` with `wrap(what is installed when entered)`: composes with a patch of
    the same method entered before this one."""
    with mock.patch.object(owner, name, wrap(getattr(owner, name))):
        yield


def argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    """A backend method's argument, given by keyword (moto's responses) or by position."""
    return kwargs[name] if name in kwargs else (args[index] if len(args) > index else None)


__all__ = ["argument", "wrapping"]
