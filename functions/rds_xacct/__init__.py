"""rds-xacct: copy RDS and Aurora snapshots encrypted with `aws/rds` into a backup account.

The Lambda handlers (`functions/*.py`) are thin: they parse, call one function here, and shape
the output. The rooms, from the top floor down (each subpackage's docstring says more, and
import-linter's contracts in pyproject.toml keep the floors):

    jobs/       the main account's daily jobs: reconciliation, the sweep
    pipeline/   the copy run's steps, one module per stage: intake, copying, backup_copy,
                retention, failure; the event, polling, the Notify step
    admission/  copy slots shared by all runs; room in the snapshot quotas
    messages/   words from a run summary, and their delivery (SNS, Slack)
    keeper/     the backup account's keeper (ships alone: model/ and aws/ only)
    aws/        clients and AWS errors, snapshots, accounts, quotas, logger and metrics
    model/      run state, names, tags and ownership, selection, settings, errors, ARNs, times
"""
