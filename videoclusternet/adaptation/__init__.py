"""Per-title adaptation of the face-embedding backbone (needs the `adapt` extra: torch and MLflow)."""

from __future__ import annotations

import importlib.util

ADAPT_EXTRA = "adapt"
_NEEDS = ("torch", "mlflow")


class MissingExtraError(ImportError):
    """An optional part of the product was asked for without the packages it needs."""


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder refused it; or a stand-in without a spec in sys.modules
        return False


def require_adaptation() -> None:
    """Raise MissingExtraError, naming the extra to install, when adaptation's packages are missing."""
    missing = [name for name in _NEEDS if not _installed(name)]
    if missing:
        raise MissingExtraError(
            f"adaptation needs {', '.join(missing)}: install the '{ADAPT_EXTRA}' extra "
            f"(pip install 'videoclusternet[{ADAPT_EXTRA}]'), or run without --adapt"
        )
