"""Rules for the weather of a Seattle day (0 drizzle, 1 fog, 2 rain, 3 snow, 4 sun).

Written for benchmarks/label_models.py in session 10 (2026-11-25), from general knowledge of
the weather of a maritime city, after reading the column list and the first five rows only,
before any score or per-class statistic was computed; not revised after. Rain is a wet day with
some precipitation, drizzle a wet day with a trace of it, snow precipitation at or below
freezing, fog a dry, calm day (radiation fog needs still air and keeps the afternoon cool), sun
a dry day, above all a warm one or one whose clear sky lets the temperature swing. The cut-offs
are round numbers, not fitted. Columns: precipitation (mm), temp_max and temp_min (deg C), wind
(m/s), date ("2012/01/01").
"""

import numpy as np
import pandas as pd

from gristmill import ABSTAIN, labeling_function, threshold_lf

DRIZZLE, FOG, RAIN, SNOW, SUN = range(5)


def _votes(condition: pd.Series, label: int) -> np.ndarray:
    """``label`` where the condition holds, abstain elsewhere (missing values abstain)."""
    return np.where(condition.fillna(False).to_numpy(dtype=bool), label, ABSTAIN)


def _month(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["date"], format="%Y/%m/%d").dt.month


# Rain: real amounts of water, and storms.
heavy_precipitation = threshold_lf("precipitation", RAIN, lower=5, name="heavy_precipitation")
stormy_wind = threshold_lf("wind", RAIN, lower=6, name="stormy_wind")


@labeling_function(vectorized=True)
def mild_and_wet(frame):
    """A millimetre or more above freezing is rain."""
    return _votes((frame["precipitation"] >= 1) & (frame["temp_min"] >= 2), RAIN)


@labeling_function(vectorized=True)
def wet_winter_day(frame):
    """Any precipitation between November and March, a season of frontal rain."""
    return _votes(_month(frame).isin([11, 12, 1, 2, 3]) & (frame["precipitation"] > 0), RAIN)


# Drizzle: a trace of water.
trace_precipitation = threshold_lf(
    "precipitation", DRIZZLE, lower=0, upper=1, inclusive="neither", name="trace_precipitation"
)


@labeling_function(vectorized=True)
def light_and_mild(frame):
    """Under 2 mm on a day that stays between 5 and 20 degrees: drizzle from low cloud."""
    light = (frame["precipitation"] > 0) & (frame["precipitation"] < 2)
    return _votes(light & (frame["temp_min"] >= 5) & (frame["temp_max"] <= 20), DRIZZLE)


# Snow: precipitation at or near freezing.
cold_day = threshold_lf("temp_max", SNOW, upper=2, name="cold_day")


@labeling_function(vectorized=True)
def freezing_precipitation(frame):
    """Precipitation on a day whose low is below freezing and whose high stays under 5."""
    cold = (frame["temp_min"] <= 0) & (frame["temp_max"] <= 5)
    return _votes(cold & (frame["precipitation"] > 0), SNOW)


# Sun: dry days, warm or with a wide swing of temperature (clear skies).
dry_day = threshold_lf("precipitation", SUN, upper=0, name="dry_day")
hot_day = threshold_lf("temp_max", SUN, lower=25, name="hot_day")


@labeling_function(vectorized=True)
def clear_sky_swing(frame):
    """A dry day whose high is 12 or more degrees above its low."""
    swing = frame["temp_max"] - frame["temp_min"]
    return _votes((frame["precipitation"] == 0) & (swing >= 12), SUN)


@labeling_function(vectorized=True)
def dry_summer(frame):
    """A dry day between June and September."""
    return _votes(_month(frame).isin([6, 7, 8, 9]) & (frame["precipitation"] == 0), SUN)


# Fog: dry and still, mostly in the cool half of the year.
@labeling_function(vectorized=True)
def calm_dry(frame):
    """No precipitation and under 1.5 m/s of wind."""
    return _votes((frame["precipitation"] == 0) & (frame["wind"] < 1.5), FOG)


@labeling_function(vectorized=True)
def fog_season(frame):
    """A dry day of light wind from October to January."""
    still = (frame["precipitation"] == 0) & (frame["wind"] < 3)
    return _votes(_month(frame).isin([10, 11, 12, 1]) & still, FOG)


@labeling_function(vectorized=True)
def narrow_swing(frame):
    """A dry day whose high is within 5 degrees of its low: fog or low cloud held it down."""
    swing = frame["temp_max"] - frame["temp_min"]
    return _votes((frame["precipitation"] == 0) & (swing <= 5), FOG)


# Several classes.
@labeling_function(vectorized=True)
def wet_by_temperature(frame):
    """A wet day: snow when the high is 3 or under, else rain from 1 mm, else drizzle."""
    wet = frame["precipitation"] > 0
    kind = np.select(
        [frame["temp_max"] <= 3, frame["precipitation"] >= 1], [SNOW, RAIN], default=DRIZZLE
    )
    return np.where(wet.to_numpy(), kind, ABSTAIN)


@labeling_function(vectorized=True)
def dry_by_wind(frame):
    """A dry day: fog when the wind is under 2 m/s and the high under 12, else sun."""
    dry = frame["precipitation"] == 0
    foggy = (frame["wind"] < 2) & (frame["temp_max"] < 12)
    return np.where(dry.to_numpy(), np.where(foggy.to_numpy(), FOG, SUN), ABSTAIN)
