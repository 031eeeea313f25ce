"""The AWS layer: clients and how AWS errors become the app's errors, one interface over DB and
DB cluster snapshots, the accounts a run works in, the manual snapshot quotas, and Lambda's
logger and metrics.

It imports only rds_xacct.model. Nothing here decides what to copy or when: the layers above
(pipeline, admission, messages, jobs, keeper) do.
"""
