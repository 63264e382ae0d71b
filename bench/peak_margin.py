"""Room in the peak rows growing with the lead (issue 14; measured and rejected, docs/evaluation.md "Summer:
where the gap is": +132 / +69 USD on the summer tuning week, +160 / +71 on tomorrow's rows only). Kept as a
bench knob (``closed_loop.Settings.peak_margin_by_lead``, off) so the experiment can be repeated; production
does not use it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sbems.optimization.robust import MIN_ERROR_SAMPLES, PredictionErrors


def peak_margin_by_lead_kw(
    errors: PredictionErrors,
    row_lead_h: np.ndarray,
    quantile: float = 0.9,
    near_lead_h: float = 1.0,
    bin_edges_h: Sequence[float] = (1.0, 4.0, 12.0, 24.0),
    max_kw: float | None = None,
) -> np.ndarray:
    """How much more the building kW may exceed a plan at each row's lead than within ``near_lead_h``: per
    lead bin (``bin_edges_h``; beyond the last edge one bin), the ``quantile`` of measured - predicted kW
    near planned peaks minus the same quantile within ``near_lead_h`` (the demand back-off's own sample),
    never negative, never shrinking with lead, at most ``max_kw``. Added to the peak rows' load at those
    leads, a plan keeps room for a day that turns out fuller than forecast (the day's plug level is known
    only on the day; cold for it has to be stored the night before). Zero where a bin has fewer than
    ``MIN_ERROR_SAMPLES`` errors."""
    if not 0.0 < quantile < 1.0:
        raise ValueError("quantile must be in (0, 1)")
    row_lead_h = np.asarray(row_lead_h, dtype=float)
    near = (
        errors.load_near_peak
        if errors.load_near_peak.sum() >= MIN_ERROR_SAMPLES
        else np.ones_like(errors.load_near_peak)
    )
    lead = errors.load_lead_h
    error = errors.load_error_kw

    def level(keep: np.ndarray) -> float | None:
        sample = error[keep & near]
        return float(np.quantile(sample, quantile)) if sample.size >= MIN_ERROR_SAMPLES else None

    base = level(lead <= near_lead_h + 1e-9)
    margin = np.zeros(row_lead_h.size)
    if base is None:
        return margin
    edges = [near_lead_h, *[e for e in bin_edges_h if e > near_lead_h], np.inf]
    running = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        found = level((lead > low + 1e-9) & (lead <= high + 1e-9))
        if found is not None:
            running = max(running, found - base)
        margin[(row_lead_h > low + 1e-9) & (row_lead_h <= high + 1e-9)] = running
    return margin if max_kw is None else np.minimum(margin, float(max_kw))
