"""Where the product keeps things and what it runs with.

Dagster-free stores: `warehouse` (tables and the DuckDB views), `media` (the video of each title),
`results` (a title's stored results read back as the method's types), `evaluation` (scores kept as history).
Dagster resources: `face_models`, `tracking` (MLflow, the torch device), `drops` (the drop folder).
Nothing is imported here, so that a command that only reads tables loads neither Dagster nor a model runtime.
"""
