"""The simulation: both accounts and the deployed app on moto, on a simulated clock.

What `make demo` (`simulation.demo`), `make bench` (`simulation.bench`) and the tests drive; see
simulation/README.md. Importing it first checks that the installed moto is the one its patches
were written against (`simulation.guard`): anything else fails here, loudly, before a patch is
loaded.
"""

from simulation.guard import check_moto

check_moto()
