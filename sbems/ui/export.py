"""Any table or range the panel shows, downloadable as CSV and as Excel (openpyxl), with times in UTC.

Time columns become ISO text in UTC in the CSV (``2026-11-30T13:00:00Z``) and zone-less UTC datetimes in
Excel (Excel has no time zones; the header says UTC)."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st


def utc_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose datetime columns are UTC without a zone, each header marked '(UTC)' once."""
    out = frame.copy()
    renames = {}
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name]):
            out[name] = pd.to_datetime(out[name], utc=True).dt.tz_localize(None)
            if "utc" not in str(name).lower():
                renames[name] = f"{name} (UTC)"
    return out.rename(columns=renames)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    out = utc_columns(frame)
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name]):
            out[name] = out[name].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.to_csv(index=False).encode()


def excel_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        utc_columns(frame).to_excel(writer, sheet_name=sheet[:31], index=False)
    return buffer.getvalue()


def buttons(frame: pd.DataFrame, stem: str, key: str, label: str = "data") -> None:
    """'Download … (CSV)' and '… (Excel)' side by side for ``frame``."""
    c1, c2, _ = st.columns([1, 1, 2])
    c1.download_button(
        f"Download {label} (CSV)",
        csv_bytes(frame),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key=f"{key}_csv",
    )
    c2.download_button(
        f"Download {label} (Excel)",
        excel_bytes(frame, sheet=label),
        file_name=f"{stem}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_xlsx",
    )
