from __future__ import annotations

import pytest

from gristmill import exceptions as exc


def test_hierarchy() -> None:
    for name in exc.__all__:
        cls = getattr(exc, name)
        if name != "IdentifiabilityWarning":
            assert issubclass(cls, exc.GristmillError), name
    assert issubclass(exc.NotFittedError, ValueError)
    assert issubclass(exc.NotFittedError, AttributeError)
    assert issubclass(exc.MissingExtraError, ImportError)
    assert issubclass(exc.ConstraintError, exc.DataError)
    assert issubclass(exc.PromotionRefused, exc.TrackingError)


def test_lf_error_carries_context() -> None:
    err = exc.LFError("boom", lf_name="kw_free", row=7)
    assert (err.lf_name, err.row, str(err)) == ("kw_free", 7, "boom")


def test_require_names_the_extra() -> None:
    from gristmill._extras import require

    with pytest.raises(exc.MissingExtraError, match=r"pip install 'gristmill\[serve\]'"):
        require("no_such_module_xyz", extra="serve", feature="gristmill serve")
