"""Per-title adaptation of the face-embedding backbone."""
