"""Every patch of moto in the simulation, and the private moto APIs each one relies on.

`simulation.guard` checks these against the installed moto at import. One entry per patch (the
function or class that makes it, named as simulation/README.md's table names it), including
the fault modes and the bench's counters, and the helpers that read moto's private parts
without patching them. tests/unit/test_moto_guard.py checks that every patch installed is here
and in the README. Nothing here imports moto: the guard runs before any patch module is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal[
    "aws rule", "clock", "speed", "memory", "fault mode", "counter", "reads", "metrics", "endpoint"
]
"""`endpoint`: what AWS answers at an address of its own that moto does not serve (a callback
registered on moto's `responses` mock, not a replacement of a moto API)."""


@dataclass(frozen=True)
class Api:
    """A moto API, by dotted path (`moto.rds.models.RDSBackend.get_snapshot`)."""

    path: str
    parameters: tuple[str, ...] = ()
    """For a function the patch replaces, wraps by signature or calls: its first parameters,
    in order."""
    kind: Literal["attribute", "instance", "absent"] = "attribute"
    """attribute: the module, class, function or attribute exists. instance: objects of the
    class get the attribute (moto's code assigns `self.<name>`). absent: moto does not have it
    (the patch adds it, and would hide moto's own)."""


@dataclass(frozen=True)
class Patch:
    where: str
    """The module and the function or class that makes the patch."""
    role: Role
    apis: tuple[Api, ...]


def _f(path: str, *parameters: str) -> Api:
    return Api(path, parameters)


def _on(path: str) -> Api:
    return Api(path, kind="instance")


def _new(path: str) -> Api:
    return Api(path, kind="absent")


_SFN = "moto.stepfunctions.parser"
_WORKER = f"{_SFN}.backend.execution_worker.ExecutionWorker"
_STATE = f"{_SFN}.asl.component.state.exec.execute_state.ExecutionState"
_ENV = f"{_SFN}.asl.eval.environment.Environment"
_CALLBACK = f"{_SFN}.asl.eval.callback.callback"
_TIMESTAMP = f"{_SFN}.asl.component.state.wait.wait_function.timestamp.Timestamp"
_ERRORS = f"{_SFN}.asl.component.common.error_name"
_RDS = "moto.rds.models.RDSBackend"
_SNAPSHOT = "moto.rds.models.DBSnapshot"
_CLUSTER_SNAPSHOT = "moto.rds.models.DBClusterSnapshot"
_STUBBER = _f("moto.core.botocore_stubber.BotocoreStubber.process_request", "self", "request")
_COPY_DB = ("self", "source_db_snapshot_identifier", "target_db_snapshot_identifier", "kms_key_id")
_COPY_CLUSTER = (
    "self",
    "source_db_cluster_snapshot_identifier",
    "target_db_cluster_snapshot_identifier",
    "kms_key_id",
)
_RESPONSE = "moto.core.responses.BaseResponse"
_DYNAMODB = "moto.dynamodb.models.DynamoDBBackend"
_TABLE = "moto.dynamodb.models.table.Table"
_CLOUDWATCH = "moto.cloudwatch.models.CloudWatchBackend"
_POWERTOOLS = "aws_lambda_powertools.metrics"
_EMF_PROVIDER = f"{_POWERTOOLS}.provider.cloudwatch_emf.cloudwatch.AmazonCloudWatchEMFProvider"

PATCHES: tuple[Patch, ...] = (
    # --- Lambda ---------------------------------------------------------------------------------
    Patch(
        "simulation.moto.lambda_._routed_invoke",
        "aws rule",
        (
            _f(
                "moto.awslambda_simple.models.LambdaSimpleBackend.invoke",
                *("self", "function_name", "qualifier", "body", "headers", "response_headers"),
            ),
        ),
    ),
    Patch(
        "simulation.moto.function_urls.serving",
        "endpoint",
        (
            Api("moto.core.models.responses_mock"),
            Api("moto.core.models.responses_mock.unbound_on_send"),
            _f("moto.awslambda.models.LambdaBackend.list_functions", "self"),
            _on("moto.awslambda.models.LambdaFunction.url_config"),
            _f("moto.iam.models.get_account_id_from", "access_key"),
            _f("moto.sts.models.STSBackend.get_assumed_role_from_access_key", "self"),
            Api("moto.sts.models.AssumedRole.user_id"),
            Api("moto.sts.models.AssumedRole.arn"),
        ),
    ),
    # --- Step Functions -------------------------------------------------------------------------
    Patch(
        "simulation.moto.sfn._wait_on_clock",
        "clock",
        (
            _f(
                f"{_SFN}.asl.component.state.wait.wait_function.wait_function.WaitFunction"
                "._wait_interval",
                *("self", "env", "wait_seconds"),
            ),
        ),
    ),
    Patch(
        "simulation.moto.sfn._ClockTime",
        "clock",
        (_f(f"{_SFN}.asl.component.common.retry.retrier_decl.time"),),
    ),
    Patch(
        "simulation.moto.sfn._enlisted_start",
        "clock",
        (
            _f(f"{_WORKER}.start", "self"),
            _f(f"{_WORKER}._execution_logic", "self"),
            _f(f"{_SFN}.utils.TMP_THREADS"),
        ),
    ),
    Patch(
        "simulation.moto.sfn._evaluate_inline",
        "clock",
        (
            _f(f"{_STATE}._evaluate_with_timeout", "self", "env"),
            _f(f"{_STATE}._eval_execution", "self", "env"),
            _f(f"{_STATE}._is_language_query_jsonpath", "self"),
            _on(f"{_STATE}.timeout"),
            _on(f"{_STATE}.assign_decl"),
            _on(f"{_STATE}.result_selector"),
            _on(f"{_STATE}.result_path"),
            _f(f"{_ENV}.open_frame", "self"),
            _f(f"{_ENV}.close_frame", "self", "frame"),
            _f(f"{_ENV}.set_ended", "self"),
            _on(f"{_ENV}.stack"),
            _on(f"{_ENV}.states"),
        ),
    ),
    Patch(
        "simulation.moto.sfn._program_inline",
        "clock",
        (
            _f(f"{_SFN}.asl.component.program.program.Program.eval", "self", "env"),
            _on(f"{_SFN}.asl.component.program.program.Program.start_at"),
            _f(f"{_SFN}.asl.component.eval_component.EvalComponent.eval", "self", "env"),
            _on(f"{_ENV}.next_state_name"),
        ),
    ),
    Patch(
        "simulation.moto.sfn._parsed_once",
        "speed",
        (_f(f"{_SFN}.asl.parse.asl_parser.AmazonStateLanguageParser.parse", "definition"),),
    ),
    Patch(
        "simulation.moto.sfn._json_paths_parsed_once",
        "speed",
        (
            _f(f"{_SFN}.asl.utils.json_path.parse"),
            _f(f"{_SFN}.asl.component.common.path.result_path.parse"),
        ),
    ),
    Patch(
        "simulation.moto.sfn._catch_noted",
        "aws rule",
        (
            _f(f"{_STATE}._handle_catch", "self", "env", "failure_event"),
            _f(f"{_SFN}.asl.component.common.catch.catch_outcome.CatchOutcome.Caught"),
        ),
    ),
    Patch(
        "simulation.moto.sfn._next_unless_caught",
        "aws rule",
        (_f(f"{_SFN}.asl.component.state.state.CommonStateField._set_next", "self", "env"),),
    ),
    Patch(
        "simulation.moto.sfn._reused_clients",
        "aws rule",
        (
            _f(
                f"{_SFN}.asl.component.state.exec.state_task.lambda_eval_utils.boto_client_for",
                *("region", "service", "state_credentials"),
            ),
            _on(f"{_WORKER}._evaluation_details"),
            _on(f"{_SFN}.asl.eval.evaluation_details.EvaluationDetails.aws_execution_details"),
            _on(f"{_SFN}.asl.eval.evaluation_details.AWSExecutionDetails.role_arn"),
        ),
    ),
    Patch(
        "simulation.moto.sfn._callback_wait",
        "clock",
        (
            _f(f"{_CALLBACK}.CallbackEndpoint.wait", "self", "timeout"),
            _on(f"{_CALLBACK}.CallbackEndpoint._notify_event"),
            _f(f"{_CALLBACK}.CallbackEndpoint.report", "self", "consumer_error"),
            _f(f"{_CALLBACK}.CallbackEndpoint.get_outcome", "self"),
            _f(f"{_CALLBACK}.CallbackConsumerTimeout"),
            _f(f"{_SFN}.asl.component.common.timeouts.timeout.EvalTimeoutError"),
        ),
    ),
    Patch(
        "simulation.moto.sfn._callback_notify",
        "clock",
        (_f(f"{_CALLBACK}.CallbackEndpoint.notify", "self", "outcome"),),
    ),
    Patch(
        "simulation.moto.sfn._callback_interrupt",
        "clock",
        (_f(f"{_CALLBACK}.CallbackEndpoint.interrupt_all", "self"),),
    ),
    Patch(
        "simulation.moto.sfn._timestamp_wait_seconds",
        "aws rule",
        (
            _f(f"{_TIMESTAMP}._get_wait_seconds", "self", "env"),
            _f(f"{_TIMESTAMP}._from_timestamp_string", "timestamp"),
            _on(f"{_TIMESTAMP}.string"),
        ),
    ),
    Patch(
        "simulation.moto.sfn._uncatchable_errors",
        "aws rule",
        (
            _f(f"{_ERRORS}.error_equals_decl.ErrorEqualsDecl._eval_body", "self", "env"),
            _on(f"{_ERRORS}.error_equals_decl.ErrorEqualsDecl.error_names"),
            _on(f"{_ERRORS}.states_error_name.StatesErrorName.typ"),
            _f(f"{_ERRORS}.states_error_name_type.StatesErrorNameType.StatesRuntime"),
            _f(
                f"{_ERRORS}.states_error_name_type.StatesErrorNameType"
                ".StatesStatesDataLimitExceeded"
            ),
        ),
    ),
    Patch(
        "simulation.moto.sfn.wait_for_execution",
        "reads",
        (_f("moto.stepfunctions.responses.get_backend", "account", "region"),),
    ),
    # --- What the operator command reads ----------------------------------------------------------
    Patch(
        "simulation.moto.history._paged_history",
        "aws rule",
        (
            _f("moto.stepfunctions.responses.StepFunctionResponse.get_execution_history", "self"),
            _f("moto.stepfunctions.responses.StepFunctionResponse.stepfunction_backend"),
            _f(f"{_SFN}.models.StepFunctionsParserBackend.get_execution_history", "self"),
            _f("moto.stepfunctions.exceptions.ValidationException"),
        ),
    ),
    Patch(
        "simulation.moto.recovery_points._list_recovery_points_by_resource",
        "aws rule",
        (
            _new("moto.backup.responses.BackupResponse.list_recovery_points_by_resource"),
            _f("moto.backup.urls.url_paths"),
            _f("moto.backup.responses.BackupResponse.dispatch"),
            _f("moto.backup.exceptions.InvalidParameterValueException"),
            _f("moto.rds.models.rds_backends"),
            _on(f"{_SNAPSHOT}.snapshot_type"),
            _on(f"{_SNAPSHOT}.db_instance_identifier"),
            _on(f"{_SNAPSHOT}.allocated_storage"),
            _on(f"{_SNAPSHOT}.kms_key_id"),
            _f(f"{_SNAPSHOT}.snapshot_create_time"),
            _on(f"{_CLUSTER_SNAPSHOT}.db_cluster_snapshot_identifier"),
            _on(f"{_CLUSTER_SNAPSHOT}.cluster"),
            _f("moto.rds.models.DBCluster.db_cluster_identifier"),
            _f(f"{_CLUSTER_SNAPSHOT}.snapshot_create_time"),
        ),
    ),
    # --- moto's core ----------------------------------------------------------------------------
    Patch("simulation.moto.core._one_request_at_a_time", "aws rule", (_STUBBER,)),
    Patch(
        "simulation.moto.core._json_templates_read_as_json",
        "speed",
        (_f("moto.cloudformation.models.Stack.parse_template", "template"),),
    ),
    Patch(
        "simulation.moto.core._one_loader",
        "speed",
        (_f("botocore.session.create_loader", "search_path_string"),),
    ),
    Patch(
        "simulation.moto.core._aliases_once",
        "speed",
        (
            _f("botocore.hooks.EventAliaser.__init__", "self", "event_emitter", "event_aliases"),
            _on("botocore.hooks.EventAliaser._alias_name_cache"),
            _on("botocore.hooks.EventAliaser._event_aliases"),
            _f("botocore.hooks.EVENT_ALIASES"),
        ),
    ),
    Patch(
        "simulation.moto.core._kwargs_checked_once",
        "speed",
        (_f("botocore.hooks.accepts_kwargs", "func"), _f("botocore.compat.accepts_kwargs", "func")),
    ),
    Patch(
        "simulation.moto.core._attribute_keys_once",
        "speed",
        (
            _f("moto.core.serialize.AttributePicker.__call__", "self", "context"),
            _f("moto.core.serialize.AttributePicker.get_possible_keys", "self", "context"),
            _on("moto.core.serialize.AttributePicker.alias_providers"),
            _on("moto.core.serialize.AttributePicker.response_transformers"),
            _f("moto.core.serialize.AttributePickerContext"),
            _f("moto.core.serialize.get_value"),
            _f("moto.core.constants.MISSING"),
        ),
    ),
    Patch(
        "simulation.moto.core._handler_names_once",
        "speed",
        (
            _f("moto.core.responses.method_names_from_class", "clazz"),
            _f(f"{_RESPONSE}.call_action", "self"),
        ),
    ),
    # --- KMS ------------------------------------------------------------------------------------
    Patch(
        "simulation.moto.kms._private_key_on_first_use",
        "speed",
        (
            _f("moto.kms.models.generate_private_key", "key_spec"),
            _on("moto.kms.models.Key.private_key"),
        ),
    ),
    # --- RDS ------------------------------------------------------------------------------------
    Patch(
        "simulation.moto.rds._get_snapshot_patch",
        "aws rule",
        (
            _f(
                f"{_RDS}.get_snapshot", "self", "identifier", "resource_type", "not_found_exception"
            ),
            _on(f"{_RDS}.resource_map"),
            _f("moto.rds.utils.split_arn", "arn"),
            _on(f"{_SNAPSHOT}.attributes"),
        ),
    ),
    Patch(
        "simulation.moto.rds._validate_kms_key_patch",
        "aws rule",
        (
            _f(f"{_RDS}._validate_kms_key", "self", "kms_key_id"),
            _on("moto.kms.models.Key.enabled"),
            _on("moto.kms.models.Key.key_state"),
            _on("moto.kms.models.Key.policy"),
            _f("moto.rds.exceptions.KMSKeyNotAccessibleFault"),
        ),
    ),
    Patch(
        "simulation.moto.rds._describe_by_type",
        "aws rule",
        (
            _f(
                f"{_RDS}.describe_db_snapshots",
                *("self", "db_instance_identifier", "db_snapshot_identifier"),
                *("snapshot_type", "filters"),
            ),
            _f(
                f"{_RDS}.describe_db_cluster_snapshots",
                *("self", "db_cluster_identifier", "db_snapshot_identifier"),
                *("snapshot_type", "filters"),
            ),
            _f("moto.rds.exceptions.DBClusterSnapshotNotFoundError"),
        ),
    ),
    Patch(
        "simulation.moto.rds._options_with_flags",
        "aws rule",
        (_f("moto.rds.models.OptionGroup.options"), _on("moto.rds.models.OptionGroup.engine_name")),
    ),
    Patch(
        "simulation.moto.rds._snapshot_option_group",
        "aws rule",
        (
            _new(f"{_SNAPSHOT}.option_group_name"),
            _on(f"{_SNAPSHOT}.database"),
            _on("moto.rds.models.DBInstance.option_group_name"),
        ),
    ),
    Patch(
        "simulation.moto.rds._refuse_unshareable",
        "aws rule",
        (
            _f(
                f"{_RDS}.modify_db_snapshot_attribute",
                *("self", "db_snapshot_identifier", "attribute_name", "values_to_add"),
            ),
            _on(f"{_RDS}.option_groups"),
            _on(f"{_RDS}.database_snapshots"),
            _on(f"{_SNAPSHOT}.db_snapshot_identifier"),
            _f("moto.rds.exceptions.RDSClientError"),
        ),
    ),
    Patch(
        "simulation.moto.rds._refuse_key_for_unencrypted_cluster",
        "aws rule",
        (
            _f(f"{_RDS}.copy_db_cluster_snapshot", *_COPY_CLUSTER),
            _f(f"{_RDS}.get_db_cluster_snapshot", "self", "identifier"),
            _on(f"{_CLUSTER_SNAPSHOT}.encrypted"),
        ),
    ),
    Patch(
        "simulation.moto.rds._recording_the_source",
        "aws rule",
        (
            _f(f"{_RDS}.copy_db_snapshot", *_COPY_DB),
            _f(f"{_RDS}.copy_db_cluster_snapshot", *_COPY_CLUSTER),
            _on(f"{_RDS}.account_id"),
            _on(f"{_RDS}.region_name"),
        ),
    ),
    Patch(
        "simulation.moto.stacksets._service_managed_refuses_macros",
        "aws rule",
        (
            _f(
                "moto.cloudformation.models.CloudFormationBackend.create_stack_set",
                "self",
                "name",
                "template",
                "parameters",
                "tags",
                "permission_model",
            ),
            _f("moto.cloudformation.exceptions.ValidationError"),
        ),
    ),
    Patch(
        "simulation.moto.rds._checked_tags", "aws rule", (_f("moto.rds.models.TaggingMixin.tags"),)
    ),
    Patch(
        "simulation.moto.rds_encryption._encrypted_copy_rules",
        "aws rule",
        (
            _f(f"{_RDS}.copy_db_snapshot", *_COPY_DB),
            _f(f"{_RDS}.copy_db_cluster_snapshot", *_COPY_CLUSTER),
            _f(f"{_RDS}.get_db_snapshot", "self", "identifier"),
            _f(f"{_RDS}.get_db_cluster_snapshot", "self", "identifier"),
            _on("moto.rds.models.RDSBaseModel.backend"),
            _f("moto.rds.models.RDSBaseModel.arn"),
            _on(f"{_RDS}.account_id"),
            _on(f"{_RDS}.region_name"),
            _on(f"{_SNAPSHOT}.encrypted"),
            _on(f"{_SNAPSHOT}.kms_key_id"),
            _on(f"{_CLUSTER_SNAPSHOT}.encrypted"),
            _on(f"{_CLUSTER_SNAPSHOT}.kms_key_id"),
            _f("moto.kms.models.kms_backends"),
            _on("moto.kms.models.KmsBackend.keys"),
            _on("moto.kms.models.Key.aliases"),
            _on("moto.kms.models.Key.arn"),
            _f("moto.kms.utils.RESERVED_ALIASE_TARGET_KEY_IDS"),
            _f("moto.rds.exceptions.RDSClientError"),
        ),
    ),
    Patch(
        "simulation.moto.rds_copies.CopyProgress",
        "clock",
        (
            _f(f"{_RDS}.copy_db_snapshot", *_COPY_DB),
            _f(f"{_RDS}.copy_db_cluster_snapshot", *_COPY_CLUSTER),
            _on(f"{_SNAPSHOT}.status"),
            _on(f"{_SNAPSHOT}.allocated_storage"),
            _on(f"{_CLUSTER_SNAPSHOT}.status"),
            _on(f"{_CLUSTER_SNAPSHOT}.percent_progress"),
        ),
    ),
    Patch(
        "simulation.moto.rds_copies._limited_copy",
        "aws rule",
        (
            _f(f"{_RDS}.copy_db_snapshot", *_COPY_DB),
            _f(f"{_RDS}.copy_db_cluster_snapshot", *_COPY_CLUSTER),
            _on(f"{_RDS}.database_snapshots"),
            _on(f"{_RDS}.cluster_snapshots"),
            _on(f"{_SNAPSHOT}.snapshot_type"),
            _on(f"{_CLUSTER_SNAPSHOT}.snapshot_type"),
        ),
    ),
    Patch(
        "simulation.moto.rds_copies._limited_create",
        "aws rule",
        (
            _f(
                f"{_RDS}.create_db_snapshot",
                *("self", "db_instance_identifier", "db_snapshot_identifier", "snapshot_type"),
            ),
            _f(
                f"{_RDS}.create_db_cluster_snapshot",
                *("self", "db_cluster_identifier", "db_cluster_snapshot_identifier"),
                "snapshot_type",
            ),
        ),
    ),
    Patch(
        "simulation.moto.rds_copies._describe_account_attributes",
        "aws rule",
        (
            _new("moto.rds.responses.RDSResponse.describe_account_attributes"),
            _f("moto.rds.responses.RDSResponse.backend"),
            _f("moto.core.responses.ActionResult"),
        ),
    ),
    # --- AWS Backup -----------------------------------------------------------------------------
    Patch(
        "simulation.moto.backup._list_protected_resources",
        "aws rule",
        (
            _f("moto.backup.urls.url_paths"),
            _f("moto.backup.responses.BackupResponse.dispatch"),
            _new("moto.backup.responses.BackupResponse.list_protected_resources"),
            _on(f"{_RESPONSE}.querystring"),
            _on(f"{_RESPONSE}.current_account"),
            _on(f"{_RESPONSE}.region"),
            _f("moto.rds.models.rds_backends"),
            _on(f"{_RDS}.database_snapshots"),
            _on(f"{_RDS}.cluster_snapshots"),
            _on(f"{_SNAPSHOT}.snapshot_type"),
            _on(f"{_SNAPSHOT}.database"),
            _on(f"{_SNAPSHOT}.status"),
            _on(f"{_CLUSTER_SNAPSHOT}.cluster"),
            _on(f"{_CLUSTER_SNAPSHOT}.status"),
            _on("moto.rds.models.RDSBaseModel.created"),
            _on("moto.rds.models.DBInstance.db_instance_identifier"),
            _on("moto.rds.models.DBCluster.db_cluster_identifier"),
            _f("moto.rds.models.DBInstance.arn"),
            _f("moto.rds.models.DBCluster.arn"),
            _f("moto.rds.models.DBClusterSnapshot.db_cluster_snapshot_identifier"),
        ),
    ),
    # --- DynamoDB -------------------------------------------------------------------------------
    Patch(
        "simulation.moto.dynamodb._rollback_of_named_items",
        "speed",
        (
            _f(f"{_DYNAMODB}.transact_write_items", "self", "transact_items"),
            _on(f"{_DYNAMODB}.tables"),
            _new(f"{_TABLE}.__deepcopy__"),
            _on(f"{_TABLE}.name"),
            _on(f"{_TABLE}.items"),
            _on(f"{_TABLE}.stream_shard"),
            _on(f"{_TABLE}.hash_key_attr"),
            _on(f"{_TABLE}.range_key_attr"),
            _f("moto.dynamodb.models.dynamo_type.DynamoType"),
        ),
    ),
    Patch(
        "simulation.moto.dynamodb._strings_as_themselves",
        "speed",
        (
            _f("moto.dynamodb.models.dynamo_type.DynamoType.cast_value"),
            _on("moto.dynamodb.models.dynamo_type.DynamoType.type"),
            _on("moto.dynamodb.models.dynamo_type.DynamoType.value"),
        ),
    ),
    Patch(
        "simulation.moto.dynamodb._query_of_the_partition",
        "speed",
        (
            _f(
                f"{_TABLE}.query",
                *("self", "hash_key", "range_comparison", "range_objs", "limit"),
                *("exclusive_start_key", "scan_index_forward", "projection_expressions"),
                *("index_name", "consistent_read", "filter_expression", "hash_key_conditions"),
                *("range_key_conditions", "filter_kwargs"),
            ),
            _f(f"{_TABLE}.all_items", "self"),
            _on(f"{_TABLE}.items"),
            _on(f"{_TABLE}.range_key_attr"),
            _on(f"{_TABLE}.range_key_type"),
            _f("moto.dynamodb.models.table.RESULT_SIZE_LIMIT"),
            _f("moto.dynamodb.models.dynamo_type.Item.size", "self"),
            _on("moto.dynamodb.models.dynamo_type.Item.range_key"),
        ),
    ),
    # --- Memory ---------------------------------------------------------------------------------
    Patch(
        "simulation.moto.memory._untracked_models",
        "memory",
        (
            _f("moto.core.common_models.BaseModel.__new__", "cls"),
            _f("moto.core.base_backend.InstanceTrackerMeta"),
        ),
    ),
    Patch(
        "simulation.moto.memory._histories_forgotten",
        "memory",
        (
            _f(f"{_SFN}.backend.execution.BaseExecutionWorkerCommunication.terminated", "self"),
            _on(f"{_SFN}.backend.execution.BaseExecutionWorkerCommunication.execution"),
            _on(f"{_SFN}.backend.execution.Execution.exec_worker"),
            _on(f"{_SFN}.backend.execution.Execution.exec_arn"),
            _on(f"{_WORKER}.env"),
            _on(f"{_ENV}.event_manager"),
            _on(f"{_SFN}.asl.eval.event.event_manager.EventManager._history_event_list"),
            _f(f"{_SFN}.asl.eval.event.event_manager.EventManager.get_event_history", "self"),
        ),
    ),
    # --- EventBridge ----------------------------------------------------------------------------
    Patch(
        "simulation.moto.eventbridge.event_matches",
        "reads",
        (
            _f("moto.events.models.EventPattern.matches_event", "self", "event"),
            _f("moto.events.models.EventPatternParser.parse", "self"),
        ),
    ),
    # --- CloudWatch: metrics and alarms --------------------------------------------------------
    Patch(
        "simulation.moto.emf.invocation",
        "metrics",
        (_f(f"{_CLOUDWATCH}.put_metric_data", "self", "namespace", "metric_data"),),
    ),
    Patch(
        "simulation.moto.emf._PerInvocation",
        "aws rule",
        (
            _f(f"{_POWERTOOLS}.metrics.Metrics._metrics"),
            _f(f"{_POWERTOOLS}.metrics.Metrics._dimensions"),
            _f(f"{_POWERTOOLS}.metrics.Metrics._metadata"),
            _on(f"{_POWERTOOLS}.metrics.Metrics.metric_set"),
            _on(f"{_POWERTOOLS}.metrics.Metrics.dimension_set"),
            _on(f"{_POWERTOOLS}.metrics.Metrics.metadata_set"),
            _on(f"{_EMF_PROVIDER}.metric_set"),
            _on(f"{_EMF_PROVIDER}.dimension_set"),
            _on(f"{_EMF_PROVIDER}.metadata_set"),
        ),
    ),
    Patch(
        "simulation.moto.cloudwatch._execution_started",
        "aws rule",
        (
            _f(f"{_SFN}.backend.execution.Execution.start", "self"),
            _on(f"{_SFN}.backend.execution.Execution.state_machine_arn"),
            _on(f"{_SFN}.backend.execution.Execution.account_id"),
            _on(f"{_SFN}.backend.execution.Execution.region_name"),
        ),
    ),
    Patch(
        "simulation.moto.cloudwatch._execution_ended",
        "aws rule",
        (
            _f(
                f"{_SFN}.backend.execution.BaseExecutionWorkerCommunication"
                "._reflect_execution_status",
                "self",
            ),
            _on(f"{_SFN}.backend.execution.BaseExecutionWorkerCommunication.execution"),
            _on(f"{_SFN}.backend.execution.Execution.exec_worker"),
            _on(f"{_SFN}.backend.execution.Execution.exec_arn"),
            _on(f"{_SFN}.backend.execution.Execution.start_date"),
            _on(f"{_WORKER}.env"),
            _f(f"{_ENV}.program_state", "self"),
            _f(f"{_SFN}.asl.eval.program_state.ProgramEnded"),
            _f(f"{_SFN}.asl.eval.program_state.ProgramStopped"),
            _f(f"{_SFN}.asl.eval.program_state.ProgramError"),
            _f(f"{_SFN}.asl.eval.program_state.ProgramTimedOut"),
        ),
    ),
    Patch(
        "simulation.moto.cloudwatch.SqsSampler",
        "metrics",
        (
            _on("moto.sqs.models.SQSBackend.queues"),
            _on("moto.sqs.models.Queue.name"),
            _on("moto.sqs.models.Queue._messages"),
            _on("moto.sqs.models.Queue.created_timestamp"),
            _f("moto.sqs.models.Queue.approximate_number_of_messages"),
        ),
    ),
    Patch(
        "simulation.moto.cloudwatch_alarms._alarms_in_stacks",
        "aws rule",
        (
            _f("moto.cloudformation.parsing.get_model_map"),
            _f("moto.cloudformation.parsing.get_name_type_map"),
            _new("moto.cloudwatch.models.Alarm.cloudformation_type"),
            _f(
                f"{_CLOUDWATCH}.put_metric_alarm",
                *("self", "name", "namespace", "metric_name", "comparison_operator"),
                *("evaluation_periods", "period", "threshold", "statistic", "description"),
                *("dimensions", "alarm_actions", "metric_data_queries", "datapoints_to_alarm"),
            ),
            _f(f"{_CLOUDWATCH}.delete_alarms", "self", "alarm_names"),
            _f("moto.cloudwatch.models.MetricDataQuery.__init__", "self", "query_id", "label"),
            _f("moto.cloudwatch.models.MetricStat.__init__", "self", "metric", "period", "stat"),
            _f("moto.cloudwatch.models.Metric.__init__", "self", "metric_name", "namespace"),
            _on("moto.cloudwatch.models.Alarm.alarm_arn"),
        ),
    ),
    Patch(
        "simulation.moto.cloudwatch_alarms._born_insufficient",
        "aws rule",
        (
            _f(f"{_CLOUDWATCH}.put_metric_alarm", "self", "name"),
            _on(f"{_CLOUDWATCH}.alarms"),
            _on("moto.cloudwatch.models.Alarm.state_value"),
            _on("moto.cloudwatch.models.Alarm.state_reason"),
            _on("moto.cloudwatch.models.Alarm.state_reason_data"),
            _on("moto.cloudwatch.models.Alarm.state_updated_timestamp"),
            _on("moto.cloudwatch.models.Alarm.history"),
            _on("moto.cloudwatch.models.Alarm.period"),
            _on("moto.cloudwatch.models.Alarm.evaluation_periods"),
            _on("moto.cloudwatch.models.Alarm.metric_data_queries"),
            _on("moto.cloudwatch.models.MetricDataQuery.metric_stat"),
            _on("moto.cloudwatch.models.MetricStat.period"),
            _f("moto.cloudwatch.exceptions.ValidationError"),
        ),
    ),
    Patch(
        "simulation.alarms.AlarmWatch",
        "reads",
        (
            _on(f"{_CLOUDWATCH}.metric_data"),
            _on("moto.cloudwatch.models.MetricDatumBase.namespace"),
            _on("moto.cloudwatch.models.MetricDatumBase.name"),
            _on("moto.cloudwatch.models.MetricDatumBase.dimensions"),
            _on("moto.cloudwatch.models.MetricDatumBase.timestamp"),
            _on("moto.cloudwatch.models.MetricDatumBase.unit"),
            _on("moto.cloudwatch.models.MetricDatum.value"),
            _on("moto.cloudwatch.models.MetricAggregatedDatum.sample_count"),
            _on("moto.cloudwatch.models.MetricAggregatedDatum.sum"),
            _on("moto.cloudwatch.models.MetricAggregatedDatum.min"),
            _on("moto.cloudwatch.models.MetricAggregatedDatum.max"),
            _on("moto.cloudwatch.models.Alarm.metric_data_queries"),
            _on("moto.cloudwatch.models.Alarm.treat_missing_data"),
            _on("moto.cloudwatch.models.Alarm.actions_enabled"),
            _on("moto.cloudwatch.models.Alarm.alarm_actions"),
            _on("moto.cloudwatch.models.Alarm.ok_actions"),
            _on("moto.cloudwatch.models.Alarm.insufficient_data_actions"),
            _f(
                f"{_CLOUDWATCH}.set_alarm_state",
                *("self", "alarm_name", "reason", "reason_data", "state_value"),
            ),
            _on("moto.sns.models.SNSBackend.topics"),
            _f("moto.sns.models.Topic.publish", "self", "message", "subject"),
        ),
    ),
    # --- IAM: the templates' permissions enforced -----------------------------------------------
    Patch(
        "simulation.iam.enforcement._authorize_patch",
        "aws rule",
        (
            _f(
                "moto.core.authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action",
                *("self", "iam_request_cls", "resource"),
            ),
            _f("moto.core.authorization.enable_iam_authentication"),
            _f(
                "moto.iam.access_control.IAMRequest.__init__",
                *("self", "account_id", "method", "path", "data", "body", "headers", "action"),
            ),
            _f("moto.iam.access_control.IAMRequest.check_signature", "self"),
            _f(f"{_RESPONSE}._get_action", "self"),
            _on(f"{_RESPONSE}.current_account"),
            _on(f"{_RESPONSE}.raw_path"),
            _on(f"{_RESPONSE}.uri"),
            _on(f"{_RESPONSE}.raw_body"),
            _f("moto.core.exceptions.AccessDeniedError.__init__", "self", "user_arn", "action"),
            _f(f"{_RDS}._find_resource", "self", "resource_type", "resource_name"),
        ),
    ),
    # --- Fault modes and counters ----------------------------------------------------------------
    Patch("simulation.faults.AwsFaults", "fault mode", (_STUBBER,)),
    Patch("simulation.contention.DynamoDbContention", "fault mode", (_STUBBER,)),
    Patch("simulation.bench._counting", "counter", (_STUBBER,)),
    Patch(
        "simulation.window.run_window",
        "counter",
        (
            _f(f"{_RDS}.describe_db_snapshots"),
            _f(f"{_RDS}.describe_db_cluster_snapshots"),
            _on(f"{_RDS}.database_snapshots"),
            _on(f"{_SNAPSHOT}.db_snapshot_identifier"),
            _on(f"{_TABLE}.items"),
            _f("moto.dynamodb.models.dynamo_type.DynamoType"),
        ),
    ),
)

__all__ = ["PATCHES", "Api", "Patch", "Role"]
