"""The main account's scheduled jobs: the daily reconciliation (a run for every source snapshot
whose event went missing), the daily sweep (intermediate copies no run will delete any more) and
the hourly watch (`watch`: does every covered database have a fresh copy, `freshness`; how full
the copy slots are).

`reconcile` is the reconciliation's look and the runs it starts; `reconcile_sources` what it
looks at (source snapshots, copies, runs); `reconcile_events` the events it builds, its runs'
names and their start; `sweep` the sweep; `reports` what both tell the notification topic.

The operator command (rds_xacct_cli, outside this package) does its work here too: `deployment`
(a deployment read from its stack), `runs` (runs in flight, ended badly, explained) and
`backfill` (old snapshots listed and started, as reconciliation does).

They sit on top: they may import the pipeline and everything under it; nothing under them
imports them.
"""
