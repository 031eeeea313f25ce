"""Settings from the environment: invalid deployments fail with every problem named."""

import pytest

from rds_xacct.constants import MAX_RETENTION_DAYS
from rds_xacct.settings import ConfigurationError, Settings

GOOD = {
    "BACKUP_ACCOUNT_ID": "222222222222",
    "BACKUP_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "BACKUP_ROLE_ARN": "arn:aws:iam::222222222222:role/rds-xacct-backup-copy",
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
            r"key in this region \(us-east-1\): RDS copies a snapshot with a key of its own",
        ),
        (
            {"BACKUP_ROLE_ARN": GOOD["BACKUP_ROLE_ARN"].replace("222222222222", "333333333333")},
            "role in the backup account",
        ),
        ({"BACKUP_ROLE_ARN": "backup-role"}, "IAM role ARN"),
        ({"RETENTION_DAYS": str(MAX_RETENTION_DAYS + 1)}, f"0 to {MAX_RETENTION_DAYS}"),
        ({"RETENTION_DAYS": "one"}, f"0 to {MAX_RETENTION_DAYS}"),
        ({"SELECTION_TAG": "no-equals-sign"}, "key=value"),
    ],
)
def test_bad_settings_are_named(change: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        Settings.from_env({**GOOD, **change})
