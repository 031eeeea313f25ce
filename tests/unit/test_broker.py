"""The backup account's copy-slot broker on its own (Given / When / Then): one pool for every
source account's copies into the backup account, who may do what with it, and its function-URL
entry. The pool's table is moto's; waiting runs' tokens go to a fake Step Functions client per
(account, region), as the broker's callback roles would give it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from rds_xacct.admission import broker
from rds_xacct.admission import callbacks as slot_callbacks
from rds_xacct.admission.pool import Pool
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import SLOT_LEASE_SECONDS, SLOT_WAIT_HOURS
from rds_xacct.model.settings import ConfigurationError
from rds_xacct.model.times import iso
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION
from tests.unit.conftest import TABLE, FakeSfn

OTHER = "333333333333"
NOW = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
SETTINGS = broker.BrokerSettings(
    table=TABLE, limit=2, account=BACKUP_ACCOUNT, region=REGION, role_name="rds-xacct-backup-copy"
)


def run_arn(account: str, name: str, prefix: str = "rds-xacct") -> str:
    return f"arn:aws:states:{REGION}:{account}:execution:{prefix}-copy-snapshot:{name}"


class Callbacks:
    """A fake Step Functions client per account: what the callback role of each would do."""

    def __init__(self) -> None:
        self.clients: dict[str, FakeSfn] = {}

    def __call__(self, execution_arn: str) -> Any:
        return self.clients.setdefault(Arn.parse(execution_arn).account, FakeSfn())

    def tokens(self, account: str) -> list[str]:
        return self.clients[account].tokens() if account in self.clients else []


@pytest.fixture
def callbacks(table: str) -> Callbacks:
    return Callbacks()


def ask(
    callbacks: Callbacks,
    caller: str,
    request: dict[str, Any],
    now: datetime = NOW,
) -> dict[str, Any]:
    pool = Pool(table=TABLE, key=SETTINGS.pool_key, limit=SETTINGS.limit, sfn_for=callbacks)
    return broker.handle(request, caller, settings=SETTINGS, now=now, pool=cast(Any, pool))


def slot_request(
    account: str, name: str, arrived: datetime = NOW, weight: int = 20
) -> dict[str, Any]:
    return {
        "action": broker.REQUEST,
        "execution": name,
        "executionArn": run_arn(account, name),
        "place": {"arrived": iso(arrived), "weight": weight},
        "token": f"{account}-{name}-token",
    }


def test_two_source_accounts_share_one_pool_and_never_exceed_it(callbacks: Callbacks) -> None:
    # Given a pool of 2 slots and runs of two source accounts asking in turn
    answers = [
        ask(callbacks, account, slot_request(account, f"run-{i}", NOW + timedelta(minutes=i)))
        for i, account in enumerate([MAIN_ACCOUNT, OTHER, MAIN_ACCOUNT, OTHER])
    ]
    # Then the first two got the slots, the other two wait, whichever account they are of
    assert [a["outcome"] for a in answers] == ["granted", "granted", "queued", "queued"]
    assert callbacks.tokens(MAIN_ACCOUNT) == [f"{MAIN_ACCOUNT}-run-0-token"]
    assert callbacks.tokens(OTHER) == [f"{OTHER}-run-1-token"]
    # When the other account's run gives its slot back
    released = ask(callbacks, OTHER, {**slot_request(OTHER, "run-1"), "action": broker.RELEASE})
    # Then the next in the queue, of the main account, was woken through its own account
    assert released["released"] is True
    assert released["served"] == [f"{MAIN_ACCOUNT}-run-2"]
    assert callbacks.tokens(MAIN_ACCOUNT)[-1] == f"{MAIN_ACCOUNT}-run-2-token"
    look = ask(callbacks, MAIN_ACCOUNT, {"action": broker.LOOK})
    assert (look["inUse"], look["waiting"]) == (2, 1)


def test_an_account_cannot_give_back_or_renew_another_accounts_slot(
    callbacks: Callbacks,
) -> None:
    # Given a run of the other account holding a slot, and one of the main account of the SAME
    # name waiting (the same database, the same second: the same execution name)
    ask(callbacks, OTHER, slot_request(OTHER, "orders-db-run"))
    ask(callbacks, MAIN_ACCOUNT, slot_request(MAIN_ACCOUNT, "filler"))
    ask(callbacks, MAIN_ACCOUNT, slot_request(MAIN_ACCOUNT, "orders-db-run"))
    # When the main account gives back and renews "orders-db-run" (its own, waiting)
    released = ask(
        callbacks,
        MAIN_ACCOUNT,
        {**slot_request(MAIN_ACCOUNT, "orders-db-run"), "action": "release"},
    )
    renewed = ask(
        callbacks,
        MAIN_ACCOUNT,
        {**slot_request(MAIN_ACCOUNT, "orders-db-run"), "action": "renew", "leaseUntil": iso(NOW)},
    )
    # Then nothing of the other account's changed: its run still holds its slot
    assert released["released"] is False
    assert renewed["renewed"] is False
    look = ask(callbacks, OTHER, {"action": broker.LOOK})
    assert (look["inUse"], look["waiting"]) == (2, 1)


def test_a_run_of_another_account_is_refused(callbacks: Callbacks) -> None:
    # Given the main account asking for a slot for a run of the other account
    request = slot_request(OTHER, "their-run")
    # When / Then it is refused: a run's task token is completed in its own account only
    with pytest.raises(broker.Refused, match="not a run of the asking account"):
        ask(callbacks, MAIN_ACCOUNT, request)
    assert callbacks.tokens(OTHER) == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"action": "steal"}, "action is one of"),
        ({"execution": "../../x"}, "execution must name the run"),
        ({"executionArn": "not-an-arn"}, "executionArn must be the run's execution ARN"),
        (
            {"executionArn": f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:other:x"},
            "rds-xacct",
        ),
        ({"place": {"arrived": "yesterday", "weight": 1}}, "arrival"),
        ({"token": ""}, "token must be"),
    ],
)
def test_unreadable_requests_are_refused(
    callbacks: Callbacks, change: dict[str, Any], says: str
) -> None:
    with pytest.raises(broker.Refused, match=says):
        ask(callbacks, MAIN_ACCOUNT, {**slot_request(MAIN_ACCOUNT, "run"), **change})


def test_a_claimed_arrival_is_kept_within_the_wait(callbacks: Callbacks) -> None:
    # Given a slot taken, and a run that claims to have arrived a week ago, then one that
    # claims tomorrow
    ask(callbacks, MAIN_ACCOUNT, slot_request(MAIN_ACCOUNT, "holder", weight=1))
    ask(callbacks, MAIN_ACCOUNT, slot_request(MAIN_ACCOUNT, "holder-2", weight=1))
    early = slot_request(OTHER, "early", NOW - timedelta(days=7))
    late = slot_request(OTHER, "late", NOW + timedelta(days=1))
    # When they ask, Then both wait (no claimed time fails them or jumps past the wait)
    assert ask(callbacks, OTHER, early)["outcome"] == "queued"
    assert ask(callbacks, OTHER, late)["outcome"] == "queued"
    look = ask(callbacks, OTHER, {"action": broker.LOOK})
    assert look["oldestWaitMinutes"] == SLOT_WAIT_HOURS * 60


def test_a_renewed_lease_is_never_longer_than_a_slots_own(callbacks: Callbacks) -> None:
    ask(callbacks, MAIN_ACCOUNT, slot_request(MAIN_ACCOUNT, "run"))
    request = {**slot_request(MAIN_ACCOUNT, "run"), "action": "renew"}
    answer = ask(callbacks, MAIN_ACCOUNT, {**request, "leaseUntil": iso(NOW + timedelta(days=30))})
    assert answer["renewed"] is True
    pool = Pool(table=TABLE, key=SETTINGS.pool_key, limit=2, sfn_for=callbacks)
    (holder,) = pool.holders()
    assert int(holder["leaseUntil"]["N"]) == int(
        (NOW + timedelta(seconds=SLOT_LEASE_SECONDS)).timestamp()
    )


def test_a_failed_run_leaves_the_queue_then_gives_back_its_slot(callbacks: Callbacks) -> None:
    # Given two runs holding the slots, and one waiting of each account
    ask(callbacks, MAIN_ACCOUNT, slot_request(MAIN_ACCOUNT, "a"))
    ask(callbacks, MAIN_ACCOUNT, slot_request(MAIN_ACCOUNT, "b"))
    ask(callbacks, OTHER, slot_request(OTHER, "c"))
    ask(callbacks, MAIN_ACCOUNT, slot_request(MAIN_ACCOUNT, "d"))
    # When the waiting run d fails (Cleanup: it forgets its place), Then it left the queue
    forgot = ask(callbacks, MAIN_ACCOUNT, {**slot_request(MAIN_ACCOUNT, "d"), "action": "forget"})
    assert forgot["forgotten"] == 1
    # And when holder a fails, forgetting holds no place and gives back nothing; giving back
    # its slot hands it to the next in the queue, c of the other account
    forgot = ask(callbacks, MAIN_ACCOUNT, {**slot_request(MAIN_ACCOUNT, "a"), "action": "forget"})
    assert forgot["forgotten"] == 0
    released = ask(
        callbacks, MAIN_ACCOUNT, {**slot_request(MAIN_ACCOUNT, "a"), "action": "release"}
    )
    assert (released["released"], released["served"]) == (True, [f"{OTHER}-c"])


def test_the_callback_role_is_named_from_the_runs_state_machine_and_region() -> None:
    arn = run_arn(OTHER, "x", prefix="acme-rds").replace(REGION, "us-east-1")
    assert slot_callbacks.role_arn(arn) == (
        f"arn:aws:iam::{OTHER}:role/acme-rds-slot-callback-us-east-1"
    )


# --- Its function URL -----------------------------------------------------------------------------
def url_event(user_arn: str | None, body: Any, owner: str = BACKUP_ACCOUNT) -> dict[str, Any]:
    """A function-URL event as Lambda passes it (Lambda Developer Guide, "Invoking Lambda
    function URLs": request payload format), signed by `user_arn`."""
    context: dict[str, Any] = {"accountId": owner, "http": {"method": "POST"}}
    if user_arn is not None:
        context["authorizer"] = {"iam": {"accountId": owner, "userArn": user_arn}}
    return {"version": "2.0", "requestContext": context, "body": json.dumps(body)}


def session(account: str, role: str = "rds-xacct-backup-copy") -> str:
    return f"arn:aws:sts::{BACKUP_ACCOUNT}:assumed-role/{role}/{account}-orders-db-run"


@pytest.mark.parametrize(
    "user_arn",
    [
        None,  # a direct invoke: no authorizer
        f"arn:aws:sts::{BACKUP_ACCOUNT}:assumed-role/rds-xacct-backup-copy/attacker",
        session(MAIN_ACCOUNT, role="rds-xacct-keeper"),
        f"arn:aws:iam::{BACKUP_ACCOUNT}:user/admin",
        session(MAIN_ACCOUNT).replace(BACKUP_ACCOUNT, OTHER),  # another account's role
    ],
)
def test_the_url_answers_only_sessions_named_after_a_source_account(
    callbacks: Callbacks, user_arn: str | None
) -> None:
    event = url_event(user_arn, slot_request(MAIN_ACCOUNT, "run"))
    answer = broker.answer_url_request(event, settings=SETTINGS, now=lambda: NOW)
    assert answer["statusCode"] == 403
    assert callbacks.tokens(MAIN_ACCOUNT) == []


def test_the_url_answers_the_signed_account(callbacks: Callbacks) -> None:
    pool = Pool(table=TABLE, key=SETTINGS.pool_key, limit=2, sfn_for=callbacks)
    granted = broker.answer_url_request(
        url_event(session(MAIN_ACCOUNT), slot_request(MAIN_ACCOUNT, "run")),
        settings=SETTINGS,
        now=lambda: NOW,
        pool=pool,
    )
    refused = broker.answer_url_request(
        url_event(session(MAIN_ACCOUNT), slot_request(OTHER, "run")),
        settings=SETTINGS,
        now=lambda: NOW,
        pool=pool,
    )
    assert granted["statusCode"] == 200
    assert json.loads(granted["body"])["outcome"] == "granted"
    assert refused["statusCode"] == 400


def test_the_brokers_settings_are_checked() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"SLOTS_TABLE.*CALLER_ROLE_ARN.*SLOTS_POOL_SIZE must be from 1 to 20",
    ):
        broker.BrokerSettings.from_env({"SLOTS_POOL_SIZE": "21"})


def test_the_brokers_settings_are_read_from_its_environment() -> None:
    settings = broker.BrokerSettings.from_env(
        {
            "SLOTS_TABLE": TABLE,
            "SLOTS_POOL_SIZE": "18",
            "CALLER_ROLE_ARN": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-backup-copy",
            "BACKUP_ACCOUNT_ID": BACKUP_ACCOUNT,
            "AWS_REGION": REGION,
        }
    )
    assert settings == broker.BrokerSettings(
        table=TABLE,
        limit=18,
        account=BACKUP_ACCOUNT,
        region=REGION,
        role_name="rds-xacct-backup-copy",
    )


def test_the_brokers_region_is_its_own_functions() -> None:
    # (Lambda's context names the function invoked: its region is that of the copies it counts)
    env = {
        "SLOTS_TABLE": TABLE,
        "SLOTS_POOL_SIZE": "18",
        "CALLER_ROLE_ARN": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-backup-copy",
        "AWS_REGION": REGION,
    }
    arn = f"arn:aws:lambda:us-east-1:{BACKUP_ACCOUNT}:function:rds-xacct-slot-broker"
    assert broker.BrokerSettings.from_env(env, function_arn=arn).region == "us-east-1"
    assert broker.BrokerSettings.from_env(env).region == REGION
