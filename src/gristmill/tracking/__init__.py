"""Tracking on MLflow: runs, lineage, reproduction and a model registry with champion/challenger.

Everything here imports mlflow only when called, so ``import gristmill.tracking`` stays cheap.
"""

from gristmill.tracking._bundle import ModelBundle, load_bundle
from gristmill.tracking._hashing import dataset_digest, file_digest, function_digests
from gristmill.tracking._lineage import lineage, models_trained_on, render_lineage
from gristmill.tracking._registry import (
    ModelRef,
    Promotion,
    VersionDiff,
    champion_history,
    diff_versions,
    list_versions,
    promote,
    rollback,
)
from gristmill.tracking._reproduce import Reproduction, reproduce
from gristmill.tracking._store import check_store, resolve_tracking_uri
from gristmill.tracking._tracker import CHALLENGER, CHAMPION, RunTracker

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ModelBundle",
    "ModelRef",
    "Promotion",
    "Reproduction",
    "RunTracker",
    "VersionDiff",
    "champion_history",
    "check_store",
    "dataset_digest",
    "diff_versions",
    "file_digest",
    "function_digests",
    "lineage",
    "list_versions",
    "load_bundle",
    "models_trained_on",
    "promote",
    "render_lineage",
    "reproduce",
    "resolve_tracking_uri",
    "rollback",
]
