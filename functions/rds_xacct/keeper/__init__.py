"""The backup account's keeper: the only code that deletes backup copies, by the backup
account's own rules and ledger, never by what the main account says. `rules` (pure: which
snapshots are the app's copies, how long each is kept), `ledger` (the DynamoDB record of each
copy, and the one delete), `requests` (the main account's `record`, `expire`, `abandon`),
`hourly` (the pass the schedule runs) and `freshness` (the pass's check that every source database
has a fresh copy here); functions/keeper.py is their handler.

It runs in the backup account and ships alone: it imports rds_xacct.model and rds_xacct.aws
only, never the main account's pipeline, admission, messages or jobs (an import-linter contract
keeps it so), and only the standard library and boto3 (the backup account runs no third-party
code). Its functions' bundle holds just what it imports: `bundle`, run by `sam build` through
functions/Makefile.
"""
