"""The keeper's bundle: what its two functions ship, computed rather than listed by hand.

`sam build` of other/backup-account/backup-account.yaml runs functions/Makefile's target for each
keeper function (`Metadata: BuildMethod: makefile`), which runs `python -m rds_xacct.keeper.bundle
"$ARTIFACTS_DIR"` in a copy of functions/. It puts there the handler, functions/keeper.py, and
the rds_xacct modules it imports, found by the standard library's modulefinder (every `import`
statement, at any depth, functions and `TYPE_CHECKING` blocks included), and nothing else: no
other handler, no main-account module, no third-party package (the Lambda runtime's boto3 is the
only one the keeper uses).

It refuses to build (exit 1) when the keeper imports a module of the main account's pipeline
(only rds_xacct.model, rds_xacct.aws and rds_xacct.keeper may ship), a module that isn't there,
or a third-party package other than boto3 and botocore. Standard library only: it runs wherever
`sam build` runs.
"""

from __future__ import annotations

import shutil
import sys
from modulefinder import ModuleFinder
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2]
"""functions/ (or sam build's copy of it): the handlers and the rds_xacct package."""
HANDLER = "keeper.py"
PACKAGE = "rds_xacct"
SHIPPED = ("rds_xacct.model", "rds_xacct.aws", "rds_xacct.keeper")
"""The packages whose modules the keeper may ship (and import), besides rds_xacct's own
`__init__`."""
BUNDLES = {
    HANDLER: SHIPPED,
    "slot_broker.py": ("rds_xacct.model", "rds_xacct.aws", "rds_xacct.admission"),
}
"""Each backup-account function's handler and the packages it may ship: the keeper's, and the
copy-slot broker's (rds_xacct.admission.broker, which runs the same pool as the main account's
and, like the keeper, ships without Powertools)."""
THIRD_PARTY = ("boto3", "botocore")
"""The third-party packages the keeper may import: the Lambda runtime's, never shipped."""
TYPING_ONLY = "mypy_boto3_"
"""Stub packages imported under `TYPE_CHECKING` only, never at run time."""


class BundleError(Exception):
    """The keeper imports what it must not ship."""


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(f"{PACKAGE}.")


def _shipped(name: str, shipped: tuple[str, ...] = SHIPPED) -> bool:
    return name == PACKAGE or any(
        name == allowed or name.startswith(f"{allowed}.") for allowed in shipped
    )


def module_files(functions: Path = FUNCTIONS, handler: str = HANDLER) -> list[Path]:
    """The files to ship, relative to `functions`: the handler and the rds_xacct modules it
    imports (packages' `__init__.py` included), sorted."""
    finder = ModuleFinder(path=[str(functions)])
    finder.run_script(str(functions / handler))
    problems = []
    files = [Path(handler)]
    for name, module in finder.modules.items():
        if not _ours(name):
            continue
        if not _shipped(name, BUNDLES[handler]):
            problems.append(f"{name} is the main account's, not {handler}'s to import")
        elif file := getattr(module, "__file__", None):  # a namespace package has none
            files.append(Path(file).resolve().relative_to(functions.resolve()))
    for name in finder.badmodules:  # not found on `functions`: stdlib, third party or missing
        top = name.partition(".")[0]
        if _ours(name):
            problems.append(f"{name} is imported but is not in {functions}")
        elif not (
            top in sys.stdlib_module_names or top in THIRD_PARTY or top.startswith(TYPING_ONLY)
        ):
            problems.append(f"{name} is a third-party package, not boto3's")
    if problems:
        raise BundleError(f"{handler}'s bundle can't be built: {'; '.join(sorted(problems))}")
    return sorted(files)


def build(artifacts: Path, functions: Path = FUNCTIONS, handler: str = HANDLER) -> list[Path]:
    """Copy the function's files from `functions` into `artifacts`; the files copied."""
    files = module_files(functions, handler)
    for file in files:
        target = artifacts / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(functions / file, target)
    return files


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or (argv[1:] and argv[1] not in BUNDLES):
        print(
            f"usage: python -m rds_xacct.keeper.bundle ARTIFACTS_DIR [{' | '.join(BUNDLES)}]",
            file=sys.stderr,
        )
        return 2
    try:
        files = build(Path(argv[0]), handler=argv[1] if argv[1:] else HANDLER)
    except BundleError as error:
        print(error, file=sys.stderr)
        return 1
    print("\n".join(str(file) for file in files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
