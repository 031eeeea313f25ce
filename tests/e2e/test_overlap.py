"""The same snapshot announced twice while its first run is still going (a redelivered event,
a late event after the daily reconciliation started its run, an operator's run by hand): the
runs share the copies, both end well, and exactly one backup copy remains."""

from __future__ import annotations

import pytest

from simulation.driver import MakeSim
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT


@pytest.mark.parametrize("second_after_s", [0, 600, 2800])
def test_two_runs_of_one_snapshot_share_the_copies_and_both_succeed(
    make_sim: MakeSim, second_after_s: int
) -> None:
    # Given a 20 GiB database's AWS Backup event (each copy about 23 minutes), delivered twice:
    # at once; 10 minutes later, the second run adopting the first's intermediate copy (both
    # then deleted it, and the loser's delete was refused); or 47 minutes later, the first run
    # deleting the intermediate copy the second was still watching (it failed "disappeared")
    sim = make_sim(parameters={"RetentionDays": "0"})
    event = sim.backup_event("orders-db", size_gib=20)
    # When both runs go
    described = sim.deliver_window([(0, event), (second_after_s, event)])
    # Then both succeed, with no failure notification
    assert [d["status"] for d in described] == ["SUCCEEDED", "SUCCEEDED"], [
        d.get("cause") for d in described
    ]
    # And exactly one backup copy exists, and nothing is left in the main account
    backups = sim.world.app_copies(BACKUP_ACCOUNT)
    assert [b["status"] for b in backups] == ["available"]
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
