"""Settings from the environment: invalid deployments fail with every problem named."""

import pytest

from rds_xacct.model.constants import DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS
from rds_xacct.model.settings import ConfigurationError, Settings

GOOD = {
    "BACKUP_ACCOUNT_ID": "222222222222",
    "BACKUP_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "BACKUP_ROLE_ARN": "arn:aws:iam::222222222222:role/rds-xacct-backup-copy",
    "BACKUP_KEEPER_URL": "https://abc123def456.lambda-url.eu-west-1.on.aws/",
    "BACKUP_SLOT_BROKER_URL": f"https://{'a' * 32}.lambda-url.eu-west-1.on.aws/",
    "RETENTION_DAYS": "7",
    "INCLUDE_DATABASES": "prod-*, billing",
    "SELECTION_TAG": "backup-copy=true",
}


def test_good_settings() -> None:
    settings = Settings.from_env({**GOOD, "AWS_REGION": "eu-west-1"})
    assert settings.retention_days == 7
    assert settings.include == ("prod-*", "billing")
    assert settings.exclude == ()
    assert settings.selection_tag == ("backup-copy", "true")
    assert settings.backup_keeper_url == GOOD["BACKUP_KEEPER_URL"]


def test_the_default_retention_is_the_templates() -> None:
    settings = Settings.from_env({k: v for k, v in GOOD.items() if k != "RETENTION_DAYS"})
    assert settings.retention_days == DEFAULT_RETENTION_DAYS == 7


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"BACKUP_ACCOUNT_ID": "2222"}, "12-digit"),
        ({"BACKUP_KMS_KEY_ARN": "alias/backup"}, "full KMS key ARN"),
        (
            {
                "BACKUP_KMS_KEY_ARN": GOOD["BACKUP_KMS_KEY_ARN"].replace(
                    "222222222222", "333333333333"
                )
            },
            "key in the backup account",
        ),
        (
            {"AWS_REGION": "us-east-1"},
            r"BACKUP_KMS_KEY_ARN must be a key in us-east-1, where its copies land",
        ),
        (
            {"BACKUP_ROLE_ARN": GOOD["BACKUP_ROLE_ARN"].replace("222222222222", "333333333333")},
            "role in the backup account",
        ),
        ({"BACKUP_ROLE_ARN": "backup-role"}, "IAM role ARN"),
        ({"RETENTION_DAYS": str(MAX_RETENTION_DAYS + 1)}, f"0 to {MAX_RETENTION_DAYS}"),
        ({"RETENTION_DAYS": "one"}, f"0 to {MAX_RETENTION_DAYS}"),
        ({"SELECTION_TAG": "no-equals-sign"}, "key=value"),
        ({"BACKUP_KEEPER_URL": ""}, "BACKUP_KEEPER_URL must be a Lambda function URL"),
        ({"BACKUP_SLOT_BROKER_URL": ""}, "BACKUP_SLOT_BROKER_URL must be a Lambda function URL"),
        (
            {"BACKUP_SLOT_BROKER_URL": "https://example.com/slots"},
            "BACKUP_SLOT_BROKER_URL must be a Lambda function URL",
        ),
        (
            {"BACKUP_KEEPER_URL": "rds-xacct-keeper"},
            "BACKUP_KEEPER_URL must be a Lambda function URL",
        ),
        (
            {
                "BACKUP_KEEPER_URL": "arn:aws:lambda:eu-west-1:222222222222:function:rds-xacct-keeper"
            },
            "BACKUP_KEEPER_URL must be a Lambda function URL",
        ),
        (
            {"BACKUP_KEEPER_URL": GOOD["BACKUP_KEEPER_URL"].replace("https:", "http:")},
            "BACKUP_KEEPER_URL must be a Lambda function URL",
        ),
        (
            {"BACKUP_KEEPER_URL": GOOD["BACKUP_KEEPER_URL"] + "evil.example/"},
            "BACKUP_KEEPER_URL must be a Lambda function URL",
        ),
        (
            {"BACKUP_KEEPER_URL": GOOD["BACKUP_KEEPER_URL"].replace("eu-west-1", "us-east-1")},
            r"BACKUP_KEEPER_URL must be a function URL in eu-west-1, where the copies land",
        ),
    ],
)
def test_bad_settings_are_named(change: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        Settings.from_env({**GOOD, "AWS_REGION": "eu-west-1", **change})


def test_a_deployment_without_the_keeper_is_refused() -> None:
    # Given the environment of a deployment made before the backup account had a keeper
    env = {k: v for k, v in GOOD.items() if k != "BACKUP_KEEPER_URL"}
    # When the settings are read, Then it fails naming the variable (the runs could copy but
    # never ask for their copies' deletion)
    with pytest.raises(ConfigurationError, match="BACKUP_KEEPER_URL must be a Lambda function URL"):
        Settings.from_env(env)


def test_a_china_regions_function_url_is_a_keeper_url() -> None:
    # (function URLs in the China Regions end on.amazonwebservices.com.cn)
    keeper = "https://abc123def456.lambda-url.cn-north-1.on.amazonwebservices.com.cn/"
    settings = Settings.from_env({**GOOD, "BACKUP_KEEPER_URL": keeper})
    assert settings.backup_keeper_url == keeper


DR_KEY = "arn:aws:kms:us-east-1:222222222222:key/" + "1234abcd-12ab-34cd-56ef-1234567890ab"
DR_KEEPER = "https://abc123def456.lambda-url.us-east-1.on.aws/"
DR_BROKER = f"https://{'a' * 32}.lambda-url.us-east-1.on.aws/"
DR_ENV = {
    **GOOD,
    "AWS_REGION": "eu-west-1",
    "BACKUP_REGION": "us-east-1",
    "BACKUP_REGION_KMS_KEY_ARN": DR_KEY,
    "BACKUP_KEEPER_URL": DR_KEEPER,
    "BACKUP_SLOT_BROKER_URL": DR_BROKER,
}
"""A main stack in eu-west-1 whose copies land in us-east-1."""


def test_a_backup_region_takes_its_own_key_and_keeper() -> None:
    # Given a main stack in eu-west-1 whose copies land in us-east-1
    env = DR_ENV
    # When the settings are read
    settings = Settings.from_env(env)
    # Then the backup copies land there with that key; the intermediate keeps this region's key
    assert settings.landing_region("eu-west-1") == "us-east-1"
    assert settings.backup_copy_kms_key_arn == DR_KEY
    assert settings.backup_kms_key_arn == GOOD["BACKUP_KMS_KEY_ARN"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"BACKUP_REGION_KMS_KEY_ARN": ""}, "BACKUP_REGION_KMS_KEY_ARN must be a full KMS key ARN"),
        (
            {"BACKUP_REGION_KMS_KEY_ARN": GOOD["BACKUP_KMS_KEY_ARN"]},
            "BACKUP_REGION_KMS_KEY_ARN must be a key in us-east-1, where its copies land",
        ),
        (
            {"BACKUP_KEEPER_URL": GOOD["BACKUP_KEEPER_URL"]},
            "BACKUP_KEEPER_URL must be a function URL in us-east-1, where the copies land",
        ),
        ({"BACKUP_REGION": "US East"}, "BACKUP_REGION must be a region name"),
        (
            {"BACKUP_SLOT_BROKER_URL": GOOD["BACKUP_SLOT_BROKER_URL"]},
            "BACKUP_SLOT_BROKER_URL must be a function URL in us-east-1, where the copies land",
        ),
    ],
)
def test_a_backup_region_without_what_it_needs_is_refused(
    change: dict[str, str], says: str
) -> None:
    env = {**DR_ENV, **change}
    with pytest.raises(ConfigurationError, match=says):
        Settings.from_env(env)


def test_the_backup_region_set_to_this_region_is_the_same_region() -> None:
    # (a deployment that names its own region, and no second key, copies as before)
    settings = Settings.from_env({**GOOD, "AWS_REGION": "eu-west-1", "BACKUP_REGION": "eu-west-1"})
    assert settings.backup_region == ""
    assert settings.backup_copy_kms_key_arn == GOOD["BACKUP_KMS_KEY_ARN"]
