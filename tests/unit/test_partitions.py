"""Both stacks and the state machine deploy unchanged in every partition (aws, aws-cn,
aws-us-gov): rendered for a region of each (SAM transform, every intrinsic resolved, the ASL's
DefinitionSubstitutions applied), no string names another partition's ARN or the wrong domain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from simulation.cfn_yaml import load_cfn_yaml
from simulation.sam_template import BACKUP_TEMPLATE, PARTITIONS, TEMPLATE, partition_of
from tests.support.rendered import backup_parameters, main_parameters, rendered

STACKS = ("main", "backup")

SERVICE_PRINCIPALS = {
    # Written by us; AWS documents the same principal in every partition:
    # the Lambda Developer Guide for the China Regions, "Defining Lambda function permissions
    # with an execution role" (docs.amazonaws.cn/en_us/lambda/latest/dg/lambda-intro-execution-
    # role.html): "the role's trust policy must specify the Lambda service principal
    # (lambda.amazonaws.com)".
    "lambda.amazonaws.com",
    # EventBridge User Guide, "Using resource-based policies for Amazon EventBridge".
    "events.amazonaws.com",
    # SNS Developer Guide, "Data encryption" ("Enable compatibility between event sources from
    # AWS services and encrypted topics"): the alarms' key lets cloudwatch.amazonaws.com use it.
    # The China Regions' edition of the guide (docs.amazonaws.cn) is the same page; no AWS page
    # found names another CloudWatch principal there (not tried on an aws-cn account).
    "cloudwatch.amazonaws.com",
    # Written by the SAM transform (the state machine's role; the sweep's schedule), which writes
    # them so in every partition: not ours to change.
    "states.amazonaws.com",
    "scheduler.amazonaws.com",
}
"""Service principals that stay `<service>.amazonaws.com` in aws-cn, as AWS documents (unlike
endpoints, which end in the partition's URL suffix, amazonaws.com.cn)."""

_ARN = re.compile(r"arn:(aws[a-z-]*):")
_DOMAIN = re.compile(r"amazonaws\.com(?!\.cn)")


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string of a rendered document, keys included, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}/{key}", str(key)
            yield from _strings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _strings(item, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def _is_service_principal(path: str, text: str) -> bool:
    # a policy's Principal.Service (one or a list), or a Lambda permission's Principal
    at = re.search(r"/Principal/Service(\[\d+\])?$|/Properties/Principal$", path)
    return at is not None and text in SERVICE_PRINCIPALS


def foreign(document: Any, partition: str) -> list[str]:
    """Strings of `document` that belong to another partition: an ARN of another partition, or
    (in aws-cn) amazonaws.com where the partition's URL suffix, amazonaws.com.cn, belongs."""
    suffix = PARTITIONS[partition][1]
    problems = []
    for path, text in _strings(document):
        for other in {m.group(1) for m in _ARN.finditer(text)} - {partition}:
            problems.append(f"{path}: arn:{other}: in {text!r}")
        wrong_domain = suffix != "amazonaws.com" and _DOMAIN.search(text)
        if wrong_domain and not _is_service_principal(path, text):
            problems.append(f"{path}: amazonaws.com (not {suffix}) in {text!r}")
    return problems


@pytest.mark.parametrize("partition", list(PARTITIONS))
@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_names_only_its_own_partition(stack: str, partition: str) -> None:
    # Given the stack as deployed in a region of the partition
    deployed = rendered(stack, partition)
    assert partition_of(deployed.region) == partition
    # Then no resource or output names another partition (or, in China, the global domain)
    assert foreign(deployed.resources, partition) == []
    assert foreign(deployed.outputs, partition) == []
    # And it does name its own partition (the check sees the ARNs)
    assert any(f"arn:{partition}:" in text for _, text in _strings(deployed.resources))


@pytest.mark.parametrize("partition", list(PARTITIONS))
def test_the_state_machine_calls_its_own_partitions_services(partition: str) -> None:
    definition = rendered("main", partition).definition
    assert definition is not None
    assert foreign(definition, partition) == []
    resources = {
        state["Resource"]
        for state in definition["States"].values()
        if state["Type"] == "Task" and ":states:::" in state["Resource"]
    }
    assert resources == {f"arn:{partition}:states:::lambda:invoke.waitForTaskToken"}
    # (every ${...} of the ASL was substituted)
    assert not [text for _, text in _strings(definition) if "${" in text]


def test_the_endpoints_in_china_end_in_the_china_suffix() -> None:
    # kms:ViaService names RDS's endpoint: rds.REGION.amazonaws.com.cn in China
    texts = [t for _, t in _strings(rendered("backup", "aws-cn").resources)]
    assert "rds.cn-north-1.amazonaws.com.cn" in texts
    assert "rds.us-gov-west-1.amazonaws.com" in [
        t for _, t in _strings(rendered("backup", "aws-us-gov").resources)
    ]


def test_the_check_finds_another_partitions_arn_and_the_global_domain() -> None:
    planted = {
        "Role": {"Properties": {"Arn": "arn:aws:iam::111111111111:role/x"}},
        "Policy": {"Condition": {"kms:ViaService": "rds.cn-north-1.amazonaws.com"}},
        "Trust": {"Principal": {"Service": "lambda.amazonaws.com"}},
        "Odd": {"Principal": {"Service": "ec2.amazonaws.com"}},
    }
    assert foreign(planted, "aws-cn") == [
        "/Role/Properties/Arn: arn:aws: in 'arn:aws:iam::111111111111:role/x'",
        "/Policy/Condition/kms:ViaService: amazonaws.com (not amazonaws.com.cn) in "
        "'rds.cn-north-1.amazonaws.com'",
        "/Odd/Principal/Service: amazonaws.com (not amazonaws.com.cn) in 'ec2.amazonaws.com'",
    ]
    assert foreign(planted, "aws") == []
    assert foreign({"x": "arn:aws-cn:s3:::b"}, "aws-us-gov") == [
        "/x: arn:aws-cn: in 'arn:aws-cn:s3:::b'"
    ]


@pytest.mark.parametrize("partition", list(PARTITIONS))
@pytest.mark.parametrize(
    ("path", "parameters"),
    [(TEMPLATE, main_parameters), (BACKUP_TEMPLATE, backup_parameters)],
    ids=["main", "backup"],
)
def test_arn_parameters_accept_every_partitions_arns(
    path: Any, parameters: Any, partition: str
) -> None:
    declared = load_cfn_yaml(path)["Parameters"]
    values: dict[str, str] = parameters(partition)
    arns = {name: value for name, value in values.items() if value.startswith("arn:")}
    assert arns
    for name, value in arns.items():
        assert re.fullmatch(declared[name]["AllowedPattern"], value), (name, value)
