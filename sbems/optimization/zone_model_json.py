"""Zone thermal models as stored JSON (kind ``zone_thermal``, target ``zone_temp_c``), and the gain columns
the planner identifies them with."""

from __future__ import annotations

from collections.abc import Mapping

from sbems.optimization.plan_report import finite_or_none
from sbems.optimization.zone_model import ZoneModelParams
from sbems.optimization.zone_model_rc2 import Rc2Params

MODEL_KIND = "zone_thermal"
MODEL_TARGET = "zone_temp_c"
GAIN_COLUMNS = ("occupancy_count", "ghi_w_m2", "occupied")


def zone_model_params_json(params: ZoneModelParams | Rc2Params) -> dict:
    if isinstance(params, Rc2Params):
        return params.as_json()
    return {
        "kind": "rc1",
        "a_frac": params.a_frac,
        "b_cool_c_per_kw": params.b_cool_c_per_kw,
        "b_gain_c_per_unit": list(params.b_gain_c_per_unit),
        "c_gain_delta_c": params.c_gain_delta_c,
        "step_s": params.step_s,
        "gain_columns": list(params.gain_columns),
    }


def zone_model_params_from_json(data: Mapping) -> ZoneModelParams | Rc2Params:
    if data.get("kind") == "rc2":
        return Rc2Params.from_json(dict(data))
    return ZoneModelParams(
        a_frac=float(data["a_frac"]),
        b_cool_c_per_kw=float(data["b_cool_c_per_kw"]),
        b_gain_c_per_unit=tuple(float(v) for v in data["b_gain_c_per_unit"]),
        c_gain_delta_c=float(data["c_gain_delta_c"]),
        step_s=float(data["step_s"]),
        gain_columns=tuple(data["gain_columns"]),
    )


def metrics_json(metrics: Mapping[str, float]) -> dict:
    """Fit metrics as plain JSON (NaN and inf become None)."""
    return {k: finite_or_none(v) for k, v in metrics.items()}
