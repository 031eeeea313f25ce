"""Reading `template.yaml` the way CloudFormation would, for the simulation and the tests.

The end-to-end tests and `make demo` take the functions (handler, environment), the state
machine (ASL file + DefinitionSubstitutions) and the event rules from the template itself, so
the template is what is tested, not a second hand-written copy of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulation.cfn_yaml import load_cfn_yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
BACKUP_TEMPLATE = ROOT / "other" / "backup-account" / "backup-account.yaml"

NO_VALUE = object()

PARTITIONS: dict[str, tuple[str, str]] = {
    "aws": ("eu-west-1", "amazonaws.com"),
    "aws-cn": ("cn-north-1", "amazonaws.com.cn"),
    "aws-us-gov": ("us-gov-west-1", "amazonaws.com"),
}
"""Each partition the app deploys in: a region of it and its `AWS::URLSuffix` (CloudFormation
User Guide, "Pseudo parameters reference": the suffix "is typically amazonaws.com, but might
differ by Region. For example, the suffix for the China (Beijing) Region is amazonaws.com.cn")."""


def partition_of(region: str) -> str:
    """The partition of a region (`AWS::Partition`): aws-cn for cn-*, aws-us-gov for us-gov-*."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class Resolver:
    """Evaluates intrinsic functions against parameters, conditions and resource values."""

    def __init__(
        self,
        template: dict[str, Any],
        parameters: dict[str, str],
        *,
        account: str,
        region: str,
        refs: dict[str, str] | None = None,
        attributes: Callable[[str, str], str] | None = None,
    ) -> None:
        self.template = template
        self.values: dict[str, Any] = {
            name: str(spec.get("Default", "")) if "Default" in spec else None
            for name, spec in template.get("Parameters", {}).items()
        }
        self.values.update(parameters)
        missing = [name for name, value in self.values.items() if value is None]
        if missing:
            raise ValueError(f"Parameters without a value: {missing}")
        self.partition = partition_of(region)
        self.values.update(
            {
                "AWS::AccountId": account,
                "AWS::Region": region,
                "AWS::Partition": self.partition,
                "AWS::StackName": "rds-xacct",
                "AWS::URLSuffix": PARTITIONS[self.partition][1],
            }
        )
        self.refs = refs if refs is not None else {}
        self.attributes = attributes
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.values:
            spec = self.template.get("Parameters", {}).get(name, {})
            if spec.get("Type") == "CommaDelimitedList" and isinstance(self.values[name], str):
                # Ref of a CommaDelimitedList is its list (CloudFormation User Guide, Parameters)
                return self.values[name].split(",")
            return self.values[name]
        if name in self.refs:
            return self.refs[name]
        resource = self.template.get("Resources", {}).get(name, {})
        if resource.get("Type") == "AWS::DynamoDB::Table" and "TableName" in resource.get(
            "Properties", {}
        ):
            # Ref of a table is its name (CloudFormation, AWS::DynamoDB::Table, "Return values")
            return self.resolve(resource["Properties"]["TableName"])
        raise KeyError(f"Ref {name}: no parameter or known resource of that name")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if self.attributes is None:
            raise KeyError(f"GetAtt {logical_id}.{attribute}: no attribute resolver")
        return self.attributes(logical_id, attribute)

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
        local = {k: self.resolve(v) for k, v in variables.items()}
        out, i = [], 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            out.append(text[i:start])
            end = text.index("}", start)
            name = text[start + 2 : end]
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in local:
                out.append(str(local[name]))
            elif "." in name:
                logical_id, attribute = name.split(".", 1)
                out.append(self.get_att(logical_id, attribute))
            else:
                out.append(str(self.ref(name)))
            i = end + 1
        return "".join(out)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::GetAtt":
                logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::If":
                name, when_true, when_false = value
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(value[0])
            if key == "Fn::Or":
                return any(self.resolve(v) for v in value)
            if key == "Fn::And":
                return all(self.resolve(v) for v in value)
            if key == "Condition":
                return self.condition(value)
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = value
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Join":
                separator, items = value
                return separator.join(str(i) for i in self.resolve(items))
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    handler: str
    """`module.function`, relative to the function's CodeUri (functions/)."""
    environment: dict[str, str]
    timeout: int
    memory: int


@dataclass
class App:
    """The parts of template.yaml the simulation runs."""

    template: dict[str, Any]
    resolver: Resolver
    functions: dict[str, FunctionSpec]
    state_machine_name: str
    definition: dict[str, Any]
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Enabled rules that start the state machine: logical id → event pattern."""
    stopped_run_pattern: dict[str, Any] = field(default_factory=dict)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return load_cfn_yaml(path)


def function_names(template: dict[str, Any], resolver: Resolver) -> dict[str, str]:
    """Each AWS::Serverless::Function's logical id → its FunctionName, resolved."""
    return {
        logical_id: str(resolver.resolve(resource["Properties"]["FunctionName"]))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def function_specs(
    template: dict[str, Any], resolver: Resolver, names: dict[str, str]
) -> dict[str, FunctionSpec]:
    """Handler, environment, timeout and memory of each function, Globals applied."""
    resources = template["Resources"]
    globals_ = template.get("Globals", {}).get("Function", {})
    functions: dict[str, FunctionSpec] = {}
    for logical_id, name in names.items():
        properties = {**globals_, **resources[logical_id]["Properties"]}
        variables = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **properties.get("Environment", {}).get("Variables", {}),
        }
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=name,
            handler=str(properties["Handler"]),
            environment={k: str(v) for k, v in resolver.resolve(variables).items()},
            timeout=int(properties.get("Timeout", 3)),
            memory=int(properties.get("MemorySize", 128)),
        )
    return functions


def without_serverless(template: dict[str, Any]) -> dict[str, Any]:
    """The template as plain CloudFormation for moto (which runs no SAM transform): its
    AWS::Serverless::Function resources left out (the simulation makes and routes them itself),
    `Fn::GetAtt F.Arn` of each turned into the ARN Lambda gives it and `Ref F` into its name
    (an alarm's `FunctionName` dimension: CloudFormation User Guide, AWS::Lambda::Function,
    "Ref returns the resource name"), in a `Fn::Sub` as well."""
    resources = template["Resources"]
    functions = {
        k: r["Properties"]["FunctionName"]
        for k, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
    }

    def arn(name: Any) -> dict[str, Any]:
        prefix = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
        return {"Fn::Join": ["", [{"Fn::Sub": prefix}, name]]}

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1 and "Fn::GetAtt" in node:
            value = node["Fn::GetAtt"]
            logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
            if logical_id in functions and attribute == "Arn":
                return arn(functions[logical_id])
        if len(node) == 1 and node.get("Ref") in functions:
            name: Any = functions[node["Ref"]]
            return name
        if len(node) == 1 and "Fn::Sub" in node:
            return substituted(node["Fn::Sub"])
        return {k: rewrite(v) for k, v in node.items()}

    def substituted(value: Any) -> dict[str, Any]:
        # `${F}` and `${F.Arn}` of a function in a Fn::Sub (an alarm's description names it):
        # given as variables of the Sub, its name and its ARN
        text, variables = (value, {}) if isinstance(value, str) else (value[0], dict(value[1]))
        given = {k: rewrite(v) for k, v in variables.items()}
        for logical_id, attribute in set(re.findall(r"\$\{([A-Za-z0-9]+)(\.Arn)?\}", text)):
            if logical_id not in functions or logical_id + attribute in variables:
                continue
            if attribute:
                text = text.replace("${" + logical_id + ".Arn}", "${" + logical_id + "Arn}")
                given[logical_id + "Arn"] = arn(functions[logical_id])
            else:
                given[logical_id] = functions[logical_id]
        return {"Fn::Sub": [text, given] if given else text}

    # A function URL of such a function is made with it (moto's CloudFormation makes none), and
    # so is the output that reads it: `Simulation._deploy_keeper`
    urls = {
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::Lambda::Url"
        and _refers_to(r["Properties"].get("TargetFunctionArn"), functions)
    }
    plain = {k: v for k, v in template.items() if k not in ("Transform", "Globals")}
    plain["Resources"] = {
        k: rewrite(r)
        for k, r in resources.items()
        if r["Type"] != "AWS::Serverless::Function" and k not in urls
    }
    plain["Outputs"] = {
        k: rewrite(o)
        for k, o in template.get("Outputs", {}).items()
        if not _refers_to(o.get("Value"), urls)
    }
    return plain


def _refers_to(node: Any, logical_ids: Mapping[str, Any] | set[str]) -> bool:
    """Does `node` (`Fn::GetAtt` or `Ref`) name one of `logical_ids`?"""
    if not isinstance(node, dict) or len(node) != 1:
        return False
    ((key, value),) = node.items()
    if key == "Fn::GetAtt":
        name = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
        return name in logical_ids
    return key == "Ref" and value in logical_ids


def state_machine_resource(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::StateMachine":
            return logical_id, resource
    raise KeyError("template.yaml has no AWS::Serverless::StateMachine")


def load_app(
    parameters: dict[str, str],
    *,
    account: str,
    region: str,
    refs: dict[str, str],
    path: Path = TEMPLATE,
) -> App:
    """Functions, state machine and rules of the template, with every intrinsic resolved.

    `refs` gives the value of `Ref` for resources the caller created (the SNS topic, ...);
    functions are named by their FunctionName and their `Arn` is the Lambda ARN in the account.
    """
    template = load_template(path)
    resolver = Resolver(template, parameters, account=account, region=region, refs=refs)
    resources = template["Resources"]
    names = function_names(template, resolver)
    sm_id, sm = state_machine_resource(template)
    sm_name = str(resolver.resolve(sm["Properties"]["Name"]))
    partition = resolver.partition
    sm_arn = f"arn:{partition}:states:{region}:{account}:stateMachine:{sm_name}"

    def attributes(logical_id: str, attribute: str) -> str:
        if logical_id in names and attribute == "Arn":
            return f"arn:{partition}:lambda:{region}:{account}:function:{names[logical_id]}"
        raise KeyError(f"GetAtt {logical_id}.{attribute} is not simulated")

    resolver.attributes = attributes
    resolver.refs.update(names)
    resolver.refs[sm_id] = sm_arn

    functions = function_specs(template, resolver, names)

    text = (path.parent / sm["Properties"]["DefinitionUri"]).read_text()
    substitutions = resolver.resolve(sm["Properties"].get("DefinitionSubstitutions", {}))
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", str(value))
    definition = json.loads(text)

    rules: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        properties = resource["Properties"]
        if any(resolver.resolve(t["Arn"]) == sm_arn for t in properties.get("Targets", [])):
            rules[logical_id] = resolver.resolve(properties["EventPattern"])

    stopped: dict[str, Any] = {}
    for spec in resources.values():
        for event in spec.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "EventBridgeRule":
                stopped = resolver.resolve(event["Properties"]["Pattern"])

    return App(
        template=template,
        resolver=resolver,
        functions=functions,
        state_machine_name=sm_name,
        definition=definition,
        rules=rules,
        stopped_run_pattern=stopped,
    )
