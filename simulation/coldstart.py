"""Cold-start import cost of the handlers, measured in fresh interpreters.

Each figure is the median of several runs of `python -c "import <module>"` in a new process,
timed inside the child around the import alone (interpreter start-up is not counted), in the
process's CPU time (`time.process_time`): an import from a warm file cache is all CPU, and CPU
time does not count the moments a busy machine (tests running beside the bench, CI's neighbours)
keeps the child waiting, which wall time did by tens of percent. `boto3`
is the yardstick: the Lambda runtime has it, and every handler imports it. The goal is a
handler import of at most 1.3 x `import boto3`.

As on Lambda, where the code directory is read-only and `sam build` copies sources without
bytecode, the app's own modules are compiled at every import: the children import a copy of
functions/ that has no __pycache__, and write none. Installed packages keep their bytecode.

On CPython 3.11 a handler can measure some 40 ms slower for no fault of its own: when boto3's
first import happens at an unlucky import depth, urllib3's regular expressions are compiled
right at a frame-stack chunk boundary, which 3.11 handles very slowly (CPython gh-142183).
It did not happen with Python 3.13, Lambda's runtime: measure with a 3.13 interpreter to be sure.

Run it with `PYTHONPATH=functions:. .venv/bin/python -m simulation.coldstart`; `make bench`
calls `measure()`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"
BASELINE = "boto3"
WORST_RATIO = "worst_ratio"
GOAL_RATIO = 1.3

# What a function sees when Lambda imports its handler: the template's variables (fake values)
# and the runtime's own, so that libraries that behave differently on Lambda do so here too.
_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_NAME": "rds-xacct-coldstart",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "BACKUP_ACCOUNT_ID": "222222222222",
    "BACKUP_KMS_KEY_ARN": (
        "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ),
    "BACKUP_ROLE_ARN": "arn:aws:iam::222222222222:role/rds-xacct-backup-copy",
    "RETENTION_DAYS": "1",
    "POWERTOOLS_SERVICE_NAME": "rds-xacct",
    "POWERTOOLS_METRICS_NAMESPACE": "RdsXacct",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

_CHILD = "import time\nt = time.process_time()\nimport {module}\nprint(time.process_time() - t)"


def handler_modules(functions: Path = FUNCTIONS) -> list[str]:
    """The handler modules: every functions/*.py."""
    return sorted(path.stem for path in functions.glob("*.py"))


def _environment(code: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))
    }
    env.update(_ENVIRONMENT)
    env["PYTHONPATH"] = str(code)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _import_seconds(module: str, env: dict[str, str]) -> float:
    """Seconds one fresh interpreter takes to import `module`."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and a module name we listed
        [sys.executable, "-c", _CHILD.format(module=module)],
        env=env,
        cwd=env["PYTHONPATH"],  # `-c` puts the working directory first on sys.path
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"import {module} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(repeats: int = 7, *, functions: Path = FUNCTIONS) -> dict[str, float]:
    """Median import times in milliseconds: `boto3`, then one entry per handler module, and
    `worst_ratio`, the slowest handler's time divided by boto3's.

    The modules take turns (one run of each, `repeats` times over) so that a slow moment of the
    machine does not land on one module; a first, unrecorded round warms the file cache.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    modules = [BASELINE, *handler_modules(functions)]
    runs: dict[str, list[float]] = {module: [] for module in modules}
    with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
        code = Path(scratch) / "task"
        shutil.copytree(functions, code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        env = _environment(code)
        for module in modules:
            _import_seconds(module, env)
        for _ in range(repeats):
            for module in modules:
                runs[module].append(_import_seconds(module, env) * 1000)
    medians = {module: statistics.median(times) for module, times in runs.items()}
    worst = max(medians[module] for module in modules[1:])
    return {**medians, WORST_RATIO: worst / medians[BASELINE]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per module (median)")
    parser.add_argument(
        "--functions", type=Path, default=FUNCTIONS, help="the code directory (default functions/)"
    )
    args = parser.parse_args(argv)
    results = measure(args.repeats, functions=args.functions)
    boto3_ms = results[BASELINE]
    print(f"Import times, median of {args.repeats} fresh interpreters ({sys.version.split()[0]})")
    print()
    print(f"{'module':<16} {'ms':>7} {'x boto3':>8}")
    print("-" * 33)
    for module, ms in results.items():
        if module != WORST_RATIO:
            print(f"{module:<16} {ms:>7.1f} {ms / boto3_ms:>8.2f}")
    ratio = results[WORST_RATIO]
    verdict = "within" if ratio <= GOAL_RATIO else "OVER"
    print()
    print(f"Worst handler: {ratio:.2f} x import boto3 ({verdict} the {GOAL_RATIO} x goal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
