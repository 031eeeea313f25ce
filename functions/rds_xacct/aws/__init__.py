"""The AWS layer: clients and how AWS errors become the app's errors, one interface over DB and
DB cluster snapshots, the main account's databases, the accounts a run works in, the manual
snapshot quotas, and Lambda's logger and metrics (Powertools; `emf`, the standard library's
metric lines the keeper writes).

It imports only rds_xacct.model. Nothing here decides what to copy or when: the layers above
(pipeline, admission, messages, jobs, keeper) do.
"""
