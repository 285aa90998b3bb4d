"""Monitoring: per-feature and prediction drift, LF drift, and a label-free accuracy estimate."""

from gristmill.monitoring._drift import (
    DRIFT_METHODS,
    DriftThresholds,
    FeatureDrift,
    column_kind,
    feature_drift,
)
from gristmill.monitoring._lf_drift import AgreementDrift, LFDrift, lf_drift, model_agreement
from gristmill.monitoring._monitor import MonitorResult, monitor

__all__ = [
    "DRIFT_METHODS",
    "AgreementDrift",
    "DriftThresholds",
    "FeatureDrift",
    "LFDrift",
    "MonitorResult",
    "column_kind",
    "feature_drift",
    "lf_drift",
    "model_agreement",
    "monitor",
]
