"""The building-power rows summed through per-group partial sums (coupling.group_power_rows, on by default in
ClarabelBackend) state the same problem: same optimum and plan as the ungrouped data, any model variant; a
kept solver still re-plans in place."""

import numpy as np
import pytest

from sbems.optimization.clarabel_backend import ClarabelBackend, clarabel_data, column_zones
from sbems.optimization.coupling import group_power_rows
from sbems.optimization.mpc import Planner
from sbems.optimization.problem import MpcProblem, comfort_bands, cop_from_outdoor_c
from sbems.optimization.zone_model_rc2 import Rc2Params
from tests.optimization.test_backends import small_problem
from tests.optimization.test_coupling_scaling import _problems


def bench_rc2_models(rng: np.random.Generator, n_zones: int) -> list[Rc2Params]:
    """The bench's two-state zones (bench/mpc_scaling.py), drawn from ``rng``."""
    return [
        Rc2Params(
            c_air_kwh_per_k=rng.uniform(1.2, 2.5),
            c_mass_kwh_per_k=rng.uniform(15, 35),
            ua_air_out_kw_per_k=rng.uniform(0.2, 0.4),
            ua_mass_out_kw_per_k=rng.uniform(0.2, 0.5),
            h_air_mass_kw_per_k=rng.uniform(3, 6),
            ua_vent_kw_per_k=rng.uniform(0.4, 0.9),
            gain_air_kw_per_unit=(0.075, 0.0),
            gain_mass_kw_per_unit=(0.0, 2.0),
            const_air_kw=rng.uniform(1, 3),
            const_mass_kw=rng.uniform(1, 3),
            gain_columns=("occupancy_count", "occupied"),
        )
        for _ in range(n_zones)
    ]


def two_state_problem(n_zones: int = 5, n_steps: int = 48) -> MpcProblem:
    """Several two-state zones (the bench's rc2 day, 30-min steps) with both demand charges."""
    rng = np.random.default_rng(3)
    hour = np.arange(n_steps) * 24.0 / n_steps
    occupied, on_peak = (hour >= 7) & (hour < 19), (hour >= 16) & (hour < 21)
    outdoor = 31 + 5 * np.sin((hour - 9) / 24 * 2 * np.pi)
    models = bench_rc2_models(rng, n_zones)
    low, high = comfort_bands(np.broadcast_to(occupied, (n_zones, n_steps)))
    gains = {
        "occupancy_count": np.where(occupied, 30.0, 0.0)[None, :] * rng.uniform(0.7, 1.3, (n_zones, 1)),
        "occupied": occupied.astype(float),
    }
    return MpcProblem.from_models(
        models,
        gains,
        step_s=86400.0 / n_steps,
        initial_temp_c=rng.uniform(24, 28, n_zones),
        initial_mass_temp_c=rng.uniform(24, 27, n_zones),
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=rng.uniform(25, 45, n_zones),
        ramp_kw_per_step=20.0,
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=np.where(on_peak, 0.32, 0.12),
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.broadcast_to(np.where(occupied, 23.0, 28.0), (n_zones, n_steps)),
        demand_masks=np.vstack([np.ones(n_steps, dtype=bool), on_peak]),
        demand_rates_usd_per_kw=[18.0, 9.0],
    )


def test_grouped_rows_sum_the_same_zone_terms():
    problem = small_problem(n_zones=5)
    p_matrix, c, a_matrix, b, cones, offsets = clarabel_data(problem)
    zones = column_zones(problem, offsets, a_matrix.shape[1])
    assert np.array_equal(
        zones[offsets["q"] : offsets["q"] + 5 * problem.n_steps].reshape(5, -1)[:, 0], range(5)
    )
    assert np.all(zones[offsets["p"] :] == -1)
    ns, n_eq = problem.n_steps, cones[0][1]
    grouped = group_power_rows(p_matrix, c, a_matrix, b, cones, zones, ns, zones_per_group=2)
    assert grouped is not None
    p2, c2, a2, b2, cones2 = grouped
    n_new = 3 * ns  # groups {0, 1}, {2, 3}, {4}: one partial sum per group and step
    assert a2.shape == (a_matrix.shape[0] + n_new, a_matrix.shape[1] + n_new)
    assert cones2 == [("zero", n_eq + n_new), *cones[1:]]
    assert p2.shape == (a2.shape[1],) * 2 and np.array_equal(c2[: c.size], c) and not c2[c.size :].any()
    # with the partial sums set to their groups' terms, every original row has the same value
    x = np.random.default_rng(0).normal(size=a_matrix.shape[1])
    power = a_matrix[n_eq - ns : n_eq].tocsr()
    sums = [power[:, np.flatnonzero(zones // 2 == g)] @ x[zones // 2 == g] for g in range(3)]
    full_x = np.concatenate([x, *sums])
    original = a_matrix @ x
    value = a2 @ full_x
    np.testing.assert_allclose(value[:n_eq], original[:n_eq], atol=1e-9)
    np.testing.assert_allclose(value[n_eq : n_eq + n_new], 0.0, atol=1e-9)  # the group rows hold
    np.testing.assert_allclose(value[n_eq + n_new :], original[n_eq:], atol=1e-9)
    np.testing.assert_array_equal(b2[n_eq + n_new :], b[n_eq:])
    # one group: nothing to gain, the data stay as they are
    assert group_power_rows(p_matrix, c, a_matrix, b, cones, zones, ns, zones_per_group=5) is None
    with pytest.raises(ValueError, match="zones_per_group"):
        group_power_rows(p_matrix, c, a_matrix, b, cones, zones, ns, zones_per_group=0)


@pytest.mark.parametrize("name", ["one-state soft", "one-state hard", "two-state", "heating"])
@pytest.mark.parametrize("eliminate", [True, False])
def test_grouping_keeps_the_optimum(name, eliminate):
    problem = two_state_problem() if name == "two-state" else _problems()[name]
    assert problem.n_zones >= 3  # at least two groups of 2
    grouped = Planner(ClarabelBackend(zones_per_group=2, eliminate_inputs=eliminate)).solve(problem)
    plain = Planner(ClarabelBackend(zones_per_group=None, eliminate_inputs=eliminate)).solve(problem)
    assert grouped.status == plain.status == "optimal"
    assert grouped.total_cost_usd == pytest.approx(plain.total_cost_usd, rel=1e-4, abs=1e-3)
    assert grouped.peak_kw == pytest.approx(plain.peak_kw, rel=1e-3, abs=0.05)
    np.testing.assert_allclose(grouped.expected_temp_c, plain.expected_temp_c, atol=0.05)
    np.testing.assert_allclose(grouped.setpoint_c, plain.setpoint_c, atol=0.1)
    np.testing.assert_allclose(grouped.cooling_kw.sum(axis=0), plain.cooling_kw.sum(axis=0), atol=0.5)


def test_a_kept_grouped_solver_replans_in_place():
    planner = Planner(ClarabelBackend(zones_per_group=2))
    planner.solve(small_problem(n_zones=5))
    changed = small_problem(n_zones=5, initial_temp_c=26.5, demand_peak_so_far_kw=[30.0, 10.0])
    timings: dict[str, float] = {}
    warm = planner.solve(changed, timings=timings)
    fresh = Planner(ClarabelBackend(zones_per_group=None)).solve(changed)
    assert timings["solver_reused"] == 1.0
    assert warm.total_cost_usd == pytest.approx(fresh.total_cost_usd, rel=1e-4)
