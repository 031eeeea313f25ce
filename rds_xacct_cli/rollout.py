"""Rolling the main stack out to many source accounts with a CloudFormation StackSet.

A stack set with service-managed permissions (AWS Organizations: every account of an
organizational unit, new ones too) refuses a template that uses a macro, and the main stack is a
SAM template: "StackSets with service-managed permissions don't currently support the use of
macros in templates. (This includes the AWS::Include and AWS::Serverless transforms ...)"
(CloudFormation API reference, CreateStackSet, `Capabilities`). So it goes out as its processed
template: `sam package` uploads the code and writes a template whose `CodeUri` and
`DefinitionUri` name it in S3, and SAM's own translator (aws-sam-translator, the code behind
CloudFormation's `AWS::Serverless-2016-10-31` transform) turns that into plain CloudFormation,
which any stack set takes (as `TemplateURL`: it is over the 51,200 bytes of a `TemplateBody`).
The same template comes from CloudFormation itself with a change set and `GetTemplate
--template-stage Processed`; this needs no account.
"""

from __future__ import annotations

from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import (
    to_py27_compatible_template,
    undo_mark_unicode_str_in_template,
)
from samtranslator.yaml_helper import yaml_parse

TEMPLATE_BODY_LIMIT = 51_200
"""The largest `TemplateBody` CloudFormation takes, in bytes (CreateStackSet)."""
TEMPLATE_URL_LIMIT = 1_000_000
"""The largest template at a `TemplateURL` (CreateStackSet: 1 MB)."""


class NotPackaged(ValueError):
    """The template's code is not in S3 yet: `sam package` it first."""


def _unpackaged(template: dict[str, Any]) -> list[str]:
    """The functions and state machines whose code or definition is still a local path (a
    function's own `CodeUri`, or the one of `Globals`)."""
    local = []
    shared = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    for name, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        found = dict(properties)
        if resource.get("Type") == "AWS::Serverless::Function":
            found.setdefault("CodeUri", shared)
        for key in ("CodeUri", "DefinitionUri"):
            where = found.get(key)
            if isinstance(where, str) and not where.startswith("s3://"):
                local.append(f"{name}.{key}={where}")
    return local


def processed_template(packaged_text: str, region: str) -> dict[str, Any]:
    """The packaged SAM template (`sam package`'s output) as plain CloudFormation, as the SAM
    transform would make it in `region`'s partition. Raises `NotPackaged` for a template whose
    code is still local."""
    template: dict[str, Any] = yaml_parse(packaged_text)
    local = _unpackaged(template)
    if local:
        raise NotPackaged(
            "Run `sam build && sam package --s3-bucket BUCKET --output-template-file "
            f"packaged.yaml` first: these are local paths, not S3: {', '.join(local)}"
        )
    to_py27_compatible_template(template, {})
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    processed = translator.translate(template, parameter_values={}, get_managed_policy_map=dict)
    return undo_mark_unicode_str_in_template(processed)  # type: ignore[no-any-return]
