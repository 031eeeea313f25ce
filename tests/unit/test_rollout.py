"""Rolling the main stack out to many source accounts (docs/regions-and-accounts.md): a StackSet
with service-managed permissions refuses the SAM template as it is (a macro), and takes its
processed template (`rds-xacct stackset-template`), deploying it to every account of an
organizational unit. On moto, with the simulation's rule for stack sets
(simulation/moto/stacksets.py)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from rds_xacct_cli import rollout
from rds_xacct_cli.main import app
from simulation.moto import MotoPatches
from simulation.sam_template import TEMPLATE, load_template
from simulation.world import REGION

BUCKET = "rds-xacct-artifacts"
PARAMETERS = {
    "BackupAccountId": "222222222222",
    "BackupAccountKmsKeyArn": f"arn:aws:kms:{REGION}:222222222222:key/"
    "1234abcd-12ab-34cd-56ef-1234567890ab",
    "BackupAccountRoleArn": "arn:aws:iam::222222222222:role/rds-xacct-backup-copy",
    "BackupAccountKeeperUrl": f"https://k33p3r0123456789abcdef.lambda-url.{REGION}.on.aws/",
    "BackupAccountSlotBrokerUrl": f"https://s10t5b40k3r0123456789ab.lambda-url.{REGION}.on.aws/",
}


def packaged_text() -> str:
    """template.yaml as `sam package` writes it: the code and the state machine's definition
    in S3."""
    template = load_template()
    code = f"s3://{BUCKET}/rds-xacct/functions.zip"
    template["Globals"]["Function"]["CodeUri"] = code
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = code
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = f"s3://{BUCKET}/rds-xacct/copy-snapshot.asl.json"
    return json.dumps(template)


@pytest.fixture(scope="module")
def processed() -> dict[str, Any]:
    return rollout.processed_template(packaged_text(), REGION)


def test_the_processed_template_is_plain_cloudformation(processed: dict[str, Any]) -> None:
    # Given the processed template
    types = {resource["Type"] for resource in processed["Resources"].values()}
    # Then it names no transform and no SAM resource, keeps every parameter, and fits a
    # TemplateURL (not a TemplateBody)
    assert "Transform" not in processed
    assert not [t for t in types if t.startswith("AWS::Serverless::")]
    assert {"AWS::Lambda::Function", "AWS::StepFunctions::StateMachine"} <= types
    assert set(processed["Parameters"]) == set(load_template()["Parameters"])
    size = len(json.dumps(processed).encode())
    assert rollout.TEMPLATE_BODY_LIMIT < size < rollout.TEMPLATE_URL_LIMIT


def test_a_template_not_packaged_is_refused_naming_what_is_local() -> None:
    with pytest.raises(
        rollout.NotPackaged, match=r"sam package.*DescribeSourceFunction.CodeUri=functions/"
    ):
        rollout.processed_template(TEMPLATE.read_text(), REGION)


def _organization_with_two_accounts() -> tuple[str, list[str]]:
    """An organization whose unit `databases` holds two source accounts."""
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    unit = org.create_organizational_unit(ParentId=root, Name="databases")["OrganizationalUnit"]
    accounts = []
    for name in ("payments", "orders"):
        created = org.create_account(AccountName=name, Email=f"{name}@example.com")
        account = created["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit["Id"])
        accounts.append(account)
    return unit["Id"], accounts


def _artifacts(processed: dict[str, Any]) -> str:
    """The bucket `sam package` wrote to, and the processed template uploaded; its URL."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "")
    s3.put_object(Bucket=BUCKET, Key="rds-xacct/functions.zip", Body=code.getvalue())
    definition = Path("state-machine/copy-snapshot.asl.json").read_bytes()
    s3.put_object(Bucket=BUCKET, Key="rds-xacct/copy-snapshot.asl.json", Body=definition)
    s3.put_object(Bucket=BUCKET, Key="processed.json", Body=json.dumps(processed).encode())
    return f"https://{BUCKET}.s3.{REGION}.amazonaws.com/processed.json"


def test_a_service_managed_stack_set_refuses_the_sam_template_and_deploys_the_processed_one(
    patches: MotoPatches, processed: dict[str, Any]
) -> None:
    # Given an organization with a unit of two source accounts, and the processed template
    unit, accounts = _organization_with_two_accounts()
    url = _artifacts(processed)
    cfn = boto3.client("cloudformation", region_name=REGION)
    managed: dict[str, Any] = {
        "PermissionModel": "SERVICE_MANAGED",
        "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": True},
        "Capabilities": ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
    }
    # When a service-managed stack set is made of template.yaml itself, Then it is refused
    with pytest.raises(ClientError, match="service-managed permissions don't currently support"):
        cfn.create_stack_set(StackSetName="sam", TemplateBody=TEMPLATE.read_text(), **managed)
    # When it is made of the processed template and deployed to the unit
    cfn.create_stack_set(StackSetName="rds-xacct", TemplateURL=url, **managed)
    cfn.create_stack_instances(
        StackSetName="rds-xacct",
        DeploymentTargets={"OrganizationalUnitIds": [unit]},
        Regions=[REGION],
    )
    # Then each account of the unit has the main stack
    instances = cfn.list_stack_instances(StackSetName="rds-xacct")["Summaries"]
    assert sorted(i["Account"] for i in instances) == sorted(accounts)
    assert {i["StackInstanceStatus"]["DetailedStatus"] for i in instances} == {"SUCCEEDED"}


def test_the_operator_command_writes_the_processed_template(tmp_path: Path) -> None:
    packaged = tmp_path / "packaged.yaml"
    packaged.write_text(packaged_text())
    output = tmp_path / "processed.json"
    result = CliRunner().invoke(
        app, ["stackset-template", str(packaged), "--output", str(output), "--region", REGION]
    )
    assert result.exit_code == 0, result.output
    assert "Transform" not in json.loads(output.read_text())
    refused = CliRunner().invoke(app, ["stackset-template", str(TEMPLATE), "-o", str(output)])
    assert refused.exit_code == 2
    assert "sam package" in refused.output
