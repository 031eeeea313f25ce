"""The keeper's functions ship only what they import: `sam build` of the backup-account template
runs functions/Makefile's target for each (`BuildMethod: makefile`), which copies keeper.py and
the rds_xacct modules it imports (rds_xacct.keeper.bundle), never the main account's pipeline."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rds_xacct.keeper import bundle
from rds_xacct.model.metrics import KEEPER_REFUSED_REQUESTS
from simulation.cfn_yaml import load_cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
BACKUP_TEMPLATE = ROOT / "other" / "backup-account" / "backup-account.yaml"
FUNCTIONS = ROOT / "functions"
KEEPER_FUNCTIONS = ("KeeperFunction", "KeeperPassFunction")
MAIN_ACCOUNT_ONLY = ("pipeline", "admission", "messages", "jobs")
SAM = ROOT / ".sam-venv" / "bin" / "sam"


def _make(target: str, artifacts: Path) -> list[Path]:
    """Run functions/Makefile's target as `sam build` does; the files it puts in `artifacts`."""
    arguments = [f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"]
    subprocess.run(  # noqa: S603 - make, on our own Makefile
        ["make", "--no-print-directory", "-C", str(FUNCTIONS), target, *arguments],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return _files(artifacts)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("keeper-bundle")
    _make("build-KeeperFunction", artifacts)
    return artifacts


def _files(artifacts: Path) -> list[Path]:
    return sorted(p.relative_to(artifacts) for p in artifacts.rglob("*") if p.is_file())


def _imported(source: Path) -> set[str]:
    """Every rds_xacct module a file imports, at any depth (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] == "rds_xacct"}


def test_each_keeper_function_is_built_by_the_makefile_at_its_code_uri() -> None:
    # Given the backup-account template
    resources = load_cfn_yaml(BACKUP_TEMPLATE)["Resources"]
    for logical_id in KEEPER_FUNCTIONS:
        resource = resources[logical_id]
        # When / Then it is built with a makefile, the one at its CodeUri (SAM's rule: "The
        # location of the makefile is specified by the CodeUri property")
        assert resource["Metadata"] == {"BuildMethod": "makefile"}
        code = (BACKUP_TEMPLATE.parent / resource["Properties"]["CodeUri"]).resolve()
        assert code == FUNCTIONS.resolve()
        # And that Makefile has the function's target, build-<logical id>
        assert f"build-{logical_id}" in (code / "Makefile").read_text()
    # And no function of the main stack is
    main = load_cfn_yaml(ROOT / "template.yaml")["Resources"]
    assert not [k for k, r in main.items() if "BuildMethod" in r.get("Metadata", {})]


def test_the_bundle_holds_the_handler_and_only_model_aws_and_keeper_modules(built: Path) -> None:
    # When the keeper's function is built
    files = _files(built)
    # Then it holds the handler and its package, and nothing but Python sources
    assert Path("keeper.py") in files
    assert {f.suffix for f in files} == {".py"}
    keeper_modules = {
        "__init__",
        "rules",
        "settings",
        "ledger",
        "requests",
        "hourly",
        "freshness",
        "url",
    }
    assert {f.stem for f in files if f.parent == Path("rds_xacct/keeper")} == keeper_modules
    # And every other file is a module of rds_xacct.model or rds_xacct.aws (or a package's
    # __init__), never of the main account's pipeline, admission, messages or jobs
    for file in files:
        if file != Path("keeper.py"):
            assert file.parts[0] == "rds_xacct", file
            assert file.parts[1] in ("__init__.py", "model", "aws", "keeper"), file
        assert not set(file.parts) & set(MAIN_ACCOUNT_ONLY), file
    # And no other handler, no AWS-layer module the keeper doesn't import (observability pulls
    # Powertools), and the build tool itself stays behind
    assert [f for f in files if len(f.parts) == 1] == [Path("keeper.py")]
    assert Path("rds_xacct/aws/observability.py") not in files
    # And its metrics' writer is the standard library's (EMF lines), with the freshness rules
    assert Path("rds_xacct/aws/emf.py") in files
    assert Path("rds_xacct/model/freshness.py") in files
    assert Path("rds_xacct/keeper/bundle.py") not in files
    # And it is a fraction of functions/
    shipped = sum((built / f).stat().st_size for f in files)
    everything = sum(p.stat().st_size for p in FUNCTIONS.rglob("*.py"))
    assert shipped < everything / 2


def test_every_import_in_the_bundle_is_in_the_bundle(built: Path) -> None:
    # Given every rds_xacct module the bundle's files import, read from their source (not by
    # the modulefinder the build uses)
    files = _files(built)
    modules = {".".join(f.with_suffix("").parts).removesuffix(".__init__") for f in files}
    imported = set().union(*(_imported(built / f) for f in files))
    # When / Then each is a module or package of the bundle, or a name one of them defines
    for name in imported:
        parent, _, attribute = name.rpartition(".")
        assert name in modules or (parent in modules and attribute), name


def test_both_keeper_functions_ship_the_same_files(built: Path, tmp_path: Path) -> None:
    assert _make("build-KeeperPassFunction", tmp_path) == _files(built)


def test_the_bundle_runs_alone_on_boto3(built: Path, tmp_path: Path) -> None:
    # Given an interpreter whose path holds the bundle and the standard library and
    # site-packages (boto3) only: isolated (-I), so neither functions/ nor PYTHONPATH, and
    # without `site` (-S), so no .pth file of site-packages runs (the venv's editable install of
    # the operator command maps rds_xacct to functions/: Lambda has no such thing)
    script = """
import json, sys
bundle = sys.argv[1]
sys.path.insert(0, bundle)
sys.path.append(sys.argv[2])
import keeper
from rds_xacct.keeper import hourly, ledger, requests, rules
try:
    import rds_xacct.pipeline
    pipeline = "importable"
except ModuleNotFoundError:
    pipeline = "absent"
loaded = {n: m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "rds_xacct"}
print(json.dumps({
    "outside": sorted(n for n, f in loaded.items() if not (f or "").startswith(bundle)),
    "pipeline": pipeline,
    "third_party": sorted(n for n in sys.modules if n.startswith(("aws_lambda_powertools", "requests"))),
    "handler": keeper.handler({
        "requestContext": {"accountId": "222222222222", "authorizer": {"iam": {"userArn":
            "arn:aws:sts::222222222222:assumed-role/rds-xacct-backup-copy/111111111111-run-1"}}},
        "body": json.dumps({"action": "delete"}),
    }, None),
    "hourly": callable(keeper.hourly) and keeper.hourly_pass is hourly,
}))
"""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SOURCE_ACCOUNT_IDS": "111111111111",
        "CALLER_ROLE_ARN": "arn:aws:iam::222222222222:role/rds-xacct-backup-copy",
        "MIN_RETENTION_DAYS": "7",
        "LEDGER_TABLE": "rds-xacct-keeper-ledger",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    # When the handler module is imported there and the keeper's entry answers a request
    done = subprocess.run(  # noqa: S603 - our own interpreter and a script of our own
        [sys.executable, "-I", "-S", "-B", "-c", script, str(built), _site_packages()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *metrics, last = done.stdout.splitlines()
    result: dict[str, Any] = json.loads(last)
    # Then every rds_xacct module came from the bundle, the pipeline isn't there to import, no
    # third-party package but boto3 was loaded, and the keeper answered (an unreadable request)
    # and counted its refusal on standard output (an EMF line)
    (line,) = metrics
    assert json.loads(line)[KEEPER_REFUSED_REQUESTS] == 1
    assert result["outside"] == []
    assert result["pipeline"] == "absent"
    assert result["third_party"] == []
    assert result["handler"]["statusCode"] == 200
    answer = json.loads(result["handler"]["body"])
    assert answer["decision"] == "refused"
    assert answer["reason"].startswith("unreadable request")
    assert result["hourly"] is True


def _site_packages() -> str:
    """Where boto3 is installed (the venv's site-packages)."""
    import boto3

    return str(Path(boto3.__file__).parent.parent)


def _functions_dir(root: Path, keeper: str, modules: dict[str, str]) -> Path:
    """A functions/ directory of a keeper.py and the given rds_xacct modules."""
    root.mkdir()
    (root / "keeper.py").write_text(keeper)
    for name, text in {"rds_xacct/__init__.py": "", **modules}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("keeper", "modules", "problem"),
    [
        pytest.param(
            "from rds_xacct.pipeline import steps\n",
            {"rds_xacct/pipeline/__init__.py": "", "rds_xacct/pipeline/steps.py": ""},
            "rds_xacct.pipeline is the main account's",
            id="the-pipeline",
        ),
        pytest.param(
            "from rds_xacct.keeper import rules\n",
            {
                "rds_xacct/keeper/__init__.py": "",
                "rds_xacct/keeper/rules.py": "def f():\n    from rds_xacct.jobs import sweep\n",
                "rds_xacct/jobs/__init__.py": "",
                "rds_xacct/jobs/sweep.py": "",
            },
            "rds_xacct.jobs is the main account's",
            id="the-jobs-deep-in-a-function",
        ),
        pytest.param(
            "import aws_lambda_powertools\n", {}, "aws_lambda_powertools is a third-party", id="pt"
        ),
        pytest.param("import rds_xacct.missing\n", {}, "rds_xacct.missing is imported", id="gone"),
    ],
)
def test_the_bundle_refuses_a_keeper_that_imports_what_it_must_not_ship(
    tmp_path: Path, keeper: str, modules: dict[str, str], problem: str
) -> None:
    functions = _functions_dir(tmp_path / "functions", keeper, modules)
    with pytest.raises(bundle.BundleError, match=problem):
        bundle.build(tmp_path / "artifacts", functions)
    assert not (tmp_path / "artifacts").exists()


def test_the_bundle_of_a_keeper_of_boto3_and_the_standard_library_is_built(tmp_path: Path) -> None:
    functions = _functions_dir(
        tmp_path / "functions",
        "import json, logging\nimport boto3\nfrom botocore.config import Config\n"
        "from rds_xacct.model import constants\n",
        {"rds_xacct/model/__init__.py": "", "rds_xacct/model/constants.py": "import re\n"},
    )
    files = bundle.build(tmp_path / "artifacts", functions)
    assert [str(f) for f in files] == [
        "keeper.py",
        "rds_xacct/__init__.py",
        "rds_xacct/model/__init__.py",
        "rds_xacct/model/constants.py",
    ]
    assert (tmp_path / "artifacts" / "rds_xacct" / "model" / "constants.py").read_text() == (
        "import re\n"
    )


def test_sam_build_of_the_backup_account_template_ships_the_bundle(
    built: Path, tmp_path: Path
) -> None:
    assert SAM.exists(), "aws-sam-cli is missing: `make test` installs it (.sam-venv) before pytest"
    # When SAM builds the backup-account template (offline: nothing to download)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-1"}
    subprocess.run(  # noqa: S603 - the project's own SAM CLI
        [str(SAM), "build", "--template-file", str(BACKUP_TEMPLATE), "--build-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    # Then each keeper function's artifact is exactly the bundle
    for logical_id in KEEPER_FUNCTIONS:
        assert _files(tmp_path / logical_id) == _files(built)
