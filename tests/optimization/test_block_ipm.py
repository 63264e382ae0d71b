"""The block interior point (block_ipm, BlockBackend) states the same problem as the direct CLARABEL
backend: its operators are exact (G and G' adjoint, the Newton solve through the per-zone blocks and the
bordered coupling system solves P + G'WG), and it reaches the same optimum on every kind of problem the
planner builds (soft and hard comfort, demand charges with and without a billed floor, none at all,
heating with heat pump and backup, unavailable equipment, one- and two-state zones, move-blocked steps).
What it cannot solve goes to CLARABEL, and the plan says so."""

import numpy as np
import pytest

from sbems.optimization.block_backend import BlockBackend
from sbems.optimization.block_ipm import solve_block
from sbems.optimization.block_newton import BlockIpm, Point
from sbems.optimization.block_structure import build_structure
from sbems.optimization.clarabel_backend import ClarabelBackend
from sbems.optimization.mpc import Planner, backend_for
from sbems.optimization.problem import MpcProblem, comfort_bands, cop_from_outdoor_c, move_block_steps
from sbems.optimization.zone_model import ZoneModelParams
from tests.optimization.test_backends import objective_usd, small_problem
from tests.optimization.test_heating import objective_usd as heating_objective_usd
from tests.optimization.test_heating import winter_problem
from tests.optimization.test_power_row_groups import bench_rc2_models


def blocked_problem(n_zones: int, two_state: bool, seed: int = 4) -> MpcProblem:
    """A hot day of 15-min steps decided in move blocks, built from zone models (as the planner does)."""
    rng = np.random.default_rng(seed)
    lengths = move_block_steps(96)
    starts_h = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * 0.25
    outdoor = 31 + 5 * np.sin((starts_h + lengths * 0.125 - 9) / 24 * 2 * np.pi)
    occupied = (starts_h >= 7) & (starts_h < 19)
    on_peak = (starts_h >= 16) & (starts_h < 21)
    low, high = comfort_bands(np.broadcast_to(occupied, (n_zones, len(lengths))))
    if two_state:
        models = bench_rc2_models(rng, n_zones)
        extra = {"initial_mass_temp_c": rng.uniform(24, 27, n_zones)}
    else:
        models = [
            ZoneModelParams(
                float(rng.uniform(0.95, 0.98)),
                -float(rng.uniform(0.015, 0.03)),
                (0.002,),
                0.02,
                900.0,
                ("occupancy_count",),
            )
            for _ in range(n_zones)
        ]
        extra = {}
    gains = {"occupancy_count": np.where(occupied, 30.0, 0.0), "occupied": occupied.astype(float)}
    return MpcProblem.from_models(
        models,
        gains,
        step_s=900.0,
        step_durations_s=lengths * 900.0,
        initial_temp_c=rng.uniform(24, 28, n_zones),
        comfort_min_c=low,
        comfort_max_c=high,
        capacity_kw=rng.uniform(25, 60, n_zones),
        ramp_kw_per_step=20.0,
        initial_cooling_kw=rng.uniform(0, 10, n_zones),
        outdoor_temp_c=outdoor,
        price_usd_per_kwh=np.where(on_peak, 0.32, 0.12),
        cop=cop_from_outdoor_c(outdoor),
        baseline_setpoint_c=np.where(occupied, 23.0, 28.0),
        demand_masks=np.vstack([np.ones(len(lengths), dtype=bool), on_peak]),
        demand_rates_usd_per_kw=[18.0, 9.0],
        fan_kw=0.5,
        **extra,
    )


HOURS = np.arange(24)
CASES = {
    "soft comfort": lambda: small_problem(initial_cooling_kw=5.0),
    "hard comfort": lambda: small_problem(hard_comfort=True, initial_cooling_kw=5.0),
    "billed floor": lambda: small_problem(
        demand_below_floor_frac=0.3, demand_peak_so_far_kw=40.0, demand_peak_backoff_kw=5.0
    ),
    "no demand charges": lambda: small_problem(
        demand_masks=np.zeros((0, 24), dtype=bool), demand_rates_usd_per_kw=[]
    ),
    "winter": lambda: winter_problem(),
    "winter, equipment unavailable": lambda: winter_problem(
        heating_available=np.tile(HOURS >= 5, (3, 1)), cooling_available=np.tile(HOURS >= 10, (3, 1))
    ),
    "winter, backup heat only": lambda: winter_problem(heating_capacity_kw=0.0),
    "one-state, move-blocked": lambda: blocked_problem(12, two_state=False),
    "two-state, move-blocked": lambda: blocked_problem(12, two_state=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_block_backend_reaches_clarabels_optimum(case):
    problem = CASES[case]()
    timings: dict[str, float] = {}
    block = Planner(BlockBackend()).solve(problem, timings)
    direct = Planner(ClarabelBackend()).solve(problem)
    assert block.ok and direct.ok, (block.reason, direct.reason)
    assert timings["fallback"] == 0.0  # solved by the block interior point itself
    assert block.solver == "BLOCK-IPM"
    objective = heating_objective_usd if problem.has_heating else objective_usd
    assert objective(problem, block) == pytest.approx(objective(problem, direct), rel=1e-5, abs=1e-4)
    assert block.peak_kw == pytest.approx(direct.peak_kw, rel=1e-3, abs=0.05)
    assert block.discomfort_kh == pytest.approx(direct.discomfort_kh, abs=1e-3)
    cap = problem.cooling_cap_kw
    assert np.all(block.cooling_kw >= -1e-6) and np.all(block.cooling_kw <= cap + 1e-6)
    if problem.has_heating:
        assert np.all(block.backup_heat_kw <= problem.backup_cap_kw + 1e-6)
        assert np.all(block.heat_pump_kw <= problem.heat_pump_cap_kw + 1e-6)


def test_operators_are_adjoint_and_the_newton_solve_is_exact():
    problem = winter_problem(
        demand_masks=np.vstack([np.ones(24, dtype=bool), (HOURS >= 16) & (HOURS < 21)]),
        demand_rates_usd_per_kw=[15.0, 5.0],
        demand_below_floor_frac=0.2,
        demand_peak_so_far_kw=[30.0, 10.0],
        heating_available=np.tile(HOURS >= 3, (3, 1)),
    )
    st = build_structure(problem)
    assert st.n_in == 3 and not st.free.all()  # cooling, heat pump, backup; some inputs fixed at 0
    ipm = BlockIpm(st)
    rng = np.random.default_rng(0)
    x = Point(rng.normal(size=(st.nz, st.n_u)) * st.free, rng.normal(size=(st.nz, st.ns)), rng.normal(size=4))
    lam = rng.normal(size=ipm.rows.size) * ipm.rows.active
    assert np.dot(ipm.apply_g(x), lam) == pytest.approx(ipm.dot(x, ipm.apply_gt(lam)), rel=1e-12)
    weights = rng.uniform(1e-3, 1e3, ipm.rows.size) * ipm.rows.active
    d = ipm.solve(ipm.factor(weights), x)
    # (P + G'WG) d == x on every free input, slack and peak variable
    applied = ipm.quad(d)
    gtwg = ipm.apply_gt(weights * ipm.apply_g(d))
    np.testing.assert_allclose((applied.u + gtwg.u) * st.free, x.u, atol=1e-7)
    np.testing.assert_allclose(applied.e + gtwg.e, x.e, atol=1e-7)
    np.testing.assert_allclose(applied.v + gtwg.v, x.v, atol=1e-7)


def test_temperature_response_is_the_models_own():
    """The condensed temperatures (t_free + gamma @ net cooling) equal the plan's simulated temperatures."""
    for two_state in (False, True):
        problem = blocked_problem(4, two_state=two_state)
        plan = Planner(BlockBackend()).solve(problem)
        st = build_structure(problem)
        condensed = st.t_free + np.einsum("zkj,zj->zk", st.gamma, plan.cooling_kw)
        np.testing.assert_allclose(condensed, plan.expected_temp_c, atol=1e-8)


def test_what_the_block_solve_cannot_do_goes_to_clarabel_and_the_plan_says_so():
    infeasible = small_problem(initial_temp_c=32.0, capacity_kw=0.5, hard_comfort=True)
    timings: dict[str, float] = {}
    plan = Planner(BlockBackend(max_iterations=30)).solve(infeasible, timings)
    assert plan.status == "infeasible" and timings["fallback"] == 1.0
    problem = small_problem()
    _, result = solve_block(problem, max_iterations=2)
    assert result.status == "failed" and result.inputs is None
    timings = {}
    plan = Planner(BlockBackend(max_iterations=2)).solve(problem, timings)
    assert plan.ok and plan.solver == "CLARABEL" and timings["fallback"] == 1.0


def test_backend_for_block():
    backend = backend_for("CLARABEL", "block")
    assert isinstance(backend, BlockBackend) and isinstance(backend.fallback, ClarabelBackend)
    with pytest.raises(ValueError, match="backend must be one of"):
        backend_for("CLARABEL", "sparse")
