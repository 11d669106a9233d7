"""Window slices of a frame: each window's rows, in their order, however the windows interleave."""

import pandas as pd

from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.engines.pandas_engine import PandasEngine


def test_slices_give_each_windows_rows_in_order() -> None:
    windows = ["d2", "d1", "d2", "d3", "d1", "d2"]
    frame = pd.DataFrame({"n": range(6), PARTITION: pd.Categorical(windows)})
    got = {
        key: part["n"].tolist()
        for key, part in PandasEngine().slices(frame, ["d1", "d2", "d3", "d4"])
    }
    assert got == {"d1": [1, 4], "d2": [0, 2, 5], "d3": [3], "d4": []}


def test_slices_of_grouped_rows_and_of_text_windows() -> None:
    frame = pd.DataFrame({"n": range(4), PARTITION: ["d1", "d1", "d2", "d2"]})
    got = {key: part["n"].tolist() for key, part in PandasEngine().slices(frame, ["d1", "d2"])}
    assert got == {"d1": [0, 1], "d2": [2, 3]}
