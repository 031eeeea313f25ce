"""The operator command (`rds-xacct`) inside a running simulation: its sessions are the
simulation's operator of each account, its deployment is read, as on AWS, from the main stack's
reconciliation function (its environment, through Lambda's GetFunctionConfiguration)."""

from __future__ import annotations

import io

from rich.console import Console

from rds_xacct.jobs.deployment import Deployment
from rds_xacct_cli import render
from rds_xacct_cli.context import Operator
from simulation.driver import Simulation

RPO_PARAMETER = "RecoveryPointObjectiveHours"


def operator_for(sim: Simulation) -> Operator:
    """An operator of both simulated accounts (the backup account's as `--backup-profile`)."""
    function = sim.app.functions["ReconcileFunction"].name
    rpo = sim.parameters.get(RPO_PARAMETER)

    def deployment(operator: Operator) -> Deployment:
        return Deployment.from_function(
            operator.client("lambda"), function, rpo_hours=float(rpo) if rpo else None
        )

    return Operator(
        main=sim.world.main,
        backup_session=lambda operator: sim.world.backup,
        find_deployment=deployment,
    )


def status_table(sim: Simulation, *, width: int = 120) -> tuple[str, bool]:
    """`rds-xacct status` now, as its table prints (and whether all is well): what `make demo`
    ends with. Called from a run's own step too (it reads AWS only, it prints nothing)."""
    operator = operator_for(sim)
    found = operator.status()
    out = Console(file=io.StringIO(), width=width, soft_wrap=False, highlight=False, markup=False)
    render.print_status(out, found)
    text: str = out.file.getvalue()  # type: ignore[attr-defined]
    return text, not found.needs_a_look
