"""Analysis tables <-> Parquet bytes (pyarrow; no Django).

The persisted analysis snapshot (``outcomes.models.AnalysisSnapshot``) stores each of the
cohort analysis tables (``selectors.AnalysisTables``: visits, measurements, attributes,
memberships, sessions, events) as one Parquet file in a binary column. Parquet keeps the
column types (int64, float64, bool, datetime64 with its unit, nullable Int64, text) and
pandas' own metadata, so a snapshot read back gives the same frames, dtypes included, as
reading the clinical tables; zstd keeps 100,000 patients x 8 visits to some tens of MB.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# Bump when the tables' columns or their meaning change: older snapshots are then ignored
# (rebuilt) instead of being read into the new code.
# 2: attributes.arm is the initial regimen, not every modality ever given;
# 3: events.related_lot (the lot an adverse event names);
# 4: sessions has a row per session and lot (a session that used two lots has two rows);
# 5: visits.hgq_bald_spot scores a smaller bald spot higher (monitoring migration 0006 turned
#    the stored answers without a write the data fingerprint would see);
# 6: measurements.target_area_cm2 (hair counts are compared only over areas of one size);
# 7: sessions' lots by treatments.selectors.draws_used_by (draws returned to stock left out;
#    a session no draw names takes its day's draws that name no session), as the patient PDF
#    and the FHIR export take them: a snapshot of 6 kept the old lots while its data stood;
# 8: a day's draws naming no session go to its exosome sessions only (not to a PRP session).
# 9: measurements.target_site (image analyses of two marked sites are not compared).
# 10: measurements.target_area_cm2 blank where a count was entered without its area
#     (monitoring migration 0009 blanked the stored 1 cm² default without a write the data
#     fingerprint would see).
FORMAT_VERSION = 10
TABLES: tuple[str, ...] = (
    "visits",
    "measurements",
    "attributes",
    "memberships",
    "sessions",
    "events",
)


def to_parquet(frame: pd.DataFrame) -> bytes:
    """One table as Parquet bytes (zstd), index dropped: the tables use a plain range index."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def from_parquet(data: bytes | memoryview) -> pd.DataFrame:
    """The table written by ``to_parquet`` (memoryview from PostgreSQL, bytes from SQLite).

    Parquet has no second-resolution timestamps (they come back as datetime64[ms]) and
    pandas 3 reads Arrow text as its ``str`` dtype; each column is cast back to the dtype
    recorded in the file's pandas metadata, so the frames equal the ones written.
    """
    table = pq.read_table(pa.BufferReader(pa.py_buffer(data)))
    frame = table.to_pandas()
    meta = table.schema.pandas_metadata or {}
    for col in meta.get("columns", []):
        name, dtype = col.get("name"), col.get("numpy_type")
        if name not in frame.columns or not dtype or str(frame[name].dtype) == dtype:
            continue
        if dtype == "object":  # text as Python objects, a missing value as None (not NaN)
            values = table.column(name).to_numpy(zero_copy_only=False)
            frame[name] = pd.Series(values, index=frame.index, dtype=object)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame
