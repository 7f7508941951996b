"""Thin asset definitions, one module per stage group; the method lives in `videoclusternet`."""
