"""Telling people: `words` builds every message (a run's, from its summary; a notice's: a quota
warning, the sweep's and the reconciliation's reports) as one `Message`; `delivery` sends it to
every configured channel (SNS, Slack) behind one small interface, `deliver(message, settings)`.

It imports rds_xacct.aws and rds_xacct.model only.
"""
