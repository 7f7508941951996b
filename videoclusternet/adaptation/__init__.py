"""Per-title adaptation of the face-embedding backbone (needs the `adapt` extra: torch and MLflow)."""

from __future__ import annotations

import importlib.util

ADAPT_EXTRA = "adapt"
_NEEDS = ("torch", "mlflow")


class MissingExtraError(ImportError):
    """An optional part of the product was asked for without the packages it needs."""


def require_adaptation() -> None:
    """Raise MissingExtraError, naming the extra to install, when adaptation's packages are missing."""
    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"adaptation needs {', '.join(missing)}: install the '{ADAPT_EXTRA}' extra "
            f"(pip install 'videoclusternet[{ADAPT_EXTRA}]'), or run without --adapt"
        )
