from __future__ import annotations

import pytest

from gristmill import exceptions as exc


def test_hierarchy() -> None:
    for name in exc.__all__:
        cls = getattr(exc, name)
        if name.endswith("Warning"):
            assert issubclass(cls, UserWarning), name
        else:
            assert issubclass(cls, exc.GristmillError), name
    assert issubclass(exc.NotFittedError, ValueError)
    assert issubclass(exc.NotFittedError, AttributeError)
    assert issubclass(exc.MissingExtraError, ImportError)
    assert issubclass(exc.ConstraintError, exc.DataError)
    assert issubclass(exc.PromotionRefused, exc.TrackingError)
    assert issubclass(exc.ParameterError, ValueError)
    assert issubclass(exc.ParameterError, TypeError)


def test_bad_parameters_are_gristmill_errors_and_value_errors() -> None:
    import numpy as np

    from gristmill.labelmodel import LabelModel, get_label_model
    from gristmill.monitoring import DriftThresholds

    votes = np.array([[0, 0, 1], [1, 1, 1], [0, -1, 0]])
    with pytest.raises(exc.ParameterError, match="'cardinality' parameter"):
        LabelModel(cardinality=1).fit(votes)
    with pytest.raises(exc.ParameterError, match=r"Unknown parameter\(s\) \['max_iters'\]"):
        get_label_model("dawid_skene", max_iters=5)
    with pytest.raises(exc.ParameterError, match="tie_break must be one of"):
        get_label_model("majority_vote").fit(votes).predict(votes, tie_break="coin")
    with pytest.raises(exc.ParameterError, match="must be > 0"):
        DriftThresholds(p_value=0)


def test_lf_error_carries_context() -> None:
    err = exc.LFError("boom", lf_name="kw_free", row=7)
    assert (err.lf_name, err.row, str(err)) == ("kw_free", 7, "boom")


def test_require_names_the_extra() -> None:
    from gristmill._extras import require

    with pytest.raises(exc.MissingExtraError, match=r"pip install 'gristmill\[serve\]'"):
        require("no_such_module_xyz", extra="serve", feature="gristmill serve")
