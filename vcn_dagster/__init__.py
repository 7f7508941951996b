"""The Dagster code location of VideoClusterNet."""
