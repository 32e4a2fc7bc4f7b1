"""The Pothoff & Roy dental growth table (fixtures/dental_pothoff_roy.csv) in long form, one
row per child and age, for the MMRM reference tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures"
AGES = (8, 10, 12, 14)


def dental_long() -> pd.DataFrame:
    wide = pd.read_csv(FIXTURES / "dental_pothoff_roy.csv")
    long = wide.melt(
        id_vars=["person", "gender"],
        value_vars=[f"y{a}" for a in AGES],
        var_name="col",
        value_name="y",
    )
    long["age"] = long["col"].str[1:].astype(int)
    return long.sort_values(["person", "age"]).reset_index(drop=True)
