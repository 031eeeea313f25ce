"""Load CloudFormation YAML (short-form intrinsics such as `!Ref`, `!Sub`, `!GetAtt`) into
plain dicts in their long form (`{"Ref": ...}`, `{"Fn::Sub": ...}`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

_FUNCTIONS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "ToJsonString",
    "Length",
)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's where PyYAML has it) that understands CloudFormation's short
    forms."""


def _construct(tag: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type,unused-ignore]
        if tag == "Ref":
            return {"Ref": value}
        if tag == "Condition":
            return {"Condition": value}
        if tag == "GetAtt" and isinstance(value, str):
            return {"Fn::GetAtt": value.split(".", 1)}
        return {f"Fn::{tag}": value}

    return construct


for _name in (*_FUNCTIONS, "GetAtt"):
    _Loader.add_constructor(f"!{_name}", _construct(_name))
_Loader.add_constructor("!Ref", _construct("Ref"))
_Loader.add_constructor("!Condition", _construct("Condition"))


_LOADED: dict[tuple[str, str], dict[str, Any]] = {}
"""Templates already read, by path and text: every simulation reads both templates, and
parsing them was a third of a simulation's set-up."""


def parse_cfn_yaml(text: str) -> Any:
    """A template's text (YAML with the short forms, or JSON, which is YAML) as a dict."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506


def load_cfn_yaml(path: str | Path) -> dict[str, Any]:
    """The template at `path` as a dict (a copy of its own: callers may change it)."""
    text = Path(path).read_text()
    key = (str(path), text)
    if key not in _LOADED:
        _LOADED[key] = yaml.load(text, Loader=_Loader)  # noqa: S506
    return copy.deepcopy(_LOADED[key])


def iam_actions(node: Any) -> list[Any]:
    """Every `Action` / `NotAction` value anywhere in a template or policy, flattened."""
    found: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Action", "NotAction"):
                found.extend(value if isinstance(value, list) else [value])
            else:
                found.extend(iam_actions(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(iam_actions(item))
    return found
