"""The operator command's own parts: its arguments, its defaults and its words (the commands at
work on the simulation are tests/e2e/test_operator.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rds_xacct.model.summary import BACKUP, MAIN, left_behind
from rds_xacct_cli import render
from rds_xacct_cli.context import default_stack_name
from rds_xacct_cli.main import USAGE, app, moment

NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("36h", NOW - timedelta(hours=36)),
        ("90m", NOW - timedelta(minutes=90)),
        ("1.5d", NOW - timedelta(hours=36)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T02:00Z", datetime(2026, 11, 1, 2, tzinfo=UTC)),
        ("2026-11-01T04:00+02:00", datetime(2026, 11, 1, 2, tzinfo=UTC)),
    ],
)
def test_a_time_is_read_as_a_time_ago_or_in_iso_8601_utc_unless_told(
    text: str, expected: datetime
) -> None:
    assert moment(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "-3d", "2026-13-01"])
def test_a_time_that_is_neither_is_refused_with_what_would_do(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="neither a time ago"):
        moment(text, NOW)


def test_the_command_lists_its_four_commands_and_shared_options() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in ("backfill", "run", "explain", "--profile", "--region", "--stack-name"):
        assert word in result.output
    assert "--backup-profile" in result.output


def test_a_backfill_whose_range_is_backwards_is_a_usage_error() -> None:
    # (no AWS call: the range is checked first; the session is made, never used)
    result = CliRunner().invoke(app, ["backfill", "--since", "1d", "--until", "2d"])
    assert result.exit_code == USAGE
    assert "--since must be before --until" in result.output


def test_a_backfill_since_a_word_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["backfill", "--since", "yesterday"])
    assert result.exit_code == USAGE
    assert "neither a time ago" in result.output


def test_the_stack_is_samconfigs_else_the_apps_name(tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    assert default_stack_name(samconfig) == "rds-xacct"
    samconfig.write_text('version = 0.1\n[default.global.parameters]\nstack_name = "copies"\n')
    assert default_stack_name(samconfig) == "copies"
    samconfig.write_text(
        '[default.global.parameters]\nstack_name = "copies"\n'
        '[default.deploy.parameters]\nstack_name = "prod-copies"\n'
    )
    assert default_stack_name(samconfig) == "prod-copies"
    samconfig.write_text("not = [toml")
    assert default_stack_name(samconfig) == "rds-xacct"


def test_the_repositorys_samconfig_names_the_stack_the_readme_deploys() -> None:
    assert default_stack_name(Path(__file__).parents[2] / "samconfig.toml") == "rds-xacct"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "-"), (0.25, "0.2 h"), (25.04, "25.0 h"), (47.9, "47.9 h"), (50, "2 d 2 h")],
)
def test_hours_are_shown_in_hours_then_days(value: float | None, shown: str) -> None:
    assert render.hours(value) == shown


def test_times_are_shown_in_utc_to_the_minute() -> None:
    assert render.when(None) == "-"
    assert render.when("2026-11-24T02:30:59Z") == "2026-11-24 02:30Z"
    assert render.when(datetime(2026, 11, 24, 4, 30, tzinfo=UTC)) == "2026-11-24 04:30Z"


# --- what a run left in each account (model.summary.left_behind) ----------------------------------
INTERMEDIATE = "arn:aws:rds:eu-west-1:111111111111:snapshot:xacct-orders-db-20261124-021000-1a2b"
BACKUP_COPY = "arn:aws:rds:eu-west-1:222222222222:snapshot:xacct-orders-db-20261124-021000-1a2b"


def _summary(outcome: str, **fields: Any) -> dict[str, Any]:
    return {"outcome": outcome, "intermediateCopy": None, "backupCopy": None, **fields}


def test_a_failed_runs_cleanup_lines_go_to_the_account_of_the_copy_they_name() -> None:
    summary = _summary(
        "failed",
        intermediateCopy={"arn": INTERMEDIATE},
        backupCopy={"arn": BACKUP_COPY},
        cleanup={
            "actions": [
                f"deleted intermediate copy {INTERMEDIATE} (available)",
                f"left backup copy {BACKUP_COPY}: the backup account's keeper refused to delete",
                "gave back its backup copy slot",
            ],
            "problems": [],
        },
    )
    left = left_behind(summary)
    assert left[MAIN] == [
        f"cleanup: deleted intermediate copy {INTERMEDIATE} (available)",
        "cleanup: gave back its backup copy slot",
    ]
    assert left[BACKUP] == [
        f"cleanup: left backup copy {BACKUP_COPY}: the backup account's keeper refused to delete"
    ]


def test_a_copy_the_cleanup_said_nothing_of_was_found_gone() -> None:
    summary = _summary(
        "failed", intermediateCopy={"arn": INTERMEDIATE}, cleanup={"actions": [], "problems": []}
    )
    left = left_behind(summary)
    assert left[MAIN] == [f"the intermediate copy {INTERMEDIATE}: its cleanup found it gone"]
    assert left[BACKUP] == ["no backup copy was made"]


def test_a_succeeded_run_leaves_its_backup_copy_until_it_expires_and_nothing_in_main() -> None:
    summary = _summary(
        "succeeded",
        intermediateCopy={"arn": INTERMEDIATE, "deletedAt": "2026-11-24T03:00:00Z"},
        backupCopy={"arn": BACKUP_COPY},
        expiresAt="2026-12-01T02:10:00Z",
    )
    left = left_behind(summary)
    assert left[MAIN] == [f"nothing: the run deleted {INTERMEDIATE}"]
    assert left[BACKUP] == [f"the backup copy {BACKUP_COPY}, kept until 2026-12-01T02:10:00Z"]
    assert left_behind({**summary, "expiresAt": None})[BACKUP] == [
        f"the backup copy {BACKUP_COPY}, kept until for good (retention 0)"
    ]


def test_a_stopped_run_says_its_cleanup_is_the_stopped_run_rules() -> None:
    left = left_behind(_summary("aborted", intermediateCopy={"arn": INTERMEDIATE}, cleanup=None))
    assert left[MAIN][0].startswith(f"the intermediate copy {INTERMEDIATE}: the run recorded no")
    assert "stopped-run rule's Notify function" in left[MAIN][0]
    assert left[BACKUP][0].startswith("no backup copy recorded: the run recorded no cleanup")


class _Deployed:
    """A deployment as the operator reads it: only its settings' landing region matters here."""

    def __init__(self, backup_region: str) -> None:
        from rds_xacct.model.settings import Settings

        self.settings = Settings(
            backup_account_id="222222222222",
            backup_kms_key_arn="arn:aws:kms:eu-west-1:222222222222:key/x",
            backup_role_arn="arn:aws:iam::222222222222:role/rds-xacct-backup-copy",
            retention_days=7,
            backup_region=backup_region,
        )


@pytest.mark.parametrize(
    ("backup_region", "expected"), [("", "eu-west-1"), ("us-east-1", "us-east-1")]
)
def test_the_backup_account_is_read_with_its_profile_where_the_copies_land(
    monkeypatch: pytest.MonkeyPatch, backup_region: str, expected: str
) -> None:
    # Given a deployment whose copies land in this region, or in a backup region
    from rds_xacct_cli import context

    monkeypatch.setattr(context, "_session", lambda profile, region: (profile, region))
    operator = context.Operator.from_options(
        profile="main", region="eu-west-1", stack_name="rds-xacct", backup_profile="backup"
    )
    monkeypatch.setattr(operator, "main", type("S", (), {"region_name": "eu-west-1"})())
    operator.__dict__["deployment"] = _Deployed(backup_region)
    # When the backup account is read, Then with its profile, in that region
    made: Any = operator.backup_session(operator)
    assert made == ("backup", expected)


def test_without_a_backup_profile_the_backup_account_is_not_read() -> None:
    # (the backup role trusts the pipeline roles alone: the command says what it needs)
    from rds_xacct.model.settings import ConfigurationError
    from rds_xacct_cli import context

    operator = context.Operator.from_options(
        profile=None, region="eu-west-1", stack_name="rds-xacct", backup_profile=None
    )
    with pytest.raises(ConfigurationError, match="Give --backup-profile"):
        operator.backup_session(operator)
