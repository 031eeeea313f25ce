"""The model: what a run is and the rules that need no AWS call.

Names, tags and the ownership check, limits and defaults, the errors the state machine acts on,
the deployment's settings, times as the app writes them and the run summary. Everything else in
rds_xacct may import it; it imports nothing of rds_xacct outside itself (an import-linter contract
in pyproject.toml keeps it so).
"""
