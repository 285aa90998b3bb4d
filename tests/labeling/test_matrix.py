from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gristmill import DataError, LabelMatrix, LFError
from gristmill.labeling import as_label_array, as_sparse_labels


def test_compact_dtype_and_shape() -> None:
    L = LabelMatrix(np.array([[0, -1], [1, 1]], dtype=np.int64), ["a", "b"])
    assert L.values.dtype == np.int8
    assert L.shape == (2, 2)
    assert LabelMatrix([[300, -1]], ["a", "b"]).values.dtype == np.int16


def test_names_checked() -> None:
    with pytest.raises(LFError, match="'a' appears twice"):
        LabelMatrix([[0, 1]], ["a", "a"])
    with pytest.raises(LFError, match="2 columns"):
        LabelMatrix([[0, 1]], ["a"])


def test_values_checked() -> None:
    with pytest.raises(DataError, match=">= -1"):
        LabelMatrix([[-2, 1]], ["a", "b"])
    with pytest.raises(DataError, match="2-D"):
        LabelMatrix([0, 1], ["a", "b"])


def test_values_that_are_not_integers_are_named() -> None:
    with pytest.raises(DataError, match=r"'b' holds 0.5 at row 1; votes must be integers"):
        LabelMatrix([[0, 1], [1, 0.5]], ["a", "b"])
    with pytest.raises(DataError, match=r"'a' holds nan at row 'y'"):
        LabelMatrix([[0, 1], [np.nan, 0]], ["a", "b"], index=pd.Index(["x", "y"]))
    with pytest.raises(DataError, match=r"'b' holds inf at row 0"):
        LabelMatrix([[0, np.inf]], ["a", "b"])
    with pytest.raises(DataError, match="dtype object"):
        LabelMatrix(np.array([[0, None]], dtype=object), ["a", "b"])


def test_from_frame_takes_numpy_and_nullable_columns() -> None:
    frame = pd.DataFrame(
        {"kw": [0, -1, 1], "rule": pd.array([1, 1, -1], dtype="Int8"), "model": [0.0, 1.0, -1.0]},
        index=pd.Index([10, 11, 12]),
    )
    L = LabelMatrix.from_frame(frame)
    assert L.lf_names == ("kw", "rule", "model")
    assert L.values.tolist() == [[0, 1, 0], [-1, 1, 1], [1, -1, -1]]
    assert L.index.tolist() == [10, 11, 12]
    assert LabelMatrix.from_frame(frame[["kw", "model"]]).values.dtype == np.int8


def test_from_frame_names_the_column_and_row_at_fault() -> None:
    frame = pd.DataFrame({"kw": [0, -1], "rule": pd.array([1, None], dtype="Int8")})
    with pytest.raises(DataError, match=r"'rule' has a missing vote at row 1; abstain with -1"):
        LabelMatrix.from_frame(frame)
    with pytest.raises(DataError, match=r"'kw' holds nan at row 'b'"):
        LabelMatrix.from_frame(pd.DataFrame({"kw": [0.0, np.nan]}, index=["a", "b"]))
    with pytest.raises(DataError, match=r"column 'rule' holds (str|object) values; a label matrix"):
        LabelMatrix.from_frame(pd.DataFrame({"kw": [0, 1], "rule": ["spam", "ham"]}))


def test_as_label_array_reads_a_frame() -> None:
    frame = pd.DataFrame({"a": pd.array([0, -1], dtype="Int16"), "b": [1, 1]})
    assert as_label_array(frame).tolist() == [[0, 1], [-1, 1]]


def test_sparse_round_trip() -> None:
    L = LabelMatrix([[0, -1, 2], [-1, -1, 1]], ["a", "b", "c"])
    S = L.to_sparse()
    assert S.nnz == 3
    assert LabelMatrix.from_sparse(S, L.lf_names) == L
    assert np.array_equal(as_label_array(S), L.values)
    assert np.array_equal(as_sparse_labels(L.values).toarray(), S.toarray())


def test_sparse_at_dtype_boundary() -> None:
    L = LabelMatrix([[127, -1]], ["a", "b"])
    assert L.to_sparse().toarray().tolist() == [[128, 0]]


def test_parquet_round_trip_with_index(tmp_path: Path) -> None:
    L = LabelMatrix([[0, -1], [1, 1]], ["a", "b"], index=pd.Index([10, 20]))
    path = L.to_parquet(tmp_path / "L.parquet")
    back = LabelMatrix.from_parquet(path)
    assert back == L
    assert back.index.tolist() == [10, 20]


def test_parquet_written_elsewhere_is_read_one_lf_per_column(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    frame = pd.DataFrame({"kw": [1, -1], "gold": [1, 0], "rule": pd.array([0, 1], dtype="Int8")})
    frame.index = pd.Index([7, 8])
    frame.to_parquet(path)  # pandas keeps the index as its own column
    L = LabelMatrix.from_parquet(path, exclude=["gold"])
    assert L.lf_names == ("kw", "rule")
    assert L.values.tolist() == [[1, 0], [-1, 1]]
    assert L.index.tolist() == [7, 8]
    pd.DataFrame({"__row__": ["a", "b"], "kw": [1, -1]}).to_parquet(path, index=False)
    assert LabelMatrix.from_parquet(path).index.tolist() == ["a", "b"]


def test_parquet_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pd.DataFrame({"kw": [1, 0], "text": ["win", "hi"]}).to_parquet(path)
    with pytest.raises(DataError, match=r"x.parquet: column 'text' holds (str|object) values"):
        LabelMatrix.from_parquet(path)
    pd.DataFrame({"kw": [1.0, np.nan]}).to_parquet(path)
    with pytest.raises(DataError, match=r"x.parquet: labeling function 'kw' holds nan at row 1"):
        LabelMatrix.from_parquet(path)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a Parquet file"):
        LabelMatrix.from_parquet(tmp_path / "junk.parquet")


def test_as_sparse_rejects_negative() -> None:
    with pytest.raises(DataError, match="class \\+ 1"):
        as_sparse_labels(sp.csr_matrix(np.array([[-1, 0]])))
