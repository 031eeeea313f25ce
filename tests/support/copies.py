"""What RDS was doing with copies over a simulated window, read from the simulation's record
of every copy made (`MotoPatches.copies_made`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from simulation.driver import Simulation


def peak_copying(sim: Simulation) -> dict[str, int]:
    """Per account: the most copies RDS was making at once (each copy from its start for its
    simulated length)."""
    moments: dict[str, list[tuple[datetime, int]]] = {}
    for made in sim.patches.copies_made:
        account = made.snapshot.arn.split(":")[4]
        end = made.started + timedelta(minutes=made.minutes)
        moments.setdefault(account, []).extend([(made.started, 1), (end, -1)])
    peaks = {}
    for account, changes in moments.items():
        running = peak = 0
        for _, change in sorted(changes):  # an end sorts before a start at the same moment
            running += change
            peak = max(peak, running)
        peaks[account] = peak
    return peaks
