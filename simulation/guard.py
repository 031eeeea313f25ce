"""The guard against moto changing under the simulation: run at its import (`simulation/__init__`).

The simulation patches moto's private parts (simulation/README.md lists every patch). A newer
moto may rename a method, move a module, add a parameter or start doing itself what a patch
adds: the patch would then fail somewhere deep in a run, or worse, silently stop applying. So
before anything of moto is patched, `check_moto` checks that

* the installed moto is the version requirements-dev.txt pins (the one the patches were read
  against), and
* every private moto API each patch relies on (`PATCHES`, in `simulation.moto_apis`) is there:
  modules, classes, functions and attributes; the parameters, in order, of each function a patch
  replaces or wraps by its signature; the attributes moto's objects get in their `__init__`;
  and, for what a patch adds, that moto does not have it yet.

Anything else raises one `MotoChanged` naming each patch and the API it misses. It is not to be
silenced: re-read each patch named against the new moto, mend it, then pin that moto.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from simulation.moto_apis import PATCHES, Api, Patch

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements-dev.txt"
_PIN = re.compile(r"^moto(?:\[[^\]]*\])?==(?P<version>[^\s;#]+)", re.MULTILINE)


class MotoChanged(RuntimeError):
    """The installed moto is not the one the simulation's patches were written against."""


def pinned_moto(requirements: Path = REQUIREMENTS) -> str:
    """The moto version requirements-dev.txt pins (`moto[...]==X.Y.Z`)."""
    found = _PIN.search(requirements.read_text())
    if found is None:
        raise MotoChanged(f"{requirements} pins no moto version (a line `moto[...]==X.Y.Z`)")
    return found.group("version")


def installed_moto() -> str:
    return importlib.metadata.version("moto")


class _Missing(Exception):
    pass


def _resolve(path: str) -> Any:
    """The object a dotted path names: modules imported as needed, then attributes (as found on
    a class: a property or a static method itself, not what it gives)."""
    parts = path.split(".")
    try:
        found: Any = importlib.import_module(parts[0])
    except ImportError as error:
        raise _Missing(f"no module {parts[0]}") from error
    here = parts[0]
    for part in parts[1:]:
        if isinstance(found, ModuleType) and not hasattr(found, part):
            try:
                found = importlib.import_module(f"{here}.{part}")
            except ModuleNotFoundError as error:
                raise _Missing(f"no `{part}` in {here}") from error
        elif inspect.isclass(found):
            try:
                found = inspect.getattr_static(found, part)
            except AttributeError as error:
                raise _Missing(f"no `{part}` in {here}") from error
        elif hasattr(found, part):
            found = getattr(found, part)
        else:
            raise _Missing(f"no `{part}` in {here}")
        here = f"{here}.{part}"
    return found


def _callable(found: Any) -> Any:
    """The function behind a static or class method as found on its class."""
    if isinstance(found, staticmethod | classmethod):
        return found.__func__
    return found


@functools.cache
def _module_source(path: str) -> str:
    return Path(path).read_text()


def _set_in_init(cls: type, name: str) -> bool:
    """Does moto's code assign `self.<name>`, in the module of the class or of a base? (The
    module's text, not the class's: `inspect.getsource` of a class parses the whole module, and
    took seconds for all of them.)"""
    assignment = re.compile(rf"\bself\.{re.escape(name)}\s*(?::[^=\n]+)?=(?!=)")
    for klass in cls.__mro__:
        if not klass.__module__.startswith(("moto", "botocore", "aws_lambda_powertools")):
            continue
        path = inspect.getsourcefile(klass)
        if path is not None and assignment.search(_module_source(path)):
            return True
    return False


def _problem(api: Api) -> str | None:
    """What is wrong with `api` in the installed moto (None: it is as the patch expects)."""
    if api.kind == "absent":
        owner, _, name = api.path.rpartition(".")
        try:
            found = _resolve(owner)
        except _Missing as missing:
            return f"{owner} is gone ({missing})"
        if hasattr(found, name):
            return f"{api.path} now exists in moto: the patch adds it, and would hide moto's"
        return None
    if api.kind == "instance":
        owner, _, name = api.path.rpartition(".")
        try:
            cls = _resolve(owner)
        except _Missing as missing:
            return f"{owner} is gone ({missing})"
        if hasattr(cls, name) or _set_in_init(cls, name):
            return None
        return f"{owner} objects no longer get `.{name}` (no `self.{name} = ...` in moto's code)"
    try:
        found = _resolve(api.path)
    except _Missing as missing:
        return f"{api.path} is gone ({missing})"
    if api.parameters:
        try:
            parameters = tuple(inspect.signature(_callable(found)).parameters)
        except (TypeError, ValueError):
            return f"{api.path} is no longer a function"
        if parameters[: len(api.parameters)] != api.parameters:
            return (
                f"{api.path} takes ({', '.join(parameters)}); the patch expects "
                f"({', '.join(api.parameters)}, ...)"
            )
    return None


def problems(patches: tuple[Patch, ...] = PATCHES) -> list[str]:
    """One line per patch and API it relies on that the installed moto lacks."""
    found = []
    for patch in patches:
        for api in patch.apis:
            problem = _problem(api)
            if problem is not None:
                found.append(f"{patch.where}: {problem}")
    return found


def check_moto(
    *, installed: str | None = None, pinned: str | None = None, patches: tuple[Patch, ...] = PATCHES
) -> None:
    """Raise `MotoChanged` unless moto is the pinned version and has every API the patches use."""
    installed = installed_moto() if installed is None else installed
    pinned = pinned_moto() if pinned is None else pinned
    lines = []
    if installed != pinned:
        lines.append(
            f"moto {installed} is installed; requirements-dev.txt pins {pinned}, the version "
            "every patch was read against"
        )
    lines.extend(problems(patches))
    if lines:
        raise MotoChanged(
            "The simulation's moto patches do not fit the installed moto:\n"
            + "\n".join(f"  - {line}" for line in lines)
            + "\nRe-read each patch named above (all of them, for a new version) against the "
            "new moto's code: simulation/README.md says what each one enforces and why. Mend "
            "the patch and its entry in simulation/moto_apis.py, then pin that moto in "
            "requirements-dev.txt."
        )


__all__ = ["MotoChanged", "check_moto", "installed_moto", "pinned_moto", "problems"]
