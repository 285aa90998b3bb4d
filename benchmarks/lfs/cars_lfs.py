"""Rules for where a car of 1970-1982 was made (0 Europe, 1 Japan, 2 USA).

Written for benchmarks/label_models.py in session 10 (2026-11-25), from general knowledge of the
cars sold in the United States in those years, after reading the column list and the first three
rows only, before any score or per-class statistic was computed; not revised after. American
cars were big, heavy, thirsty and mostly six- or eight-cylinder, and their four-cylinder engines
were large (2.3 litres and up); Japanese cars were small, light and frugal, and took the market
after the 1979 oil crisis; European imports were the small cars of the early 1970s, the odd
engines (five cylinders), and the heavy, slow diesels and saloons. The cut-offs are round
numbers, not fitted. The rules read only the measurements (Miles_per_Gallon, Cylinders,
Displacement in cubic inches, Horsepower, Weight_in_lbs, Acceleration in seconds to 60 mph,
Year as "1970-01-01"), never the model's Name.
"""

import numpy as np
import pandas as pd

from gristmill import ABSTAIN, labeling_function, threshold_lf

EUROPE, JAPAN, USA = range(3)


def _votes(condition: pd.Series, label: int) -> np.ndarray:
    """``label`` where the condition holds, abstain elsewhere (missing values abstain)."""
    return np.where(condition.fillna(False).to_numpy(dtype=bool), label, ABSTAIN)


def _year(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["Year"], format="%Y-%m-%d").dt.year


# USA: big engines, heavy bodies, high fuel use.
v8 = threshold_lf("Cylinders", USA, lower=8, name="v8")
six_cylinders = threshold_lf("Cylinders", USA, lower=6, upper=6, name="six_cylinders")
big_engine = threshold_lf("Displacement", USA, lower=200, name="big_engine")
heavy = threshold_lf("Weight_in_lbs", USA, lower=3500, name="heavy")
powerful = threshold_lf("Horsepower", USA, lower=120, name="powerful")
thirsty = threshold_lf("Miles_per_Gallon", USA, upper=18, name="thirsty")


@labeling_function(vectorized=True)
def big_four(frame):
    """A four-cylinder of 140 cubic inches (2.3 l) or more: Pinto, Vega, Iron Duke."""
    return _votes((frame["Cylinders"] == 4) & (frame["Displacement"] >= 140), USA)


# Japan: light and frugal, the rotary engines, and the small cars after 1979.
three_cylinders = threshold_lf("Cylinders", JAPAN, upper=3, name="three_cylinders")
frugal = threshold_lf("Miles_per_Gallon", JAPAN, lower=32, name="frugal")
light = threshold_lf("Weight_in_lbs", JAPAN, upper=2000, name="light")


@labeling_function(vectorized=True)
def small_car_late(frame):
    """A four-cylinder under 120 cubic inches from 1979 on."""
    small = (frame["Cylinders"] == 4) & (frame["Displacement"] < 120)
    return _votes(small & (_year(frame) >= 1979), JAPAN)


# Europe: five cylinders, early small imports, slow diesels, heavy four-cylinder saloons.
five_cylinders = threshold_lf("Cylinders", EUROPE, lower=5, upper=5, name="five_cylinders")
slow = threshold_lf("Acceleration", EUROPE, lower=20, name="slow")


@labeling_function(vectorized=True)
def small_car_early(frame):
    """A four-cylinder under 120 cubic inches up to 1973 (VW, Fiat, Opel, Renault, Peugeot)."""
    small = (frame["Cylinders"] == 4) & (frame["Displacement"] < 120)
    return _votes(small & (_year(frame) <= 1973), EUROPE)


@labeling_function(vectorized=True)
def heavy_and_weak(frame):
    """Under 80 horsepower for 2,800 lbs or more: a diesel saloon (Mercedes, Peugeot)."""
    return _votes((frame["Horsepower"] < 80) & (frame["Weight_in_lbs"] >= 2800), EUROPE)


@labeling_function(vectorized=True)
def heavy_small_engine(frame):
    """A four-cylinder under 140 cubic inches weighing 2,600 lbs or more (Volvo, Saab, Audi)."""
    four = (frame["Cylinders"] == 4) & (frame["Displacement"] < 140)
    return _votes(four & (frame["Weight_in_lbs"] >= 2600), EUROPE)


# Several classes.
@labeling_function(vectorized=True)
def fuel_economy(frame):
    """USA at 20 mpg or less, Japan at 30 or more."""
    mpg = frame["Miles_per_Gallon"]
    return np.select([mpg <= 20, mpg >= 30], [USA, JAPAN], default=ABSTAIN)


@labeling_function(vectorized=True)
def small_engine_by_era(frame):
    """A four-cylinder under 100 cubic inches: Europe up to 1975, Japan from 1976."""
    small = (frame["Cylinders"] == 4) & (frame["Displacement"] < 100)
    era = np.where(_year(frame) <= 1975, EUROPE, JAPAN)
    return np.where(small.to_numpy(), era, ABSTAIN)
