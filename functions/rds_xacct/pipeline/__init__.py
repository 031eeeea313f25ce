"""The main account's pipeline: the work of each state of the copy run's state machine, from
reading the event to deleting what the run made.

It may import rds_xacct.admission, rds_xacct.messages, rds_xacct.aws and rds_xacct.model; never
rds_xacct.jobs or rds_xacct.keeper.
"""
