"""`make demo` (simulation/demo.py) shows what the README says it shows."""

from __future__ import annotations

import pytest

from simulation import demo


def test_the_demo_shows_the_keeper_deleting_the_expired_copy_and_refusing_an_early_delete(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When `make demo` runs with its defaults
    status = demo.main([])
    out = capsys.readouterr().out
    # Then the run succeeds; the pipeline role's early delete is refused by IAM and by the
    # keeper; and the keeper deletes the copy when the run asks at the end of the retention
    assert status == 0
    assert "DeleteDBSnapshot" in out
    assert "refused by IAM (AccessDenied)" in out
    assert "the pipeline role asks the keeper to delete it now: refused" in out
    assert "Keeper (backup account): deleted" in out
    assert "asked the backup account's keeper to delete the copy: deleted" in out
    # And it ends with the operator command's status table, taken once the copy was made
    tail = out[out.index("What the operator command showed once the copy was made") :]
    assert "rds-xacct status" in tail
    assert "orders-db" in tail
    assert "1: NotifyCopied" in tail
    assert out.rstrip().splitlines()[-1] == (
        "1 database(s), 0 needing a look (none); 1 run(s) in flight."
    )


def test_a_demo_run_that_fails_ends_with_the_database_failing_and_how_to_explain_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = demo.main(["--fail-at", "CopyBackup", "--no-slack"])
    out = capsys.readouterr().out
    assert status == 0
    tail = " ".join(out[out.index("What the operator command showed once the run ended") :].split())
    assert "FAILING" in tail
    assert "at CopyBackup: AwsError" in tail
    assert "(rds-xacct explain demo-run)" in tail


def test_a_retention_below_the_minimum_is_refused_and_deleted_by_the_hourly_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = demo.main(["--retention", "1", "--no-slack"])
    out = capsys.readouterr().out
    assert status == 0
    assert "asked the backup account's keeper to delete the copy: refused" in out
    assert "minimum retention, 7 days" in out
    assert "the keeper's hourly pass in the backup account deletes: arn:aws:rds:" in out


def test_a_demo_into_another_region_shows_where_each_copy_is_and_with_which_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When `make demo ARGS="--backup-region us-east-1"` runs
    status = demo.main(["--backup-region", "us-east-1", "--no-slack"])
    out = capsys.readouterr().out
    # Then the run succeeds, and the intermediate copy was in eu-west-1 with the backup
    # account's key there, the backup copy in us-east-1 with its key there
    assert status == 0
    where = out[out.index("Where the copies were") :].splitlines()
    intermediate = " ".join(where[1:3])
    backup = " ".join(where[3:5])
    assert "intermediate copy" in intermediate
    assert "region eu-west-1" in intermediate
    assert "key arn:aws:kms:eu-west-1:222222222222:key/" in intermediate
    assert "backup copy" in backup
    assert "region us-east-1" in backup
    assert "key arn:aws:kms:us-east-1:222222222222:key/" in backup
    assert "asked the backup account's keeper to delete the copy: deleted" in out


def test_a_demo_of_two_source_accounts_shows_two_copies_of_the_same_database_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When `make demo ARGS="--source-accounts 2"` runs
    status = demo.main(["--source-accounts", "2", "--no-slack"])
    out = capsys.readouterr().out
    # Then two copies of orders-db land in the backup account under different names, each
    # recorded by RDS as copied from its own account, with the backup account's key
    assert status == 0
    assert "2 copies, all names differ" in out
    for account in demo.DEMO_ACCOUNTS:
        assert f"copied from account {account}: arn:aws:rds:eu-west-1:{account}:snapshot:" in out
        assert f"execution:rds-xacct-copy-snapshot:demo-run-{account}" in out
    assert out.count("key arn:aws:kms:eu-west-1:222222222222:key/") == 2
    # And the keeper refuses each account the other's copy, knowing who asks
    assert out.count("'s copy now: refused") == 2
    assert "an account is answered about its own copies only" in out
    # And each run deletes its own copy at the end of the retention, leaving nothing
    assert out.count("asked the keeper to delete it at the end of the retention: deleted") == 2
    assert "Left in the backup account: nothing" in out
