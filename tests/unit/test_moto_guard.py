"""The guard against moto changing under the simulation (simulation/guard.py), and the list of
patches it checks (simulation/moto_apis.py) kept whole: every patch installed is listed, every
entry is a real patch and is in simulation/README.md's table."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from moto import mock_aws
from moto.rds.models import DBSnapshot, RDSBackend
from moto.rds.responses import RDSResponse

import simulation
from simulation import guard
from simulation.contention import DynamoDbContention
from simulation.faults import FAULTS, AwsFaults
from simulation.iam import Enforcement, enforced
from simulation.moto import MOTO_CONFIG, MotoPatches, SimClock
from simulation.moto_apis import PATCHES, Api, Patch
from tests.conftest import START

README = Path(simulation.__file__).parent / "README.md"


def _raised(**kwargs: Any) -> str:
    with pytest.raises(guard.MotoChanged) as raised:
        guard.check_moto(**kwargs)
    return str(raised.value)


# --- The guard ------------------------------------------------------------------------------------
def test_the_installed_moto_is_the_pinned_one_and_has_every_api_the_patches_use() -> None:
    assert guard.installed_moto() == guard.pinned_moto()
    assert guard.problems() == []
    guard.check_moto()


def test_another_moto_version_is_refused() -> None:
    message = _raised(installed="5.3.0")
    assert f"moto 5.3.0 is installed; requirements-dev.txt pins {guard.pinned_moto()}" in message
    assert "Re-read each patch" in message


def test_a_private_method_gone_is_named_with_the_patch_that_needs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(RDSBackend, "_validate_kms_key")
    message = _raised()
    assert (
        "simulation.moto.rds._validate_kms_key_patch: "
        "moto.rds.models.RDSBackend._validate_kms_key is gone"
    ) in message
    assert "moto.rds.models.RDSBackend.get_snapshot" not in message  # only what is missing


def test_a_wrapped_function_whose_parameters_changed_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def get_snapshot(self: Any, identifier: str, kind: Any) -> None: ...

    monkeypatch.setattr(RDSBackend, "get_snapshot", get_snapshot)
    message = _raised()
    assert "simulation.moto.rds._get_snapshot_patch" in message
    assert "RDSBackend.get_snapshot takes (self, identifier, kind); the patch expects" in message


def test_moto_growing_what_a_patch_adds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        RDSResponse, "describe_account_attributes", lambda self: None, raising=False
    )
    monkeypatch.setattr(DBSnapshot, "option_group_name", "default", raising=False)
    message = _raised()
    assert "rds_copies._describe_account_attributes: moto.rds.responses.RDSResponse" in message
    assert "rds._snapshot_option_group: moto.rds.models.DBSnapshot.option_group_name" in message
    assert "now exists in moto" in message


def test_moved_modules_and_instance_attributes_are_checked() -> None:
    patch = Patch(
        "simulation.example",
        "aws rule",
        (
            Api("moto.rds.no_such_module.Thing"),
            Api("moto.rds.models.DBSnapshot.no_such_attribute", kind="instance"),
            Api("moto.rds.models.DBSnapshot.snapshot_type", kind="instance"),
        ),
    )
    assert guard.problems((patch,)) == [
        "simulation.example: moto.rds.no_such_module.Thing is gone (no `no_such_module` in "
        "moto.rds)",
        "simulation.example: moto.rds.models.DBSnapshot objects no longer get "
        "`.no_such_attribute` (no `self.no_such_attribute = ...` in moto's code)",
    ]


def test_the_guard_runs_when_the_simulation_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "installed_moto", lambda: "6.0.0")
    with pytest.raises(guard.MotoChanged, match=r"moto 6\.0\.0 is installed"):
        importlib.reload(simulation)


def test_the_pin_is_read_from_requirements(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements-dev.txt"
    requirements.write_text("boto3==1.0\nmoto[rds,sts]==5.2.5  # comment\n")
    assert guard.pinned_moto(requirements) == "5.2.5"
    requirements.write_text("boto3==1.0\nmoto>=5\n")
    with pytest.raises(guard.MotoChanged, match="pins no moto version"):
        guard.pinned_moto(requirements)


# --- The list of patches, kept whole ------------------------------------------------------------
def _path(target: Any, attribute: str) -> str:
    if isinstance(target, ModuleType):
        return f"{target.__name__}.{attribute}"
    owner = target if isinstance(target, type) else type(target)  # an object: its class's
    return f"{owner.__module__}.{owner.__qualname__}.{attribute}"


def _maker(new: Any) -> str:
    """The simulation's function or class that made a replacement (the outermost name of its
    qualified name: `_limited_copy.<locals>.wrap.<locals>.copy` was made by `_limited_copy`)."""
    if isinstance(new, property):
        candidates = [f for f in (new.fget, new.fset) if f is not None]
    elif hasattr(new, "__qualname__"):
        candidates = [new]
    else:
        candidates = [type(new)]
    for made in candidates:
        if made.__module__.startswith("simulation."):
            return f"{made.__module__}.{made.__qualname__.split('.')[0]}"
    return f"(not the simulation's: {new!r})"


@pytest.fixture(scope="module")
def installed() -> list[tuple[str, str]]:
    """(moto API patched, what made the patch) for everything that patches moto (or botocore, or
    Powertools), but the bench."""
    seen: list[tuple[str, str]] = []
    original = mock.patch.object

    def recording(target: Any, attribute: str, new: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((_path(target, attribute), _maker(new)))
        return original(target, attribute, new, *args, **kwargs)

    clock = SimClock(START)
    clock.start()
    try:
        with (
            mock.patch.object(mock.patch, "object", recording),
            mock_aws(config=MOTO_CONFIG),
            MotoPatches(clock),
            AwsFaults().installed(),
            DynamoDbContention().installed(),
            enforced(Enforcement()),
        ):
            pass
    finally:
        clock.stop()
    patched = ("moto.", "botocore.", "aws_lambda_powertools.")
    return [(path, maker) for path, maker in seen if path.startswith(patched)]


def test_every_patch_installed_is_listed_with_the_api_it_patches(
    installed: list[tuple[str, str]],
) -> None:
    listed = {(api.path, patch.where) for patch in PATCHES for api in patch.apis}
    assert len(installed) >= 30
    assert sorted(set(installed) - listed) == []


def test_every_listed_patch_is_installed(installed: list[tuple[str, str]]) -> None:
    makers = {maker for _, maker in installed}
    not_installed = [
        patch.where
        for patch in PATCHES
        # (an endpoint is a callback on moto's `responses` mock, not a mock.patch)
        if patch.role not in ("reads", "counter", "metrics", "endpoint")
        and patch.where not in makers
    ]
    assert not_installed == []


def test_every_listed_patch_exists() -> None:
    for patch in PATCHES:
        module, _, name = patch.where.rpartition(".")
        assert hasattr(importlib.import_module(module), name), patch.where


def _readme_rows() -> list[str]:
    """The rows of the README's tables of patches (those headed "| Patch")."""
    rows, in_table = [], False
    for line in README.read_text().splitlines():
        in_table = line.startswith("| Patch") or (in_table and line.startswith("|"))
        if in_table and line.startswith("| `"):
            rows.append(line)
    return rows


def test_every_listed_patch_is_in_the_readme_table() -> None:
    rows = "\n".join(_readme_rows())
    missing = [
        patch.where
        for patch in PATCHES
        if f"`{patch.where.removeprefix('simulation.').removeprefix('moto.')}`" not in rows
    ]
    assert missing == []


def test_the_readme_table_names_no_patch_that_is_not_listed() -> None:
    listed = {p.where.removeprefix("simulation.").removeprefix("moto.") for p in PATCHES}
    named = {
        name for row in _readme_rows() for name in re.findall(r"`([\w.]+)`", row.split("|")[1])
    }
    assert sorted(named - listed) == []


def test_the_readme_names_every_fault_mode() -> None:
    text = README.read_text()
    assert [fault for fault in FAULTS if f"`{fault}`" not in text] == []
