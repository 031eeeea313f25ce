"""The backup account's keeper: the only code that deletes backup copies, by the backup
account's own rules and ledger, never by what the main account says.

It runs in the backup account and ships alone: it imports rds_xacct.model and rds_xacct.aws
only, never the main account's pipeline, admission, messages or jobs (an import-linter contract
keeps it so), and its functions' bundle holds just what it imports.
"""
