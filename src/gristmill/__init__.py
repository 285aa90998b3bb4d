"""gristmill: data-centric machine learning.

Label data programmatically, repair it, train a model declaratively, and track, serve and
monitor it. Public names are loaded on first use (PEP 562), so ``import gristmill`` stays cheap
and never imports torch, mlflow or dask.
"""

import importlib as _importlib
from typing import Any as _Any

from gristmill._version import __version__

# Public name -> module that defines it. Keep sorted by name.
_LAZY: dict[str, str] = {
    "ABSTAIN": "gristmill.labeling",
    "ConstraintError": "gristmill.exceptions",
    "DataError": "gristmill.exceptions",
    "GristmillError": "gristmill.exceptions",
    "IdentifiabilityWarning": "gristmill.exceptions",
    "LFError": "gristmill.exceptions",
    "LabelMatrix": "gristmill.labeling",
    "LabelModelError": "gristmill.exceptions",
    "MissingExtraError": "gristmill.exceptions",
    "NotFittedError": "gristmill.exceptions",
    "PromotionRefused": "gristmill.exceptions",
    "ServingError": "gristmill.exceptions",
    "SpecError": "gristmill.exceptions",
    "TrackingError": "gristmill.exceptions",
    "read_table": "gristmill.io",
    "write_table": "gristmill.io",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> _Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gristmill' has no attribute {name!r}") from None
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
