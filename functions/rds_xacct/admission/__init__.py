"""Admission control: the copy slots shared by all runs, so that no more copies are in flight
per account and region than RDS allows (`slots`: the states that take and give back slots;
`pool`: a pool's queue; `pool_table`: its DynamoDB items; `contention`: DynamoDB's answers to
concurrent writers), and the check for room in the manual snapshot quotas (`capacity`).

It imports rds_xacct.messages (to warn), rds_xacct.aws and rds_xacct.model.
"""
