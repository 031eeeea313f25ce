"""Admission control: the copy slots shared by all runs, so that no more copies are in flight
per account and region than RDS allows, and the check for room in the manual snapshot quotas.

It imports rds_xacct.messages (to warn), rds_xacct.aws and rds_xacct.model.
"""
