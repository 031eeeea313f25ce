"""rds-xacct: copy RDS and Aurora snapshots encrypted with `aws/rds` into a backup account.

The Lambda handlers in `functions/*.py` are thin; the logic lives in this package.
"""
