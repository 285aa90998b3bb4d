"""Per-feature drift between a reference sample and current data.

The test depends on the column kind and the sample size, with defaults like Evidently's:

========================  ===========================  ====================================
column kind               reference <= ``small_sample``  reference > ``small_sample``
========================  ===========================  ====================================
numeric (> 5 values)      two-sample Kolmogorov–Smirnov  Wasserstein distance / reference std
                          p < ``p_value``                > ``wasserstein`` (0.1)
numeric (<= 5 values),    chi-square on the counts       Jensen–Shannon distance (base 2)
categorical, boolean      p < ``p_value`` (0.05)         > ``jensenshannon`` (0.1)
text                      domain classifier: cross-validated ROC AUC of TF-IDF + logistic
                          regression telling reference from current rows > ``domain_auc`` (0.55)
                          and > 0.5 + 3 standard errors of the AUC under no drift
========================  ===========================  ====================================

The population stability index (``method="psi"``, threshold ``psi`` = 0.1) can be asked for by
name. Missing values are dropped before testing.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError, ParameterError

__all__ = ["DriftThresholds", "FeatureDrift", "column_kind", "feature_drift", "DRIFT_METHODS"]

DRIFT_METHODS = ("auto", "ks", "chi2", "wasserstein", "jensenshannon", "psi", "domain")
_EPS = 1e-4


@dataclasses.dataclass(frozen=True)
class DriftThresholds:
    """When a statistic counts as drift. Defaults follow Evidently's.

    Attributes
    ----------
    small_sample : int, default 1000
        Reference sizes up to this use statistical tests (p-values); larger ones use distances.
    p_value : float, default 0.05
        KS and chi-square tests: drift when p is below this.
    wasserstein : float, default 0.1
        Wasserstein distance divided by the reference standard deviation.
    jensenshannon : float, default 0.1
        Jensen–Shannon distance (base 2, in [0, 1]).
    psi : float, default 0.1
        Population stability index.
    domain_auc : float, default 0.55
        ROC AUC of the text domain classifier.
    dataset_share : float, default 0.5
        The data set drifts when at least this share of its features drift.
    lf_change : float, default 0.05
        Smallest absolute change in an LF's coverage or agreement (or in the label-model /
        served-model agreement) that counts, when also significant at ``p_value``.
    """

    small_sample: int = 1000
    p_value: float = 0.05
    wasserstein: float = 0.1
    jensenshannon: float = 0.1
    psi: float = 0.1
    domain_auc: float = 0.55
    dataset_share: float = 0.5
    lf_change: float = 0.05

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not value > 0:
                raise ParameterError(
                    f"DriftThresholds.{field.name} must be > 0. Got {value!r} instead.")


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    """The drift test of one column.

    ``statistic`` is a p-value for ``ks`` and ``chi2`` (drift when below ``threshold``) and a
    distance or AUC otherwise (drift when above). ``score`` puts both on one scale: > 1 is drift.
    """

    column: str
    kind: str
    method: str
    statistic: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int

    @property
    def score(self) -> float:
        """Statistic relative to its threshold; above 1 means drift."""
        if self.method in ("ks", "chi2"):
            return float(min(self.threshold / max(self.statistic, 1e-12), 1e6))
        return float(min(self.statistic / self.threshold, 1e6))

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "score": self.score}


def column_kind(values: pd.Series) -> str:
    """``numeric``, ``categorical`` or ``text`` (free text: many distinct, multi-word values)."""
    if pd.api.types.is_bool_dtype(values):
        return "categorical"
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return "numeric"
    present = values.dropna().astype(str)
    if present.empty:
        return "categorical"
    words = present.str.split().str.len().mean()
    distinct = present.nunique() / len(present)
    return "text" if words >= 3 or (distinct > 0.5 and present.nunique() > 50) else "categorical"


def _as_datetimes(values: pd.Series) -> pd.Series:
    """``values`` as UTC datetimes; text that is no date becomes missing."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    return pd.to_datetime(values, errors="coerce", utc=True, format="mixed").rename(values.name)


def _as_numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dropna().astype("int64").to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)


def _frequencies(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    counts = pd.concat(
        [reference.astype(str).value_counts(), current.astype(str).value_counts()], axis=1
    ).fillna(0)
    return counts.iloc[:, 0].to_numpy(dtype=float), counts.iloc[:, 1].to_numpy(dtype=float)


def _binned(
    reference: np.ndarray, current: np.ndarray, bins: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        edges = np.array([reference.min() - 0.5, reference.max() + 0.5])
    edges[0], edges[-1] = -np.inf, np.inf
    return (np.histogram(reference, edges)[0].astype(float),
            np.histogram(current, edges)[0].astype(float))


def _psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    ref = np.clip(ref_counts / ref_counts.sum(), _EPS, None)
    cur = np.clip(cur_counts / cur_counts.sum(), _EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _jensenshannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    from scipy.spatial.distance import jensenshannon

    ref, cur = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    return float(jensenshannon(ref, cur, base=2))


def _chi2(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    from scipy.stats import chi2_contingency

    keep = (ref_counts + cur_counts) > 0
    table = np.vstack([ref_counts[keep], cur_counts[keep]])
    if table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table, correction=False)[1])


def _domain_auc(reference: pd.Series, current: pd.Series, *, max_rows: int = 2500,
                seed: int = 0) -> tuple[float, float]:
    """Cross-validated AUC of a classifier telling current from reference text; and its null SE."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    n = min(len(reference), len(current), max_rows)
    rng = np.random.default_rng(seed)
    ref = reference.to_numpy(dtype=object)[rng.permutation(len(reference))[:n]]
    cur = current.to_numpy(dtype=object)[rng.permutation(len(current))[:n]]
    texts = np.concatenate([ref, cur]).astype(str)
    y = np.r_[np.zeros(n), np.ones(n)]
    model = make_pipeline(
        TfidfVectorizer(min_df=2, max_features=20_000, sublinear_tf=True),
        LogisticRegression(C=1.0, max_iter=1000),
    )
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    try:
        scores = cross_val_predict(model, texts, y, cv=folds, method="decision_function")
    except ValueError:  # vocabulary empty after min_df: nothing tells the samples apart
        return 0.5, math.sqrt((2 * n + 1) / (12 * n * n))
    # Mann–Whitney: under no drift the AUC has variance (n0 + n1 + 1) / (12 n0 n1).
    return float(roc_auc_score(y, scores)), math.sqrt((2 * n + 1) / (12 * n * n))


def _pick_method(kind: str, n_reference: int, n_unique: int, thresholds: DriftThresholds) -> str:
    if kind == "text":
        return "domain"
    small = n_reference <= thresholds.small_sample
    if kind == "numeric" and n_unique > 5:
        return "ks" if small else "wasserstein"
    return "chi2" if small else "jensenshannon"


def feature_drift(
    reference: pd.Series,
    current: pd.Series,
    *,
    method: str = "auto",
    kind: str | None = None,
    thresholds: DriftThresholds | None = None,
) -> FeatureDrift:
    """Test one column for drift between ``reference`` and ``current``.

    Parameters
    ----------
    reference, current : pandas.Series
        The column in the reference (training) sample and in the current data.
    method : {"auto", "ks", "chi2", "wasserstein", "jensenshannon", "psi", "domain"}
        ``auto`` picks by column kind and reference size (see the module docstring).
    kind : {"numeric", "categorical", "text", "datetime"}, optional
        Column kind; inferred from the reference when omitted. Datetimes (parsed from text
        when needed) are tested as numbers.
    thresholds : DriftThresholds, optional

    Returns
    -------
    FeatureDrift

    Raises
    ------
    DataError
        When either sample has no non-missing value, or the method does not fit the column.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.Series(rng.normal(size=500), name="x")
    >>> feature_drift(ref, pd.Series(rng.normal(size=500) + 1.0)).drifted
    True
    """
    if method not in DRIFT_METHODS:
        raise ParameterError(f"method must be one of {DRIFT_METHODS}. Got {method!r} instead.")
    thresholds = thresholds or DriftThresholds()
    if kind == "datetime":
        result = feature_drift(
            _as_datetimes(reference),
            _as_datetimes(current),
            method=method,
            kind="numeric",
            thresholds=thresholds,
        )
        return dataclasses.replace(result, kind="datetime")
    name = str(reference.name)
    kind = kind or column_kind(reference)
    ref_values, cur_values = reference.dropna(), current.dropna()
    if ref_values.empty or current.dropna().empty:
        which = "reference" if ref_values.empty else "current"
        raise DataError(f"column {name!r} has no non-missing value in the {which} data")
    n_ref, n_cur = len(ref_values), len(cur_values)
    if method == "auto":
        method = _pick_method(kind, n_ref, ref_values.nunique(), thresholds)
    numeric = kind == "numeric" and method != "domain"
    if method in ("ks", "wasserstein") and kind != "numeric":
        raise DataError(f"column {name!r} is {kind}; method {method!r} needs a numeric column")
    if numeric:
        ref_num, cur_num = _as_numbers(ref_values), _as_numbers(cur_values)
        if ref_num.size == 0 or cur_num.size == 0:
            raise DataError(f"column {name!r} has no numeric value to compare")
    if method == "domain":
        auc, se = _domain_auc(ref_values.astype(str), cur_values.astype(str))
        threshold = max(thresholds.domain_auc, 0.5 + 3 * se)
        return FeatureDrift(name, kind, method, auc, threshold, auc > threshold, n_ref, n_cur)
    if method == "ks":
        from scipy.stats import ks_2samp

        p = float(ks_2samp(ref_num, cur_num).pvalue)
        return FeatureDrift(name, kind, method, p, thresholds.p_value, p < thresholds.p_value,
                            n_ref, n_cur)
    if method == "wasserstein":
        from scipy.stats import wasserstein_distance

        distance = float(wasserstein_distance(ref_num, cur_num))
        spread = float(np.std(ref_num))
        stat = distance / spread if spread > 0 else (0.0 if distance == 0 else math.inf)
        return FeatureDrift(name, kind, method, stat, thresholds.wasserstein,
                            stat > thresholds.wasserstein, n_ref, n_cur)
    if numeric and ref_values.nunique() > 5:
        ref_counts, cur_counts = _binned(ref_num, cur_num)
    else:
        ref_counts, cur_counts = _frequencies(ref_values, cur_values)
    if method == "chi2":
        p = _chi2(ref_counts, cur_counts)
        return FeatureDrift(name, kind, method, p, thresholds.p_value, p < thresholds.p_value,
                            n_ref, n_cur)
    if method == "psi":
        stat = _psi(ref_counts, cur_counts)
        return FeatureDrift(name, kind, method, stat, thresholds.psi, stat > thresholds.psi,
                            n_ref, n_cur)
    stat = _jensenshannon(ref_counts, cur_counts)
    return FeatureDrift(name, kind, method, stat, thresholds.jensenshannon,
                        stat > thresholds.jensenshannon, n_ref, n_cur)
