"""The main account's scheduled jobs: the daily reconciliation (a run for every source snapshot
whose event went missing) and the daily sweep (intermediate copies no run will delete any more).

They sit on top: they may import the pipeline and everything under it.
"""
