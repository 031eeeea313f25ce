"""Telling people: the words built from a run summary, and their delivery (SNS, Slack).

It imports rds_xacct.aws and rds_xacct.model only.
"""
