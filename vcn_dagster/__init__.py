"""The Dagster code location of VideoClusterNet."""

from vcn_dagster.memory import arrow_on_system_malloc, limit_malloc_arenas

# First thing in every process that runs the pipeline (`vcn`, a run worker loading the code location),
# before its threads allocate: see memory.py.
limit_malloc_arenas()
arrow_on_system_malloc()
