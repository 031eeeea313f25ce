"""`rds-xacct`, the operator command: `status`, `backfill`, `run` and `explain`, against a deployed
stack (`--profile`, `--region`, `--stack-name`) or inside the simulation.

Thin: it parses arguments, builds boto3 sessions and prints; what it does is rds_xacct's
(rds_xacct.jobs: deployment, runs, backfill, status). It may import rds_xacct and its own
dependencies (typer, rich), which never enter the Lambda bundle; nothing in rds_xacct imports it.
"""
