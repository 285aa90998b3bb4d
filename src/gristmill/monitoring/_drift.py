"""Per-feature drift between a reference sample and current data.

The test depends on the column kind and on the size of *both* samples. A distance (Evidently's
choice for large data) is used only when both samples exceed ``small_sample`` rows and the
distance that sampling noise alone gives two samples of these sizes stays below half its
threshold (and, for Jensen–Shannon, at most 5% of the reference rows hold rare values);
otherwise a statistical test, whose p-value accounts for the sample sizes:

=======================  =====================================  ===============================
column kind              statistical test (default)             distance (both samples large)
=======================  =====================================  ===============================
numeric (> 5 values),    two-sample Kolmogorov–Smirnov          Wasserstein distance / reference
datetime                 p < ``p_value`` (0.05)                 std > ``wasserstein`` (0.1)
numeric (<= 5 values),   chi-square on the category counts      Jensen–Shannon distance (base 2)
categorical, boolean     p < ``p_value``                        > ``jensenshannon`` (0.1)
text                     domain classifier: cross-validated ROC AUC of TF-IDF + logistic
                         regression telling reference from current rows > ``domain_auc`` (0.55)
                         and > 0.5 + 3 standard errors of the AUC under no drift
=======================  =====================================  ===============================

Categories are the values seen at least 5 times in the reference; every other value, including
values the reference never saw, falls into one "other" bucket, so that a column of nearly unique
values (user names, ids) does not drift just because each new value is new. The chi-square test
is Bonferroni-combined with a one-sided test of the share of current values the reference lacks
(what does move in such a column), and both p-values come from the permutation distribution
(Monte Carlo, seeded): exact for any sample size, where the chi-square law needs expected counts
of 5 and more.

The population stability index (``method="psi"``, threshold ``psi`` = 0.1) can be asked for by
name. Missing values (and, for numeric and datetime columns, values that do not parse) are left
out of the test and reported as shares. A sample with fewer than ``min_rows`` values is not
tested; a column with no value on one side is tested for the change in missingness alone.
Free text is compared on its first 10,000 characters (:data:`MAX_TEXT_CHARS`).
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
# Methods whose statistic is a p-value (drift below the threshold).
_P_VALUE_METHODS = ("ks", "chi2", "missing")
#: Characters of each text the domain classifier reads: bounds its memory whatever the input.
MAX_TEXT_CHARS = 10_000
_EPS = 1e-4
_MIN_CATEGORY_COUNT = 5
_MAX_RARE_SHARE = 0.05  # of reference rows with rare values, for the Jensen–Shannon distance
_PERMUTATIONS = 1000
_PERMUTATION_CELLS = 2_000_000  # permutations x distinct values drawn at once: bounds memory
_MAX_PERMUTED_ROWS = 5000
_SEED = 0


@dataclasses.dataclass(frozen=True)
class DriftThresholds:
    """When a statistic counts as drift. Defaults follow Evidently's.

    Attributes
    ----------
    small_sample : int, default 1000
        Distances (Wasserstein, Jensen–Shannon) are used only when both samples are larger than
        this; smaller samples get statistical tests (p-values).
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
        The data set drifts when at least this share of its features drift (a feature with too
        few rows to test does not).
    lf_change : float, default 0.05
        Smallest absolute change in an LF's coverage or agreement (or in the label-model /
        served-model agreement) that counts, when also significant at ``p_value``.
    min_rows : int, default 30
        Fewest values a sample needs for a test (and fewest rows for an LF proportion): smaller
        samples are reported as too few to test, never as drift.
    """

    small_sample: int = 1000
    p_value: float = 0.05
    wasserstein: float = 0.1
    jensenshannon: float = 0.1
    psi: float = 0.1
    domain_auc: float = 0.55
    dataset_share: float = 0.5
    lf_change: float = 0.05
    min_rows: int = 30

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not value > 0:
                raise ParameterError(
                    f"DriftThresholds.{field.name} must be > 0. Got {value!r} instead.")


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    """The drift test of one column.

    ``statistic`` is a p-value for ``ks``, ``chi2`` and ``missing`` (drift when below
    ``threshold``) and a distance or AUC otherwise (drift when above). ``score`` puts both on one
    scale: > 1 is drift. ``method`` is ``missing`` when one sample has no value (Fisher's exact
    test of the missing shares) and ``none`` when the column was not tested (``note`` says why;
    statistic and score are NaN). ``missing_reference`` and ``missing_current`` are the shares of
    missing (or unparseable) values.
    """

    column: str
    kind: str
    method: str
    statistic: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    missing_reference: float = 0.0
    missing_current: float = 0.0
    note: str = ""

    @property
    def tested(self) -> bool:
        """False when the column could not be tested (too few values)."""
        return self.method != "none"

    @property
    def score(self) -> float:
        """Statistic relative to its threshold; above 1 means drift (NaN when not tested)."""
        if not self.tested:
            return math.nan
        if self.method in _P_VALUE_METHODS:
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
    return pd.to_datetime(values, errors="coerce", utc=True, format="mixed").rename(values.name)


def _comparable(values: pd.Series, kind: str) -> pd.Series:
    """The values a test compares: numbers (datetimes as UNIX seconds) or the values themselves.

    Missing values, and numbers or dates that do not parse, become missing.
    """
    if kind == "datetime" or (kind == "numeric" and pd.api.types.is_datetime64_any_dtype(values)):
        epoch = pd.Timestamp("1970-01-01", tz="UTC")
        return (_as_datetimes(values) - epoch).dt.total_seconds()
    if kind == "numeric":
        return pd.to_numeric(values, errors="coerce").astype(float)
    present = values.dropna()
    if pd.api.types.is_float_dtype(values) and (present == present.round()).all():
        # Integer codes that a missing value turned into floats: "3", not "3.0", as elsewhere.
        return values.astype("Int64").astype(object)
    return values


def _unparsed_note(raw: pd.Series, parsed: pd.Series, kind: str, which: str) -> str:
    """Says how many present values did not parse as numbers or dates ("" when all did)."""
    bad = raw.notna() & parsed.isna()
    if not bad.any():
        return ""
    what = "date" if kind == "datetime" else "number"
    example = str(raw[bad].iloc[0])[:40]
    present = int(raw.notna().sum())
    if int(bad.sum()) == present:
        return f"no {which} value parses as a {what} (e.g. {example!r})"
    return (f"{int(bad.sum())} of {present} {which} values do not parse as {what}s "
            f"(e.g. {example!r})")


def _category_counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category in both samples: the values seen at least 5 times in the reference,
    then one "other" bucket (rarer values and values the reference never saw)."""
    counts = pd.concat(
        [reference.astype(str).value_counts(), current.astype(str).value_counts()], axis=1
    ).fillna(0).to_numpy(dtype=float)
    frequent = counts[:, 0] >= _MIN_CATEGORY_COUNT
    table = counts[frequent]
    if not frequent.all():
        table = np.vstack([table, counts[~frequent].sum(axis=0)])
    return table[:, 0], table[:, 1]


def _binned(reference: np.ndarray, current: np.ndarray,
            bins: int = 10) -> tuple[pd.Series, pd.Series]:
    """Each value's bin among the reference deciles, as categories for the count-based tests."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))[1:-1]
    return pd.Series(np.searchsorted(edges, reference)), pd.Series(np.searchsorted(edges, current))


def _psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    ref = np.clip(ref_counts / ref_counts.sum(), _EPS, None)
    cur = np.clip(cur_counts / cur_counts.sum(), _EPS, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _jensenshannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    from scipy.spatial.distance import jensenshannon

    ref, cur = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    return float(jensenshannon(ref, cur, base=2))


def _permutation_statistics(cur_counts: np.ndarray, totals: np.ndarray, n_ref: int,
                            n_cur: int) -> tuple[np.ndarray, np.ndarray]:
    """The two statistics of :func:`_chi2` for each row of per-value current counts.

    Pearson's chi-square on :func:`_category_counts`' table (values with fewer than 5 reference
    rows, ``totals - cur_counts``, collapsed into "other"), and the share of current rows whose
    value the reference lacks. ``cur_counts`` is (permutations, values); ``totals`` the pooled
    count of each value.
    """
    n = n_ref + n_cur
    ref_counts = totals - cur_counts
    frequent = ref_counts >= _MIN_CATEGORY_COUNT
    deviation = cur_counts - totals * (n_cur / n)
    frequent_terms = np.where(frequent, deviation**2 / totals, 0.0).sum(axis=1)
    other_total = np.where(frequent, 0, totals).sum(axis=1)
    other_deviation = np.where(frequent, 0.0, deviation).sum(axis=1)
    other_term = np.divide(other_deviation**2, other_total, out=np.zeros(len(other_total)),
                           where=other_total > 0)
    # 1 / expected_cur + 1 / expected_ref = n^2 / (n_ref n_cur total)
    pearson = n * n / (n_ref * n_cur) * (frequent_terms + other_term)
    unseen = np.where(ref_counts == 0, cur_counts, 0).sum(axis=1) / n_cur
    return pearson, unseen


def _chi2(reference: pd.Series, current: pd.Series) -> float:
    """p-value that two categorical samples come from one distribution (drift when small).

    Two tests, Bonferroni-combined (twice the smaller p-value): the chi-square test of
    homogeneity on :func:`_category_counts`' table, and a one-sided test that more current rows
    than under no drift hold values the reference lacks (what moves in a column of nearly
    unique values, such as user names). Both p-values are exact: Monte Carlo over random splits
    of the pooled rows (the permutation distribution), as expected counts are often small and
    each split repeats the choice of categories. Samples above 5,000 rows are subsampled.
    """
    rng = np.random.default_rng(_SEED)
    reference, current = (sample.iloc[rng.permutation(len(sample))[:_MAX_PERMUTED_ROWS]]
                          for sample in (reference, current))
    counts = pd.concat(
        [reference.astype(str).value_counts(), current.astype(str).value_counts()], axis=1
    ).fillna(0).to_numpy(dtype=np.int64)
    totals, n_ref, n_cur = counts.sum(axis=1), len(reference), len(current)
    pearson, unseen = (stat[0] for stat in
                       _permutation_statistics(counts[None, :, 1], totals, n_ref, n_cur))
    chunk = max(1, _PERMUTATION_CELLS // len(totals))
    as_large = np.zeros(2, dtype=int)
    for size in np.diff(np.r_[0:_PERMUTATIONS:chunk, _PERMUTATIONS]):
        permuted = rng.multivariate_hypergeometric(totals, n_cur, size=int(size), method="count")
        pearson_b, unseen_b = _permutation_statistics(permuted, totals, n_ref, n_cur)
        # Ties count as at least as large, up to rounding noise (a zero statistic can be 1e-30).
        as_large += [int((pearson_b >= pearson - 1e-9 * (1 + pearson)).sum()),
                     int((unseen_b >= unseen - 1e-9).sum())]
    p_values = (1 + as_large) / (1 + _PERMUTATIONS)
    return float(min(1.0, 2 * p_values.min()))


def _missing_p(n_missing_ref: int, n_ref: int, n_missing_cur: int, n_cur: int) -> float:
    """Fisher's exact test that the reference and current shares of missing values are equal."""
    from scipy.stats import fisher_exact

    table = [[n_missing_ref, n_ref - n_missing_ref], [n_missing_cur, n_cur - n_missing_cur]]
    return float(fisher_exact(table).pvalue)


def _domain_auc(reference: pd.Series, current: pd.Series, *, max_rows: int = 2500,
                seed: int = _SEED) -> tuple[float, float]:
    """Cross-validated AUC of a classifier telling current from reference text; and its null SE.

    Each text is cut to its first :data:`MAX_TEXT_CHARS` characters, and texts stay Python
    strings: a fixed-width NumPy string array would size every cell by the longest text.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    n = min(len(reference), len(current), max_rows)
    rng = np.random.default_rng(seed)
    texts = [
        str(text)[:MAX_TEXT_CHARS]
        for sample in (reference, current)
        for text in sample.iloc[rng.permutation(len(sample))[:n]]
    ]
    y = np.r_[np.zeros(n), np.ones(n)]
    model = make_pipeline(
        TfidfVectorizer(min_df=2, max_features=20_000, sublinear_tf=True),
        LogisticRegression(C=1.0, max_iter=1000),
    )
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    null_se = math.sqrt((2 * n + 1) / (12 * n * n))
    try:
        scores = cross_val_predict(model, texts, y, cv=folds, method="decision_function")
    except ValueError:  # vocabulary empty after min_df: nothing tells the samples apart
        return 0.5, null_se
    # Mann–Whitney: under no drift the AUC has variance (n0 + n1 + 1) / (12 n0 n1).
    return float(roc_auc_score(y, scores)), null_se


def _null_wasserstein(reference: np.ndarray, n_ref: int, n_cur: int) -> float:
    """Expected Wasserstein distance / std of two samples of these sizes from the reference law.

    For large samples the two empirical CDFs differ by a Brownian bridge of variance
    ``F (1 - F) (1 / n_ref + 1 / n_cur)``, so ``E W = sqrt(2 / pi) sqrt(1 / n_ref + 1 / n_cur)
    * integral of sqrt(F (1 - F)) dx``.
    """
    values, counts = np.unique(reference, return_counts=True)
    spread = float(np.std(reference))
    if len(values) < 2 or spread == 0:
        return 0.0
    cdf = np.cumsum(counts)[:-1] / len(reference)
    integral = float(np.sum(np.diff(values) * np.sqrt(cdf * (1 - cdf))))
    return math.sqrt(2 / math.pi) * math.sqrt(1 / n_ref + 1 / n_cur) * integral / spread


def _null_jensenshannon(n_categories: int, n_ref: int, n_cur: int) -> float:
    """Typical Jensen–Shannon distance (base 2) of two samples of these sizes from one law.

    For close distributions ``JSD ~ sum (p - q)^2 / m / (8 ln 2)``, whose expectation over
    ``k`` categories is ``(k - 1) (1 / n_ref + 1 / n_cur) / (8 ln 2)``.
    """
    return math.sqrt((n_categories - 1) * (1 / n_ref + 1 / n_cur) / (8 * math.log(2)))


def _smaller(name_a: str, n_a: int, name_b: str, n_b: int) -> tuple[str, int]:
    """The name and size of the smaller sample (the current one on a tie)."""
    return (name_a, n_a) if n_a < n_b else (name_b, n_b)


def _pick_method(kind: str, reference: pd.Series, current: pd.Series,
                 thresholds: DriftThresholds) -> str:
    """The statistical test, or the distance when both samples are large enough for it."""
    if kind == "text":
        return "domain"
    n_ref, n_cur = len(reference), len(current)
    large = min(n_ref, n_cur) > thresholds.small_sample
    if kind in ("numeric", "datetime") and reference.nunique() > 5:
        usable = large and _null_wasserstein(
            reference.to_numpy(dtype=float), n_ref, n_cur) <= thresholds.wasserstein / 2
        return "wasserstein" if usable else "ks"
    counts = reference.astype(str).value_counts()
    frequent = counts >= _MIN_CATEGORY_COUNT
    # The distance sees rare and unseen values as one bucket: it suits columns of few values.
    usable = (large and counts[~frequent].sum() <= _MAX_RARE_SHARE * n_ref
              and _null_jensenshannon(int(frequent.sum()) + 1, n_ref, n_cur)
              <= thresholds.jensenshannon / 2)
    return "jensenshannon" if usable else "chi2"


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
        ``auto`` picks by column kind and both sample sizes (see the module docstring).
    kind : {"numeric", "categorical", "text", "datetime"}, optional
        Column kind; inferred from the reference when omitted. Datetimes (parsed from text
        when needed) are tested as numbers.
    thresholds : DriftThresholds, optional

    Returns
    -------
    FeatureDrift
        Not tested (``method="none"``, with a ``note``) when a sample has fewer than
        ``thresholds.min_rows`` values; ``method="missing"`` when one sample has no value.

    Raises
    ------
    DataError
        When the method does not fit the column.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.Series(rng.normal(size=500), name="x")
    >>> feature_drift(ref, pd.Series(rng.normal(size=500) + 1.0)).drifted
    True
    >>> feature_drift(ref, pd.Series([5.0, 6.0])).note
    'too few rows to test: 2 current values (at least 30 needed)'
    """
    if method not in DRIFT_METHODS:
        raise ParameterError(f"method must be one of {DRIFT_METHODS}. Got {method!r} instead.")
    thresholds = thresholds or DriftThresholds()
    name = str(reference.name)
    kind = kind or column_kind(reference)
    test_kind = "numeric" if kind == "datetime" else kind
    if method in ("ks", "wasserstein") and test_kind != "numeric":
        raise DataError(f"column {name!r} is {kind}; method {method!r} needs a numeric column")
    ref_parsed, cur_parsed = _comparable(reference, kind), _comparable(current, kind)
    ref_values, cur_values = ref_parsed.dropna(), cur_parsed.dropna()
    n_ref, n_cur = len(ref_values), len(cur_values)
    notes = [note for note in (_unparsed_note(reference, ref_parsed, kind, "reference"),
                               _unparsed_note(current, cur_parsed, kind, "current")) if note]

    def result(test: str, statistic: float, threshold: float, drifted: bool,
               *extra: str) -> FeatureDrift:
        return FeatureDrift(
            name, kind, test, statistic, threshold, drifted, n_ref, n_cur,
            missing_reference=1 - n_ref / len(reference) if len(reference) else math.nan,
            missing_current=1 - n_cur / len(current) if len(current) else math.nan,
            note="; ".join([*notes, *extra]),
        )

    if n_ref == 0 and n_cur == 0:
        return result("none", math.nan, math.nan, False, "no value in either sample")
    if n_ref == 0 or n_cur == 0:
        # One side has no value: all that can change is the share of missing values.
        which, rows = _smaller("reference", len(reference), "current", len(current))
        if rows < thresholds.min_rows:
            return result("none", math.nan, math.nan, False,
                          f"too few rows to test missingness: {rows} {which} rows "
                          f"(at least {thresholds.min_rows} needed)")
        p = _missing_p(len(reference) - n_ref, len(reference), len(current) - n_cur,
                       len(current))
        empty = reference if n_ref == 0 else current
        extra = [] if empty.notna().any() else [
            f"every {'reference' if n_ref == 0 else 'current'} value is missing"]
        return result("missing", p, thresholds.p_value, p < thresholds.p_value, *extra)
    which, n = _smaller("reference", n_ref, "current", n_cur)
    if n < thresholds.min_rows:
        return result("none", math.nan, math.nan, False,
                      f"too few rows to test: {n} {which} values "
                      f"(at least {thresholds.min_rows} needed)")
    if method == "auto":
        method = _pick_method(kind, ref_values, cur_values, thresholds)
    if method == "domain":
        auc, se = _domain_auc(reference.dropna().astype(str), current.dropna().astype(str))
        threshold = max(thresholds.domain_auc, 0.5 + 3 * se)
        return result(method, auc, threshold, auc > threshold)
    ref_num, cur_num = ref_values.to_numpy(), cur_values.to_numpy()
    if method == "ks":
        from scipy.stats import ks_2samp

        p = float(ks_2samp(ref_num, cur_num).pvalue)
        return result(method, p, thresholds.p_value, p < thresholds.p_value)
    if method == "wasserstein":
        from scipy.stats import wasserstein_distance

        distance = float(wasserstein_distance(ref_num, cur_num))
        spread = float(np.std(ref_num))
        stat = distance / spread if spread > 0 else (0.0 if distance == 0 else math.inf)
        return result(method, stat, thresholds.wasserstein, stat > thresholds.wasserstein)
    if test_kind == "numeric" and ref_values.nunique() > 5:
        ref_values, cur_values = _binned(ref_num.astype(float), cur_num.astype(float))
    if method == "chi2":
        p = _chi2(ref_values, cur_values)
        return result(method, p, thresholds.p_value, p < thresholds.p_value)
    ref_counts, cur_counts = _category_counts(ref_values, cur_values)
    if method == "psi":
        stat = _psi(ref_counts, cur_counts)
        return result(method, stat, thresholds.psi, stat > thresholds.psi)
    stat = _jensenshannon(ref_counts, cur_counts)
    return result(method, stat, thresholds.jensenshannon, stat > thresholds.jensenshannon)
