"""The served model outside HTTP: predict_frame on frames read from files."""

from __future__ import annotations

import pandas as pd
import pytest

from gristmill.exceptions import ServingError
from gristmill.serving import load_served_model
from gristmill.serving._model import _as_signature_type


def test_numbers_in_a_text_column_are_read_as_text(tracking_uri: str) -> None:
    model = load_served_model("kw/1", tracking_uri=tracking_uri)
    assert model.column_types["text"] == "string"
    numeric = pd.DataFrame({"text": [1234, 5678], "length": [4.0, 4.0]})
    as_text = pd.DataFrame({"text": ["1234", "5678"], "length": [4.0, 4.0]})
    pd.testing.assert_frame_equal(model.predict_frame(numeric), model.predict_frame(as_text))


def test_rows_the_signature_refuses_are_one_short_error(tracking_uri: str) -> None:
    model = load_served_model("kw/1", tracking_uri=tracking_uri)
    bad = pd.DataFrame({"text": ["subscribe"] * 50, "length": ["long"] * 50})
    with pytest.raises(ServingError, match=r"^model kw/1 cannot predict these rows: ") as caught:
        model.predict_frame(bad)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400



def test_nullable_columns_with_gaps_from_a_file_reach_the_signature_as_it_takes_them() -> None:
    # MLflow's schema check turns pd.NA into NaN, which its boolean columns refuse.
    flags = pd.Series(pd.array([True, None, False], dtype="boolean"))
    assert _as_signature_type(flags, "boolean").tolist() == [True, None, False]
    counts = pd.Series(pd.array([4, None], dtype="Int64"))
    assert _as_signature_type(counts, "double").dtype == "float64"
