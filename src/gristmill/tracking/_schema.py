"""Payload columns in the types MLflow's model schema takes."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plain_missing"]


def plain_missing(values: pd.Series) -> pd.Series:
    """``values`` of a nullable numeric or boolean dtype holding a missing value, in the types
    MLflow's schema takes with one: floats (NaN), or objects (booleans and None).

    Other series are returned as they are.
    """
    dtype = values.dtype
    if not isinstance(dtype, pd.api.extensions.ExtensionDtype) or not values.hasnans:
        return values
    if isinstance(dtype, pd.BooleanDtype):
        return values.astype(object).where(values.notna(), None)
    if pd.api.types.is_numeric_dtype(dtype):
        return values.astype(np.float64)
    return values
