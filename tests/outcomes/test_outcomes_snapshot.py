"""Analysis tables to Parquet and back (outcomes.snapshot, no Django): same values, same
dtypes — including those Parquet or pandas 3 would otherwise change on the way."""

from __future__ import annotations

import pandas as pd

from anagen.outcomes.snapshot import from_parquet, to_parquet


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": pd.Series([3, 1, 2], dtype="int64"),
            "visit_date": pd.to_datetime(["2025-01-06", None, "2025-04-01"]).astype(
                "datetime64[s]"
            ),  # Parquet has no seconds unit
            "is_baseline": [True, False, False],
            "density_per_cm2": [120.5, float("nan"), 130.0],
            "lot": pd.array([7, None, 9], dtype="Int64"),
            "arm": pd.Series(["prp", None, "exosome+prp"], dtype=object),  # not pandas' "str"
        }
    )


def test_values_and_dtypes_survive_the_round_trip():
    original = frame()
    pd.testing.assert_frame_equal(from_parquet(to_parquet(original)), original, check_dtype=True)


def test_an_empty_table_keeps_its_columns_and_dtypes():
    empty = frame().iloc[:0]
    pd.testing.assert_frame_equal(from_parquet(to_parquet(empty)), empty, check_dtype=True)


def test_the_index_is_not_stored():
    filtered = frame().iloc[[2, 0]]
    back = from_parquet(to_parquet(filtered))
    assert list(back.index) == [0, 1]
    assert list(back["patient_id"]) == [2, 3]


def test_reads_from_a_memoryview_as_postgresql_returns_it():
    data = memoryview(to_parquet(frame()))
    pd.testing.assert_frame_equal(from_parquet(data), frame())
