"""A local run of the whole product on moto: both accounts, the real template, ASL and handlers.

* The backup account's key and role come from `other/backup-account/backup-account.yaml`,
  created through moto's CloudFormation in the backup account.
* The main account (and each other source account, `source_accounts`) gets the functions,
  state machine, topic and rules read from `template.yaml` (`sam_template.load_app`); each
  Lambda task calls the real handler in-process with the environment the template gives it.
* An event is matched against the template's rule patterns, then the state machine runs.
  Wait states, polling and retry backoff run on a simulated clock; copies take simulated minutes.
* What CloudWatch sees: each function's EMF lines and AWS's own metrics in moto's CloudWatch of
  the right account, both templates' alarms, evaluated as CloudWatch would (`alarm_states`,
  `alarm`); `advance` lets hours pass with the keeper's hourly pass on its schedule.

Used by `make demo` (simulation/demo.py), the end-to-end tests and `make bench`.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import math
import sys
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import responses
from moto import mock_aws
from moto.sns.models import sns_backends
from moto.stepfunctions.responses import get_backend

from rds_xacct.admission import broker as slot_broker
from rds_xacct.admission import callbacks as slot_callbacks
from rds_xacct.aws import url_calls
from rds_xacct.aws.clients import session_of_credentials
from rds_xacct.aws.observability import execution_of
from rds_xacct.keeper import hourly as keeper_hourly
from rds_xacct.keeper import ledger as keeper_ledger
from rds_xacct.keeper import requests as keeper_requests
from rds_xacct.model.errors import AwsError
from simulation.alarm_evaluation import Evaluation
from simulation.alarms import AlarmNotification, AlarmWatch, create_template_alarms
from simulation.events import backup_job_event
from simulation.faults import AwsFaults
from simulation.iam import (
    BACKUP_SOURCE,
    Credentials,
    Enforcement,
    deploy_main_roles,
    enforce_stack,
    enforced,
    operator_session,
    service_credentials,
    template_attributes,
)
from simulation.moto import (
    MOTO_CONFIG,
    MotoPatches,
    SimClock,
    event_matches,
    function_urls,
    make_fake_context,
    wait_for_execution,
)
from simulation.sam_template import (
    BACKUP_TEMPLATE,
    App,
    FunctionSpec,
    Resolver,
    function_names,
    function_specs,
    load_app,
    load_template,
    state_machine_resource,
    without_serverless,
)
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, World, session_in

START = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
SLACK_WEBHOOK = "https://hooks.slack.com/services/T000SIMUL/B000SIMUL/simulated-webhook-secret"
SLACK_PARAMETER = "/rds-xacct/slack-webhook"
FUNCTIONS_DIR = "functions"
KEEPER_FUNCTION = "KeeperFunction"
"""The backup-account stack's keeper (other/backup-account/backup-account.yaml): answers the
main account's requests."""
KEEPER_URL = "KeeperUrl"
"""The keeper's function URL (AuthType AWS_IAM): the only way the main account reaches it."""
KEEPER_PASS_FUNCTION = "KeeperPassFunction"
SLOT_BROKER_FUNCTION = "SlotBrokerFunction"
SLOT_BROKER_URL = "SlotBrokerUrl"
"""The backup account's slot broker and its function URL (AuthType AWS_IAM)."""
"""The backup-account stack's hourly pass (the keeper's code), invoked only by its schedule."""
KEEPER_PASS_EVERY = timedelta(hours=1)
"""The pass's schedule (backup-account.yaml: `rate(1 hour)`, from when the stack is made)."""

STEP_OF_FUNCTION = {
    "DescribeSourceFunction": "DescribeSource",
    "CopyIntermediateFunction": "CopyIntermediate",
    "ShareFunction": "Share",
    "CopyBackupFunction": "CopyBackup",
    "DeleteIntermediateFunction": "DeleteIntermediate",
    "DeleteBackupFunction": "DeleteBackup",
    "CleanupFunction": "Cleanup",
    "NotifyFunction": "Notify",
    "SweepFunction": "Sweep",
    "KeeperFunction": "Keeper",
    "KeeperPassFunction": "Keeper",
    "ReconcileFunction": "Reconcile",
    "WatchFunction": "Watch",
}
INJECTABLE_STEPS = (
    "DescribeSource",
    "CopyIntermediate",
    "CheckIntermediate",
    "Share",
    "CopyBackup",
    "CheckBackup",
    "DeleteIntermediate",
    "DeleteBackup",
)


def step_name(logical_id: str, event: Any) -> str:
    """The state a function was called for (one function serves CheckIntermediate and CheckBackup,
    one WaitForMainSlot and WaitForBackupSlot, ...)."""
    arguments = event if isinstance(event, dict) else {}
    if logical_id == "CheckCopyFunction":
        return "CheckIntermediate" if arguments.get("which") == "intermediate" else "CheckBackup"
    if logical_id in ("AcquireSlotFunction", "ReleaseSlotFunction"):
        pool = "Main" if arguments.get("pool") == "main" else "Backup"
        verb = "WaitFor" if logical_id == "AcquireSlotFunction" else "Release"
        return f"{verb}{pool}Slot"
    return STEP_OF_FUNCTION.get(logical_id, logical_id)


def load_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, function_name = handler.rsplit(".", 1)
    module = importlib.import_module(module_name)
    function: Callable[[Any, Any], Any] = getattr(module, function_name)
    return function


@dataclass
class Entry:
    """One line of the timeline."""

    at: datetime
    kind: str  # "task", "wait", "error", "note"
    text: str
    main: list[str] = field(default_factory=list)
    backup: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    matched_rules: list[str]
    execution_arn: str | None
    status: str
    output: Any
    error: str | None
    cause: str | None
    timeline: list[Entry]
    sns: list[dict[str, Any]]
    slack: list[dict[str, Any]]
    states: list[str]
    started_at: datetime
    finished_at: datetime
    lambda_calls: int
    transitions: int

    @property
    def summary(self) -> dict[str, Any] | None:
        if isinstance(self.output, dict) and "outcome" in self.output:
            return self.output
        return None


@dataclass
class SourceAccount:
    """The main stack as deployed in one source account: its own functions (with its roles'
    credentials and its environment), state machine, rules' roles, topic and tables."""

    account: str
    app: App
    sfn: Any
    """The operator's Step Functions client in this account."""
    state_machine_arn: str
    topic_arn: str
    table_name: str
    credentials: dict[str, Credentials]
    """Each function's (logical id) credentials, as Lambda gives them."""
    rule_clients: dict[str, Any]
    """Step Functions clients of each rule's role (EventBridge starts runs with them)."""
    alarm_names: list[str]


SOURCE_REGION_KEY_STACK = "rds-xacct-backup-key"
"""The backup account's source-region-key stack (StackPurpose source-region-key), with a backup
region only."""


class Simulation:
    """The backup account and the deployed app in each source account (by default the main
    account alone), on moto. Use as a context manager."""

    def __init__(
        self,
        *,
        parameters: dict[str, str] | None = None,
        backup_parameters: dict[str, str] | None = None,
        slack: bool = True,
        slack_status: int = 200,
        start: datetime = START,
        backup_region: str | None = None,
        source_accounts: Sequence[str] = (MAIN_ACCOUNT,),
    ) -> None:
        if not source_accounts or source_accounts[0] != MAIN_ACCOUNT:
            raise ValueError(f"the first source account is the main account {MAIN_ACCOUNT}")
        self.source_accounts = tuple(dict.fromkeys(source_accounts))
        """The accounts the main stack is deployed in, each copying into the one backup
        account (its SourceAccountIds); the first is MAIN_ACCOUNT, whose deployment the
        attributes `app`, `sfn`, `state_machine_arn`, ... are."""
        self.sources: dict[str, SourceAccount] = {}
        self.backup_region = backup_region or REGION
        """Where the backup copies land: REGION, or a disaster-recovery region (the main stack's
        BackupRegion): the backup-account stack runs there, and a source-region-key stack of
        the backup account in REGION holds the intermediate copies' key."""
        self.parameters = parameters or {}
        self.backup_parameters = backup_parameters or {}
        """Parameters of the backup-account stack (MinimumRetentionDays, ...)."""
        self.slack = slack
        self.slack_status = slack_status
        self.clock = SimClock(start)
        self._stack = ExitStack()
        self.timeline: list[Entry] = []
        self.failures: dict[str, Exception] = {}
        self.corruptions: dict[str, dict[str, Any]] = {}
        self.aws_faults = AwsFaults()
        """Faults at the AWS call level within a step (simulation/faults.py)."""
        self.stop_after: tuple[str, str] | None = None
        self.stop_reported = True
        self.lean_status_events = False
        """True: status-change events carry no `error`/`cause` (should real ones lack them)."""
        self._stop_before_next: str | None = None
        self._slack_read: list[dict[str, Any] | None] = []
        self.lambda_calls = 0
        self.recording = True
        """Keep the timeline (one run at a time); off while a whole window runs."""
        self._calls_lock = threading.Lock()
        self.logs = io.StringIO()
        self._last_tick: datetime | None = None
        self.world: World
        self.app: App
        self.patches: MotoPatches
        self.sfn: Any
        self.state_machine_arn = ""
        self.permissions: Enforcement
        self._rule_clients: dict[str, Any] = {}
        self.topic_arn = ""
        self.keeper_name = ""
        self.keeper_url = ""
        self.slot_broker_url = ""
        self.backup_slots_table = ""
        """The slot broker's table (the backup stack's SlotsTable)."""
        """The backup account's slot broker (its function URL): the pool of copies landing
        there, shared by every source account."""
        self.keeper_pass_name = ""
        self.backup_lambda: Any = None
        self.credentials: dict[str, Any] = {}
        self.after_step: dict[str, Callable[[], None]] = {}
        """Called once, right after the named step's handler returns (the demo's attacker)."""
        self.alarm_watch = AlarmWatch(
            (*self.source_accounts, BACKUP_ACCOUNT), REGION, {BACKUP_ACCOUNT: self.backup_region}
        )
        """CloudWatch's evaluation of both accounts' alarms (simulation/alarms.py)."""
        self.alarm_names: list[str] = []
        """The main template's alarms, as made in the main account."""
        self._next_keeper_pass = start + KEEPER_PASS_EVERY

    # -- set-up --------------------------------------------------------------------------------
    def __enter__(self) -> Simulation:
        if FUNCTIONS_DIR not in sys.path:
            sys.path.insert(0, FUNCTIONS_DIR)
        self.clock.start()
        self._stack.callback(self.clock.stop)
        self._stack.enter_context(mock_aws(config=MOTO_CONFIG))
        self.patches = self._stack.enter_context(MotoPatches(self.clock))
        if len(self.source_accounts) > 1:
            # The functions of each account run with their own environment (credentials, ARNs)
            self._stack.enter_context(self.patches.environments_per_invocation())
        # Each function's EMF lines go to its log (as CloudWatch Logs keeps them) and become
        # metrics; Powertools' Metrics emits them on Lambda, where nothing disables it.
        self.patches.function_logs.log = self.logs.write
        self._stack.enter_context(
            self.patches.environment({"POWERTOOLS_METRICS_DISABLED": "false"})
        )
        self._stack.enter_context(self.aws_faults.installed())
        self.permissions = self._stack.enter_context(enforced(Enforcement()))
        """The templates' permissions, enforced (simulation/iam/)."""
        _forget_parameter_providers()
        self._stack.callback(_forget_parameter_providers)
        self.patches.simulate_copy_progress()
        # Any other pause (the SDK's retry backoff, Slack's Retry-After) is simulated too.
        self._stack.enter_context(mock.patch("time.sleep", self.clock.sleep))
        self.clock.on_advance(self._on_advance)
        self._capture_logs()
        if self.slack:
            self._stack.enter_context(self._slack_mock())
        try:
            self._deploy()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.permissions.check()
        finally:
            self._stack.close()

    def _capture_logs(self) -> None:
        """The functions' structured logs go to `self.logs` (as CloudWatch would keep them),
        not to the terminal; moto's own error log of failed states is silenced."""
        from rds_xacct.aws.observability import logger as app_logger

        handler = app_logger.registered_handler
        assert isinstance(handler, logging.StreamHandler)
        previous = handler.setStream(self.logs)
        self._stack.callback(handler.setStream, previous)
        moto_log = logging.getLogger("moto")
        level = moto_log.level
        moto_log.setLevel(logging.CRITICAL)
        self._stack.callback(moto_log.setLevel, level)

    @contextmanager
    def _slack_mock(self) -> Iterator[None]:
        # Started after moto's own mock, it would refuse what it does not know: the keeper's
        # function URL is passed on to moto's (simulation/moto/function_urls.py)
        with responses.RequestsMock(
            assert_all_requests_are_fired=False, real_adapter_send=function_urls.moto_send()
        ) as mock:
            function_urls.passed_on(mock)
            mock.add(responses.POST, SLACK_WEBHOOK, status=self.slack_status, body="ok")
            self.slack_mock = mock
            yield

    @property
    def in_another_region(self) -> bool:
        return self.backup_region != REGION

    def _deploy_source_region_key(self) -> dict[str, str]:
        """With a backup region: the backup account's source-region-key stack here (the key the
        intermediate copies are made with), as the deploy guide says, before the stack of the
        backup region, which is given its key (SourceRegionKmsKeyArns)."""
        if not self.in_another_region:
            return {}
        cfn = session_in(BACKUP_ACCOUNT).client("cloudformation")
        cfn.create_stack(
            StackName=SOURCE_REGION_KEY_STACK,
            TemplateBody=json.dumps(without_serverless(load_template(BACKUP_TEMPLATE))),
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in {**self._sources(), "StackPurpose": "source-region-key"}.items()
            ],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        enforce_stack(
            self.permissions,
            cfn,
            SOURCE_REGION_KEY_STACK,
            BACKUP_SOURCE,
            account=BACKUP_ACCOUNT,
            region=REGION,
        )
        stack = cfn.describe_stacks(StackName=SOURCE_REGION_KEY_STACK)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}

    def _sources(self) -> dict[str, str]:
        """The backup stacks' source accounts: those the main stack is deployed in
        (`source_accounts`), unless the test names them (a list, or an organization, with its
        OU paths)."""
        names = ("SourceAccountIds", "SourceOrganizationId", "SourceOrganizationalUnitPaths")
        given = {key: self.backup_parameters[key] for key in names if key in self.backup_parameters}
        return given or {"SourceAccountIds": ",".join(self.source_accounts)}

    def _deploy(self) -> None:
        source_region_key = self._deploy_source_region_key()
        backup = session_in(BACKUP_ACCOUNT, self.backup_region)
        cfn = backup.client("cloudformation")
        # The main account is the backup stack's source account, unless the test names the
        # source accounts (a list, or an organization) itself
        # (the backup account's pool of copy slots as big as the main account's, unless the
        # test gives it its own size)
        slots = {k: v for k, v in self.parameters.items() if k == "MaxCopiesInFlight"}
        stack_parameters: list[Any] = [
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in {**self._sources(), **slots, **self.backup_parameters}.items()
        ]
        if source_region_key:
            stack_parameters.append(
                {
                    "ParameterKey": "SourceRegionKmsKeyArns",
                    "ParameterValue": source_region_key["BackupAccountKmsKeyArn"],
                }
            )
        # moto runs no SAM transform: the stack is made without the keeper function, which is
        # then made and routed like the main stack's functions (`_deploy_keeper`).
        backup_template = load_template(BACKUP_TEMPLATE)
        cfn.create_stack(
            StackName="rds-xacct-backup-account",
            TemplateBody=json.dumps(without_serverless(backup_template)),
            Parameters=stack_parameters,
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        enforce_stack(
            self.permissions,
            cfn,
            "rds-xacct-backup-account",
            BACKUP_SOURCE,
            account=BACKUP_ACCOUNT,
            region=self.backup_region,
        )
        given = {p["ParameterKey"]: p["ParameterValue"] for p in stack_parameters}
        resources, specs = self._backup_functions(backup_template, given, cfn)
        self._deploy_keeper(backup_template, resources, specs)
        self._deploy_slot_broker(backup_template, resources, specs)
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in cfn.describe_stacks(StackName="rds-xacct-backup-account")["Stacks"][0][
                "Outputs"
            ]
        }
        intermediate_key = (source_region_key or outputs)["BackupAccountKmsKeyArn"]
        self.world = World(
            backup_key_arn=intermediate_key,
            main=operator_session(REGION),
            backup=backup,
            backup_region=self.backup_region,
        )
        parameters = {
            "BackupAccountId": BACKUP_ACCOUNT,
            "BackupAccountKmsKeyArn": intermediate_key,
            "BackupAccountRoleArn": outputs["BackupAccountRoleArn"],
            "BackupAccountKeeperUrl": self.keeper_url,
            "BackupAccountSlotBrokerUrl": self.slot_broker_url,
            **(
                {
                    "BackupRegion": self.backup_region,
                    "BackupRegionKmsKeyArn": outputs["BackupAccountKmsKeyArn"],
                }
                if self.in_another_region
                else {}
            ),
            **({"SlackWebhookParameterName": SLACK_PARAMETER} if self.slack else {}),
            **self.parameters,
        }
        for account in self.source_accounts:
            self.sources[account] = self._deploy_source(account, parameters)
        main = self.sources[MAIN_ACCOUNT]
        self.app, self.sfn, self.state_machine_arn = main.app, main.sfn, main.state_machine_arn
        self.topic_arn, self.table_name = main.topic_arn, main.table_name
        self.credentials, self._rule_clients = main.credentials, main.rule_clients
        self.alarm_names = main.alarm_names

    def _deploy_source(self, account: str, parameters: dict[str, str]) -> SourceAccount:
        """The main stack in one source account: its tables, topic, roles, functions (routed to
        their handlers in that account) and state machine. The main account's functions share
        one environment, set for the process; another account's functions each see their own
        (`MotoPatches.own_environment`)."""
        main = self.world.session_of(account)
        topic_name = "rds-xacct-notifications"
        topic_arn = main.client("sns").create_topic(Name=topic_name)["TopicArn"]
        tables = self._create_tables(main, parameters, account)
        if self.slack:
            main.client("ssm").put_parameter(
                Name=SLACK_PARAMETER, Value=SLACK_WEBHOOK, Type="SecureString"
            )
        app = load_app(
            parameters,
            account=account,
            region=REGION,
            refs={"NotificationTopic": topic_arn, **tables},
        )
        role = main.client("iam").create_role(
            RoleName="rds-xacct-simulation",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        credentials, rule_clients = self._run_as_the_templates_roles(app, main, account, role)
        lambda_client = main.client("lambda")
        # The functions of a run have the template's one environment (Globals): set it once for
        # the process, so that concurrent runs' handlers need not take turns with os.environ.
        # (The reconciler adds variables of its own; it is called directly, as the schedule does.)
        environments = [spec.environment for spec in app.functions.values()]
        common = max(environments, key=environments.count)
        shared = common if environments.count(common) > 1 else None
        own_account = account == MAIN_ACCOUNT
        if shared is not None and own_account:
            self._stack.enter_context(self.patches.environment(shared))
        for spec in app.functions.values():
            _create_function(lambda_client, spec, role, _PLACEHOLDER_CODE)
            self.patches.route_lambda(
                spec.name,
                self._handler(spec.logical_id, spec.handler),
                None if spec.environment == shared or not own_account else spec.environment,
                account=account,
                own_environment=None if own_account else spec.environment,
            )
        sfn = main.client("stepfunctions")
        state_machine_arn = sfn.create_state_machine(
            name=app.state_machine_name,
            definition=json.dumps(app.definition),
            roleArn=role,
            type="STANDARD",
        )["stateMachineArn"]
        return SourceAccount(
            account=account,
            app=app,
            sfn=sfn,
            state_machine_arn=state_machine_arn,
            topic_arn=topic_arn,
            table_name=tables["AdmissionTable"],
            credentials=credentials,
            rule_clients=rule_clients,
            alarm_names=create_template_alarms(app.template, app.resolver, main),
        )

    def _backup_functions(
        self, template: dict[str, Any], parameters: dict[str, str], cfn: Any
    ) -> tuple[dict[str, str], dict[str, FunctionSpec]]:
        """The backup stack's resources (logical id → physical id) and its functions as SAM
        would make them (moto runs no SAM transform: the simulation makes them)."""
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.list_stack_resources(StackName="rds-xacct-backup-account")[
                "StackResourceSummaries"
            ]
        }
        resolver = Resolver(
            template, parameters, account=BACKUP_ACCOUNT, region=self.backup_region, refs=resources
        )
        return resources, function_specs(template, resolver, function_names(template, resolver))

    def _backup_function_role(
        self, template: dict[str, Any], resources: dict[str, str], logical_id: str
    ) -> tuple[str, Any]:
        """A backup-stack function's role ARN and a session of it, as the Lambda service
        assumes it for the function."""
        role_id = template["Resources"][logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        role_arn = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/{resources[role_id]}"
        region = self.backup_region
        credentials = service_credentials(
            self.permissions, role_arn, "lambda.amazonaws.com", logical_id, region
        )
        return role_arn, credentials.session(region)

    def _backup_function_url(self, template: dict[str, Any], spec: FunctionSpec, url: str) -> str:
        """The function URL of a backup-stack function (the template's `AWS::Lambda::Url`, made
        with the function: moto's CloudFormation makes none), as its stack output gives it."""
        auth = template["Resources"][url]["Properties"]["AuthType"]
        made = self.backup_lambda.create_function_url_config(FunctionName=spec.name, AuthType=auth)
        return str(made["FunctionUrl"])

    def _deploy_keeper(
        self, template: dict[str, Any], resources: dict[str, str], specs: dict[str, FunctionSpec]
    ) -> None:
        """The backup account's keeper: made in that account's Lambda with the template's
        handler and environment, run in-process with its role's credentials (KeeperRole, as
        the Lambda service assumes it)."""
        spec = specs[KEEPER_FUNCTION]
        self.keeper_name = spec.name
        self.keeper_pass_name = specs[KEEPER_PASS_FUNCTION].name
        role_arn, session = self._backup_function_role(template, resources, KEEPER_FUNCTION)
        clients = {service: session.client(service) for service in ("rds", "dynamodb")}
        # The keeper's settings (names no main-account function uses) are set for the process;
        # its credentials are given to its own clients, not os.environ, which the main
        # account's functions share while they run at the same time.
        self._stack.enter_context(self.patches.environment(spec.environment))
        for module in (keeper_requests, keeper_hourly):
            self._stack.enter_context(
                mock.patch.object(module, "rds_client", return_value=clients["rds"])
            )
        self._stack.enter_context(
            mock.patch.object(keeper_ledger, "default_client", side_effect=clients.__getitem__)
        )
        self.backup_lambda = session_in(BACKUP_ACCOUNT, self.backup_region).client("lambda")
        for logical_id in (KEEPER_FUNCTION, KEEPER_PASS_FUNCTION):
            function = specs[logical_id]
            _create_function(self.backup_lambda, function, role_arn, _PLACEHOLDER_CODE)
            # The pass reads settings of its own (its freshness check's), set for its calls
            extra = {k: v for k, v in function.environment.items() if k not in spec.environment}
            self.patches.route_lambda(
                function.name,
                self._handler(logical_id, function.handler),
                extra or None,
                account=BACKUP_ACCOUNT,
            )
        self.keeper_url = self._backup_function_url(template, spec, KEEPER_URL)

    def _deploy_slot_broker(
        self, template: dict[str, Any], resources: dict[str, str], specs: dict[str, FunctionSpec]
    ) -> None:
        """The backup account's slot broker, as the keeper is made (`_deploy_keeper`): its
        function and URL in that account, run in-process with its role's credentials
        (SlotBrokerRole), given to its own DynamoDB and STS clients."""
        self.backup_slots_table = resources["SlotsTable"]
        spec = specs[SLOT_BROKER_FUNCTION]
        role_arn, session = self._backup_function_role(template, resources, SLOT_BROKER_FUNCTION)
        clients = {service: session.client(service) for service in ("dynamodb", "sts")}
        slot_callbacks.forget()
        self._stack.callback(slot_callbacks.forget)
        for module in (slot_broker, slot_callbacks):
            self._stack.enter_context(
                mock.patch.object(module, "default_client", side_effect=clients.__getitem__)
            )
        _create_function(self.backup_lambda, spec, role_arn, _PLACEHOLDER_CODE)
        # Its settings (names no main-account function uses, as the keeper's) are set for the
        # process: it answers within the asking function's invocation, while other runs' calls
        # go on, so a per-call environment would come and go under their feet. Its region is its
        # ARN's, from the context: that of the copies it counts.
        self._stack.enter_context(self.patches.environment(spec.environment))
        self.patches.route_lambda(
            spec.name,
            self._handler(SLOT_BROKER_FUNCTION, spec.handler),
            account=BACKUP_ACCOUNT,
        )
        self.slot_broker_url = self._backup_function_url(template, spec, SLOT_BROKER_URL)

    def pipeline_session(self, account: str = MAIN_ACCOUNT) -> Any:
        """A boto3 session of a source account's pipeline role (what an attacker who stole a
        function's credentials holds)."""
        return self.sources[account].credentials["DeleteBackupFunction"].session(REGION)

    def source(self, account: str = MAIN_ACCOUNT) -> SourceAccount:
        """The main stack as deployed in a source account."""
        return self.sources[account]

    def _account_of(self, event: Any) -> str:
        """The source account an event happened in (its `account`), else the main account."""
        account = event.get("account") if isinstance(event, dict) else None
        return account if account in self.sources else MAIN_ACCOUNT

    def _sfn_of(self, execution_arn: str) -> Any:
        """The operator's Step Functions client in the account of a run."""
        return self.sources[execution_arn.split(":")[4]].sfn

    def backup_role_session(self, session: Any = None, name: str | None = None) -> Any:
        """The backup account's cross-account role, assumed with the pipeline role (as every
        run does; as an attacker holding the pipeline role can), or with `session`; the session
        named `<account>-attacker` (the role's trust policy requires `<account>-...`), or
        `name`."""
        role = self.app.functions["DeleteBackupFunction"].environment["BACKUP_ROLE_ARN"]
        caller = session or self.pipeline_session()
        account = caller.client("sts").get_caller_identity()["Account"]
        credentials = caller.client("sts").assume_role(
            RoleArn=role, RoleSessionName=name or f"{account}-attacker"
        )["Credentials"]
        return session_of_credentials(credentials, self.backup_region)

    def ask_keeper(self, request: Any, session: Any = None) -> dict[str, Any]:
        """Ask the backup account's keeper `request` at its function URL, as a run does (through
        the cross-account role, by default) or as `session` does; returns its answer (a refusal
        of the caller too: its body)."""
        answer: dict[str, Any] = self.call_keeper_url(request, session)[1]
        return answer

    def call_keeper_url(self, request: Any, session: Any = None) -> tuple[int, Any]:
        """A POST of `request` to the keeper's function URL, SigV4-signed with `session`'s
        credentials (default: the cross-account role's), as the runs send it
        (rds_xacct.aws.url_calls); the HTTP status and the JSON body."""
        session = session or self.backup_role_session()
        return url_calls.post(self.keeper_url, request, session, timeout=5)

    def note(self, text: str) -> None:
        """A line in the run's timeline (the demo's attacker says what was refused)."""
        self._note("note", text)

    def eventbridge_event(
        self,
        detail_type: str,
        source: str,
        account: str,
        resources: list[str],
        detail: dict[str, Any],
        region: str = REGION,
    ) -> dict[str, Any]:
        """An event as EventBridge delivers it, at the simulated time."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": account,
            "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": resources,
            "detail": detail,
        }

    def keeper_pass(self) -> dict[str, Any]:
        """What the backup account's hourly schedule does: invoke the keeper's pass with the
        schedule's event (as EventBridge does, in the backup account)."""
        result, failed = self._keeper_pass()
        if failed:
            raise AssertionError(f"The keeper's hourly pass failed: {result}")
        return result

    def _keeper_pass(self) -> tuple[dict[str, Any], bool]:
        response = self.backup_lambda.invoke(
            FunctionName=self.keeper_pass_name,
            Payload=json.dumps(self.schedule_event()).encode(),
        )
        result: dict[str, Any] = json.loads(response["Payload"].read())
        self.permissions.check()
        return result, bool(response.get("FunctionError"))

    # -- time passing, and what CloudWatch sees ---------------------------------------------------
    def advance(
        self, hours: float, *, keeper_passes: bool = True, watch: bool = True
    ) -> list[dict[str, Any]]:
        """Let `hours` of simulated time pass, runs in flight going on meanwhile. The backup
        account's schedule runs the keeper's pass each hour (since the stack was made), unless
        `keeper_passes` is False (the schedule disabled: the passes due are skipped, not made up
        later), and each source account's hourly schedule its watch at the same moments, unless
        `watch` is False (the main account's schedule or pipeline gone); the alarms are
        evaluated after each hour's work and at the end. The schedules run only here: passes due
        while the clock moved otherwise (runs delivered) are skipped. Returns each pass's
        answer (a failed pass's error payload too: Lambda counts it in `Errors`)."""
        now = self.clock.now()
        target = now + timedelta(hours=hours)
        if self._next_keeper_pass < now:
            # The clock moved without the schedule (runs delivered, `clock.advance`): the passes
            # due meanwhile are not made up at once now
            missed = math.ceil((now - self._next_keeper_pass) / KEEPER_PASS_EVERY)
            self._next_keeper_pass += missed * KEEPER_PASS_EVERY
        answers = []
        with self.clock.taking_part():
            while self._next_keeper_pass <= target:
                due, self._next_keeper_pass = (
                    self._next_keeper_pass,
                    self._next_keeper_pass + KEEPER_PASS_EVERY,
                )
                if not (keeper_passes or watch):
                    continue
                if due > self.clock.now():
                    self.clock.wait_until(due)
                if keeper_passes:
                    answers.append(self._keeper_pass()[0])
                if watch:
                    for account in self.source_accounts:  # each account's own schedule
                        self.watch(account)
                self.alarm_watch.evaluate()
            if target > self.clock.now():
                self.clock.wait_until(target)
        self.alarm_watch.evaluate()
        return answers

    def alarm_states(self, account: str | None = None) -> dict[str, str]:
        """Every alarm of `account` (None: both accounts) by name: OK, ALARM or
        INSUFFICIENT_DATA, evaluated at the simulated now as CloudWatch would, and set in
        moto's CloudWatch (DescribeAlarms shows it)."""
        return self.alarm_watch.states(account)

    def alarm(self, name: str, account: str | None = None) -> Evaluation:
        """The alarm's evaluation at the simulated now: its state, why, and each data point of
        its evaluation range (`str()` prints them, for a test's failure message)."""
        return self.alarm_watch.evaluation(name, account)

    @property
    def alarm_notifications(self) -> list[AlarmNotification]:
        """What every alarm's changes of state sent to its actions (its topic), in order."""
        return list(self.alarm_watch.notifications)

    def schedule_event(self) -> dict[str, Any]:
        """The event the backup account's hourly schedule sends, at the simulated time."""
        region = self.backup_region
        rule = f"arn:aws:events:{region}:{BACKUP_ACCOUNT}:rule/rds-xacct-keeper-hourly"
        return self.eventbridge_event(
            "Scheduled Event", "aws.events", BACKUP_ACCOUNT, [rule], {}, region
        )

    def _run_as_the_templates_roles(
        self, app: App, main: Any, account: str, execution_role: str
    ) -> tuple[dict[str, Credentials], dict[str, Any]]:
        """Create the main template's roles in the account's IAM; each function runs with its
        role's credentials (in its environment, as Lambda sets them), Step Functions calls
        Lambda with the state machine's role (for runs of the machine made with
        `execution_role`), and EventBridge starts runs with the rule's role. Returns each
        function's credentials and each rule's Step Functions client."""
        template, resolver = app.template, app.resolver
        resolver.attributes = template_attributes(
            template, resolver, account=account, region=REGION
        )
        given = deploy_main_roles(
            self.permissions,
            template,
            resolver,
            main.client("iam"),
            account=account,
            region=REGION,
        )
        for spec in app.functions.values():
            if spec.logical_id not in given:
                raise AssertionError(f"{spec.logical_id} has no role in template.yaml")
            spec.environment.update(given[spec.logical_id].environment())
        machine = given.get(state_machine_resource(template)[0])
        if machine is not None and account == MAIN_ACCOUNT:
            self.patches.state_machine_credentials = machine.client_arguments()
        elif machine is not None:
            self.patches.execution_role_credentials[execution_role] = machine.client_arguments()
        rule_clients = {
            rule: given[rule].session(REGION).client("stepfunctions")
            for rule in app.rules
            if rule in given
        }
        return given, rule_clients

    def _create_tables(
        self, main: Any, parameters: dict[str, str], account: str = MAIN_ACCOUNT
    ) -> dict[str, str]:
        """Every DynamoDB table of template.yaml (the copy slots, the notices), as it declares
        them, in the account; their names by logical id."""
        template = load_template()
        resolver = Resolver(template, parameters, account=account, region=REGION, refs={})
        names = {}
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::DynamoDB::Table":
                continue
            properties = resolver.resolve(resource["Properties"])
            names[logical_id] = str(properties["TableName"])
            main.client("dynamodb").create_table(
                TableName=names[logical_id],
                BillingMode=properties["BillingMode"],
                AttributeDefinitions=properties["AttributeDefinitions"],
                KeySchema=properties["KeySchema"],
            )
        return names

    # -- the source database ---------------------------------------------------------------------
    def backup_event(
        self,
        database: str = "orders-db",
        *,
        kind: str = "db",
        size_gib: int = 20,
        job_id: str | None = None,
        tags: dict[str, str] | None = None,
        account: str = MAIN_ACCOUNT,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """A database (or Aurora cluster) encrypted with aws/rds in a source account, an AWS
        Backup snapshot of it (made now, or at `created_at`), and the `Backup Job State
        Change` event AWS Backup sends for it there."""
        job_id = job_id or str(uuid.uuid5(uuid.NAMESPACE_URL, database))
        if kind == "cluster":
            self.world.cluster(database, tags=tags, account=account)
            resource = f"arn:aws:rds:{REGION}:{account}:cluster:{database}"
        else:
            self.world.database(database, size_gib=size_gib, tags=tags, account=account)
            resource = f"arn:aws:rds:{REGION}:{account}:db:{database}"
        snapshot = self.world.backup_snapshot(
            database, job_id, kind=kind, created_at=created_at, account=account
        )
        return backup_job_event(snapshot, resource)

    # -- running ---------------------------------------------------------------------------------
    def inject_failure(self, step: str, error: Exception | None = None) -> None:
        """Make the handler of `step` raise (every time) instead of doing its work."""
        if step not in INJECTABLE_STEPS:
            raise ValueError(f"Unknown step {step!r}; choose one of {', '.join(INJECTABLE_STEPS)}")
        self.failures[step] = error or AwsError(
            f"InternalFailure: failure injected at {step} by the simulation"
        )

    def corrupt_result(self, step: str, **fields: Any) -> None:
        """Overwrite `fields` in what the handler of `step` returns (every time), as a bug in it
        would: e.g. `waitSeconds="soon"` at CheckIntermediate makes the next Wait state fail with
        `States.Runtime`, which no Catch handles."""
        self.corruptions[step] = fields

    def stop_run_after(self, step: str, status: str = "ABORTED", *, reported: bool = True) -> None:
        """Stop the run right after `step`, as an operator's StopExecution (`ABORTED`) or the
        state machine's time limit (`TIMED_OUT`) would. moto can only abort; for TIMED_OUT
        the status-change event says TIMED_OUT, which is what the app acts on."""
        if status not in ("ABORTED", "TIMED_OUT"):
            raise ValueError("status must be ABORTED or TIMED_OUT")
        self.stop_after = (step, status)
        self.stop_reported = reported
        """False: the status-change event never reaches the Notify function (a lost run)."""

    def _listing(self, account: str) -> list[str]:
        return [f"{s['id']} ({s['kind']}, {s['status']})" for s in self.world.snapshots(account)]

    def _note(self, kind: str, text: str) -> None:
        if not self.recording:
            return
        self.timeline.append(
            Entry(
                at=self.clock.now(),
                kind=kind,
                text=text,
                main=self._listing(MAIN_ACCOUNT),
                backup=self._listing(BACKUP_ACCOUNT),
            )
        )

    def _on_advance(self, now: datetime) -> None:
        """A Wait state or a retry moved the clock: one timeline line for the pause."""
        if not self.recording:
            return
        last = self.timeline[-1].at if self.timeline else None
        if last is not None and now > last:
            waited = int((now - last).total_seconds())
            self.timeline.append(Entry(at=now, kind="wait", text=f"waited {_span(waited)}"))

    def _handler(self, logical_id: str, handler: str) -> Callable[[Any, Any], Any]:
        real = load_handler(handler)

        def run(event: Any, context: Any) -> Any:
            step = step_name(logical_id, event)
            with self._calls_lock:
                self.lambda_calls += 1
            failure = self.failures.get(step)
            pending = self._stop_before_next
            if pending is not None and execution_of(event) == pending:
                self._stop_before_next = None
                self._stop(pending)
                self._note("note", f"run stopped before {step} ({self.stop_after})")
                return {"stopped": True}  # never seen: the run ends before the next state
            try:
                if failure is not None:
                    raise failure
                # The keeper and the slot broker answer a step's request within that step's
                # Lambda invoke: their AWS calls count as the asking step's (DeleteBackup,
                # Cleanup, Notify; WaitForBackupSlot, ReleaseBackupSlot).
                asked = logical_id in {KEEPER_FUNCTION, KEEPER_PASS_FUNCTION, SLOT_BROKER_FUNCTION}
                with nullcontext() if asked else self.aws_faults.in_step(step):
                    result = real(event, context)
                if step in self.corruptions and isinstance(result, dict):
                    result = {**result, **self.corruptions[step]}
            except Exception as error:
                self._note("error", f"{step} raised {type(error).__name__}: {error}")
                raise
            self._note("task", describe_result(step, result))
            after = self.after_step.pop(step, None)
            if after is not None:
                after()
            if self.stop_after and self.stop_after[0] == step:
                execution_arn = execution_of(event)
                if execution_arn and step.startswith("WaitFor"):
                    # moto's interpreter cannot stop a run inside a `.waitForTaskToken` task's
                    # invoke (the run ends FAILED, States.Runtime): the stop comes as the next
                    # task begins, before it does anything, which is the same moment for the run.
                    self._stop_before_next = execution_arn
                elif execution_arn:
                    self._stop(execution_arn)
                    self._note("note", f"run stopped after {step} ({self.stop_after[1]})")
            return result

        return run

    def _stop(self, execution_arn: str) -> None:
        """Stop a run as `stop_run_after` says: StopExecution (moto can only abort; a run
        stopped as its time limit would counts as timed out in AWS/States)."""
        if self.stop_after is not None and self.stop_after[1] == "TIMED_OUT":
            self.patches.timing_out.add(execution_arn)
        self._sfn_of(execution_arn).stop_execution(executionArn=execution_arn)

    def deliver(self, event: Any, *, name: str | None = None, by_hand: bool = False) -> RunResult:
        """Deliver an event as EventBridge would: match the rules, start a run, wait for it.
        `by_hand` starts the run whatever the rules say, as an operator can."""
        started = self.clock.now()
        self.timeline = []
        calls_before = self.lambda_calls
        source = self.sources[self._account_of(event)]
        sns_before = len(self.sns_messages(source.account))
        slack_before = len(self.slack_messages())
        matched = [
            rule
            for rule, pattern in source.app.rules.items()
            if isinstance(event, dict) and event_matches(pattern, event)
        ]
        if not matched and not by_hand:
            return RunResult(
                matched_rules=[],
                execution_arn=None,
                status="NOT_STARTED",
                output=None,
                error=None,
                cause="No rule of template.yaml matches this event: no run starts",
                timeline=[],
                sns=[],
                slack=[],
                states=[],
                started_at=started,
                finished_at=started,
                lambda_calls=0,
                transitions=0,
            )
        # EventBridge starts the run with the matched rule's role; an operator, with their own.
        starter = source.rule_clients.get(matched[0], source.sfn) if matched else source.sfn
        execution_arn = self.start_run(event, name=name, client=starter, account=source.account)
        described = wait_for_execution(source.sfn, execution_arn)
        if described["status"] == "ABORTED" and self.stop_after and self.stop_reported:
            # EventBridge's `Step Functions Execution Status Change` event, to the Notify function
            self.stop_run(execution_arn, self.stop_after[1])
        elif described["status"] == "FAILED":
            # EventBridge sends every run's FAILED too; the template's rule picks which reach
            # the Notify function (those that did not pass through the failure notification).
            self.status_change(execution_arn, "FAILED", described)
        states = self.states_entered(execution_arn)
        output = json.loads(described["output"]) if described.get("output") else None
        self.permissions.check()
        return RunResult(
            matched_rules=matched,
            execution_arn=execution_arn,
            status=described["status"],
            output=output,
            error=described.get("error"),
            cause=described.get("cause"),
            timeline=list(self.timeline),
            sns=self.sns_messages(source.account)[sns_before:],
            slack=self.slack_messages()[slack_before:],
            states=states,
            started_at=started,
            finished_at=self.clock.now(),
            lambda_calls=self.lambda_calls - calls_before,
            transitions=len(states),
        )

    def start_run(
        self,
        event: Any,
        *,
        name: str | None = None,
        client: Any = None,
        account: str | None = None,
    ) -> str:
        """Start a run of the state machine of `account` (default: the event's `account`, else
        the main account) with `event` as its input (by `client`, default the operator's);
        returns its ARN without waiting for it."""
        source = self.sources[account or self._account_of(event)]
        starter = client or source.sfn
        arn: str = starter.start_execution(
            stateMachineArn=source.state_machine_arn,
            name=name or str(uuid.uuid4()),
            input=json.dumps(event),
        )["executionArn"]
        return arn

    def deliver_window(
        self,
        arrivals: list[tuple[float, dict[str, Any]]],
        *,
        real_timeout_s: float = 900,
        keep_histories: bool = True,
    ) -> list[dict[str, Any]]:
        """A backup window: each event is delivered `offset` simulated seconds after the first,
        while the runs already started go on (every run on the one simulated clock). Waits for
        every run to end; returns each run's final description (status, output, ...).
        `keep_histories=False`: each run's history is dropped when it ends, the states it entered
        kept (`states_entered`), for windows of many runs."""
        if not keep_histories and self.patches.states_entered is None:
            self.patches.states_entered = {}
        self.recording = False
        self.timeline = []
        arns = []
        try:
            with self.clock.taking_part():
                first = self.clock.now()
                for offset, event in sorted(arrivals, key=lambda a: a[0]):
                    moment = first + timedelta(seconds=offset)
                    if moment > self.clock.now():
                        self.clock.wait_until(moment)
                    arns.append(self.start_run(event))
            described = [wait_for_execution(self._sfn_of(arn), arn, real_timeout_s) for arn in arns]
            self.permissions.check()
            return described
        finally:
            self.recording = True

    def states_entered(self, execution_arn: str) -> list[str]:
        """The states a finished run entered, in order: kept when its history was dropped
        (`deliver_window(keep_histories=False)`), else read from its history."""
        kept = self.patches.states_entered
        if kept is not None and execution_arn in kept:
            return kept[execution_arn]
        # The history as GetExecutionHistory lists it, read from moto's backend: serialising
        # it through the API cost a tenth of a run's real time.
        account = execution_arn.split(":")[4]
        history = get_backend(account, REGION).get_execution_history(execution_arn)["events"]
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in history
            if "stateEnteredEventDetails" in e
        ]

    def stop_run(self, execution_arn: str, status: str) -> dict[str, Any]:
        """What EventBridge does when a run times out or is aborted: the status-change event goes
        to the Notify function if the template's rule matches it."""
        return self.status_change(execution_arn, status)

    def status_change(
        self, execution_arn: str, status: str, described: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The `Step Functions Execution Status Change` event of a run that ended with `status`,
        delivered to the Notify function if the template's rule matches it. Its detail holds
        DescribeExecution's fields ("EventBridge for Step Functions execution status changes"):
        for a FAILED run, `error` and `cause`."""
        source = self.sources[execution_arn.split(":")[4]]
        described = described or source.sfn.describe_execution(executionArn=execution_arn)
        failure = (
            {"error": described.get("error"), "cause": described.get("cause")}
            if status == "FAILED" and not self.lean_status_events
            else {}
        )
        event = self.eventbridge_event(
            "Step Functions Execution Status Change",
            "aws.states",
            source.account,
            [execution_arn],
            {
                "executionArn": execution_arn,
                "stateMachineArn": source.state_machine_arn,
                "name": execution_arn.rsplit(":", 1)[-1],
                "status": status,
                "input": described["input"],
                **failure,
            },
        )
        if not event_matches(source.app.stopped_run_pattern, event):
            return {"ignored": "the stopped-run rule does not match"}
        return self._call_directly("NotifyFunction", event, source.account)

    def sweep(self, account: str = MAIN_ACCOUNT) -> dict[str, Any]:
        """What the daily schedule does: run the Sweep function of `account` now."""
        return self._call_directly("SweepFunction", {}, account)

    def reconcile(
        self, event: dict[str, Any] | None = None, account: str = MAIN_ACCOUNT
    ) -> dict[str, Any]:
        """What the daily schedule does: run the Reconcile function of `account` now. The runs
        it starts go on in the background; `wait_for_runs` waits for them."""
        # The runs it starts go on while it starts the next: it takes part in the clock, so the
        # first run's waits can't move the clock before the last run has started
        with self.clock.taking_part():
            return self._call_directly("ReconcileFunction", event or {}, account)

    def watch(self, account: str = MAIN_ACCOUNT) -> dict[str, Any]:
        """What the hourly schedule does: run the Watch function of `account` now (freshness
        from that account, the copy slots)."""
        return self._call_directly("WatchFunction", {}, account)

    def _call_directly(self, logical_id: str, event: Any, account: str) -> dict[str, Any]:
        """Invoke a source account's function as its schedule or rule does, with its
        environment: the main account's extends the process's; another account's is its own."""
        spec = self.sources[account].app.functions[logical_id]
        handler = self._handler(logical_id, spec.handler)
        environment = (
            self.patches.environment(spec.environment)
            if account == MAIN_ACCOUNT
            else self.patches.own_environment(spec.environment)
        )
        with environment, self._invoked(spec.name, account):
            result: dict[str, Any] = handler(event, make_fake_context(spec.name, account, REGION))
        self.permissions.check()
        return result

    def _invoked(self, function_name: str, account: str = MAIN_ACCOUNT) -> Any:
        """One invocation of a source account's function the simulation calls directly, as its
        schedule or rule would invoke it: its output and metrics (`MotoPatches.invocation`)."""
        return self.patches.invocation(function_name, account, REGION)

    def wait_for_runs(self, execution_arns: list[str]) -> list[dict[str, Any]]:
        """Wait for runs started outside `deliver` (by reconciliation, `start_run`) to end, in
        whichever source account they run."""
        described = [wait_for_execution(self._sfn_of(arn), arn) for arn in execution_arns]
        self.permissions.check()
        return described

    # -- the copy slots ----------------------------------------------------------------------------
    def copy_slots(self, account: str = MAIN_ACCOUNT) -> dict[str, dict[str, Any]]:
        """Each pool's slots in use, holders and waiting runs, as the tables hold them: a source
        account's pool in its table, the backup account's in its slot broker's (shared by every
        source account; a run there is `<source account>-<execution>`)."""
        table = self.sources[account].table_name
        items = self.world.main_client("dynamodb", account).scan(TableName=table)["Items"]
        items += self.world.backup.client("dynamodb").scan(TableName=self.backup_slots_table)[
            "Items"
        ]
        pools: dict[str, dict[str, Any]] = {}
        for item in items:
            pool, sort = item["pk"]["S"], item["sk"]["S"]
            if not pool.startswith("copies#"):
                continue
            entry = pools.setdefault(pool, {"inUse": 0, "holders": [], "waiting": []})
            if sort == "count":
                entry["inUse"] = int(item["inUse"]["N"])
            elif sort.startswith("holder#"):
                entry["holders"].append(item["execution"]["S"])
            elif sort.startswith("waiter#"):
                entry["waiting"].append(item["execution"]["S"])
        return pools

    # -- what was sent ---------------------------------------------------------------------------
    def sns_messages(self, account: str = MAIN_ACCOUNT) -> list[dict[str, Any]]:
        """What a source account's notification topic was sent."""
        topic = sns_backends[account][REGION].topics[self.sources[account].topic_arn]
        return [
            {"id": n[0], "message": n[1], "subject": n[2], "attributes": n[3]}
            for n in topic.sent_notifications
        ]

    def secrets_in(self, text: str) -> list[str]:
        """The secrets that appear in `text` (logs, messages): the Slack webhook URL (or any
        Slack webhook), and every credential STS handed out in either account."""
        from moto.sts.models import sts_backends

        secrets = {SLACK_WEBHOOK, "hooks.slack.com/services"}
        for account in (*self.source_accounts, BACKUP_ACCOUNT):
            for role in sts_backends[account]["global"].assumed_roles:
                secrets.update({role.secret_access_key, role.session_token})
        return sorted(secret for secret in secrets if secret in text)

    def slack_messages(self) -> list[dict[str, Any]]:
        if not self.slack:
            return []
        calls = self.slack_mock.calls
        for call in list(calls)[len(self._slack_read) :]:  # each request read once
            self._slack_read.append(
                json.loads(call.request.body or "{}") if call.request.url == SLACK_WEBHOOK else None
            )
        return [message for message in self._slack_read if message is not None]


def _placeholder_code() -> bytes:
    """The code every function is made with in moto's Lambda: never run (the simulation routes
    each invocation to the real handler, in-process)."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return code.getvalue()


_PLACEHOLDER_CODE = _placeholder_code()


def _create_function(client: Any, spec: FunctionSpec, role: str, code: bytes) -> None:
    """A function of a template in moto's Lambda (its invocations are routed to the handler)."""
    client.create_function(
        FunctionName=spec.name,
        Runtime="python3.13",
        Role=role,
        Handler=spec.handler,
        Code={"ZipFile": code},
        Timeout=spec.timeout,
        MemorySize=spec.memory,
        Environment={"Variables": spec.environment},
    )


def _forget_parameter_providers() -> None:
    """Powertools keeps its SSM client (and the values read) for the process: a new simulated
    world, or a function's new credentials, needs a new one."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    DEFAULT_PROVIDERS.clear()


MakeSim = Callable[..., Simulation]
"""The end-to-end tests' `make_sim` fixture: `make_sim(**Simulation kwargs)`."""


def outcomes(messages: list[dict[str, Any]]) -> list[str]:
    """The `outcome` attribute of each SNS message."""
    return [m["attributes"]["outcome"]["Value"] for m in messages]


def _span(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    if secs or not any(parts):
        parts.append(f"{secs}s")
    return " ".join(p for p in parts if p)


def describe_result(step: str, result: Any) -> str:
    """One line for the timeline about what a step did."""
    if not isinstance(result, dict):
        return f"{step}: {result}"
    if step == "DescribeSource":
        job = result.get("job", {})
        if job.get("skipped"):
            return f"DescribeSource: skipped: {job['skipped']}"
        source = job.get("source", {})
        return (
            f"DescribeSource: {source.get('database')} ({source.get('engine')}, "
            f"{source.get('sizeGiB')} GiB, {source.get('kind')}) -> copies named {job.get('copyId')}"
        )
    if step in ("CheckIntermediate", "CheckBackup"):
        if result.get("ready"):
            return f"{step}: available after {result.get('polls')} look(s)"
        return f"{step}: {result.get('status')} {result.get('percent')}%, next look in {result.get('waitSeconds')} s"
    if step in ("CopyIntermediate", "CopyBackup"):
        verb = "found its earlier copy" if result.get("adopted") else "started copy"
        return f"{step}: {verb} {result.get('arn')}"
    if step.startswith("WaitFor"):
        return f"{step}: {result.get('outcome')} ({result.get('pool')})"
    if step.startswith("Release") and step.endswith("Slot"):
        served = result.get("served") or []
        return f"{step}: slot given back" + (f", handed to {', '.join(served)}" if served else "")
    if step == "Share":
        return f"Share: shared with account {result.get('sharedWith')}"
    if step == "DeleteIntermediate":
        return f"DeleteIntermediate: deleted {result.get('id')} in the main account"
    if step == "DeleteBackup":
        return (
            f"DeleteBackup: asked the backup account's keeper to delete {result.get('id')}: "
            f"{result.get('action')}"
        )
    if step == "Keeper":
        if "statusCode" in result:  # the keeper's function-URL response: its answer in the body
            answer = json.loads(result.get("body") or "{}")
            result = answer if isinstance(answer, dict) else {"decision": str(answer)}
        if "decision" in result:
            return f"Keeper (backup account): {result['decision']}: {result.get('reason')}"
        stale = (result.get("freshness") or {}).get("stale")
        return (
            f"Keeper (backup account, hourly): deleted {len(result.get('deleted', []))}, "
            f"recorded {len(result.get('recorded', []))}, problems {result.get('problems')}, "
            f"stale {stale}"
        )
    if step == "Cleanup":
        actions = result.get("actions") or ["nothing to delete"]
        return "Cleanup: " + "; ".join([*actions, *result.get("problems", [])])
    if step == "Sweep":
        return f"Sweep: deleted {len(result.get('deleted', []))}, problems {result.get('problems')}"
    if step == "Watch":
        return (
            f"Watch: {result.get('covered')} database(s) covered, without a fresh copy "
            f"{result.get('withoutFreshCopy')}, problems {result.get('problems')}"
        )
    if step == "Reconcile":
        return (
            f"Reconcile: looked at {result.get('looked')}, started {len(result.get('started', []))}"
            f", problems {result.get('problems')}"
        )
    if step == "Notify":
        sent = result.get("notifications")
        if sent is None:
            return f"Summarize: the run's output, outcome {result.get('outcome')}"
        return f"Notify: {result.get('outcome')}: SNS message {sent.get('sns')}, Slack {sent.get('slack')}"
    return f"{step}: done"
