"""The Dagster code location of VideoClusterNet (`definitions`) and the `vcn` command (`cli`)."""

# The code location's name: workspace.yaml and pyproject.toml's [tool.dagster] say the same (a test checks),
# so that `vcn ui`, `dagster dev` and `dagster schedule start -w workspace.yaml` share schedule and sensor state.
CODE_LOCATION = "videoclusternet"
