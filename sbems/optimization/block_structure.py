"""The MPC problem condensed for the block interior point (``block_ipm``): per zone, the end-of-step air
temperatures as affine functions of the zone's own inputs (``air_response``), the inputs' bounds and costs,
and the few rows that couple the zones (the demand peaks).

Per zone the inputs ``u`` are (n_in x n_steps, input-major): cooling q, then heat-pump heating h and backup r
when any zone has them; net cooling is ``q - h - r``. The building kW is not a variable: its energy cost is
folded into the inputs' linear cost and each peak row reads ``sum_z E[z,k] u_z - peak_m <= -fan[k]``. Inputs
whose upper bound is 0 (unavailable cooling or heating) are fixed at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbems.optimization.clarabel_backend import RIDGE_USD_PER_KW2
from sbems.optimization.problem import MpcProblem


@dataclass
class Structure:
    """The condensed problem: per-zone dense blocks and the coupling rows (built once per problem)."""

    nz: int
    ns: int
    n_in: int
    signs: np.ndarray  # (n_in,) +1 cooling, -1 heating: net cooling v = sum_i signs[i] u_i
    gamma: np.ndarray  # (nz, ns, ns) end-of-step air temperature response to net cooling kW
    t_free: np.ndarray  # (nz, ns) air temperature with no HVAC input
    cap: np.ndarray  # (nz, n_u) upper bounds of the inputs
    free: np.ndarray  # (nz, n_u) bool: inputs that are decisions (upper bound > 0)
    p_shared: np.ndarray  # (n_u, n_u) quadratic cost (smoothing and ridge), the same for every zone
    c_u: np.ndarray  # (nz, n_u) linear cost of the inputs (energy)
    c_e: np.ndarray  # (ns,) comfort penalty per K of slack and step
    soft: bool
    ramp_up: np.ndarray  # (nz, ns) bound of q[k] - q[k-1] (q[-1]: the current cooling folded in)
    ramp_down: np.ndarray  # (nz, ns) bound of q[k-1] - q[k]
    low: np.ndarray  # (nz, ns) comfort band
    high: np.ndarray
    e_coef: np.ndarray  # (nz, n_in, ns) building kW per input kW (1/COP or 1, plus the idle fan's share)
    cp_step: np.ndarray  # (ncp,) step of each coupling row
    cp_charge: np.ndarray  # (ncp,) charge (peak variable) of each coupling row
    cp_rhs: np.ndarray  # (ncp,) -fan kW at the row's step
    g_v: np.ndarray  # (npv, nv) rows on the peak variables alone
    h_v: np.ndarray  # (npv,)
    c_v: np.ndarray  # (nv,)
    two_state: bool
    a_next: np.ndarray  # (nz, ns): a_frac of the next step (0 after the last): one-state propagation

    @property
    def n_u(self) -> int:
        return self.n_in * self.ns


def air_response(problem: MpcProblem) -> tuple[np.ndarray, np.ndarray]:
    """(gamma, t_free): end-of-step air temperature = t_free + gamma @ net cooling kW, per zone (exact for the
    one- and two-state models with per-step coefficients, as ``clarabel_data`` writes them)."""
    nz, ns = problem.n_zones, problem.n_steps
    a, b = problem.a_frac, problem.b_cool_c_per_kw
    two = problem.two_state
    am, ma, mm, bm = (
        problem.air_from_mass_frac,
        problem.mass_from_air_frac,
        problem.mass_frac,
        problem.mass_b_cool_c_per_kw,
    )
    d, dm = problem.disturbance_delta_c, problem.mass_delta_c
    gamma = np.zeros((nz, ns, ns))
    mass = np.zeros((nz, ns, ns)) if two else None
    t_free = np.zeros((nz, ns))
    t_prev, m_prev = problem.initial_temp_c.copy(), problem.initial_mass_temp_c.copy()
    for k in range(ns):
        t_now = a[:, k] * t_prev + d[:, k]
        if two:
            t_now = t_now + am[:, k] * m_prev
            m_prev = ma[:, k] * t_prev + mm[:, k] * m_prev + dm[:, k]
        t_free[:, k], t_prev = t_now, t_now
        gamma[:, k, k] = b[:, k]
        if k:
            gamma[:, k, :k] = a[:, k, None] * gamma[:, k - 1, :k]
            if two:
                gamma[:, k, :k] += am[:, k, None] * mass[:, k - 1, :k]
                mass[:, k, :k] = ma[:, k, None] * gamma[:, k - 1, :k] + mm[:, k, None] * mass[:, k - 1, :k]
        if two:
            mass[:, k, k] = bm[:, k]
    return gamma, t_free


def build_structure(problem: MpcProblem) -> Structure:
    """The condensed, block-structured form of ``problem``."""
    nz, ns, nm = problem.n_zones, problem.n_steps, problem.n_charges
    per_cool, per_heat_pump, per_backup = problem.electric_kw_per_kw
    caps = [problem.cooling_cap_kw]
    signs, e_coef = [1.0], [per_cool]
    if np.any(problem.heat_pump_cap_kw > 0):
        caps.append(problem.heat_pump_cap_kw)
        signs.append(-1.0)
        e_coef.append(per_heat_pump)
    if np.any(problem.backup_cap_kw > 0):
        caps.append(problem.backup_cap_kw)
        signs.append(-1.0)
        e_coef.append(per_backup)
    n_in = len(caps)
    cap = np.concatenate(caps, axis=1)
    gamma, t_free = air_response(problem)
    dt_h = problem.step_h_per_step
    energy = problem.price_usd_per_kwh * dt_h
    c_u = np.concatenate([energy[None, :] * coef for coef in e_coef], axis=1)
    has_heat_pump = bool(np.any(problem.heat_pump_cap_kw > 0))
    p_shared = _quadratic_cost(ns, n_in, problem.smoothing_usd_per_kw2, has_heat_pump)
    ramp = problem.ramp_bound_kw
    q_prev = problem.previous_cooling_kw
    ramp_up, ramp_down = ramp.copy(), ramp.copy()
    ramp_up[:, 0] += q_prev
    ramp_down[:, 0] -= q_prev
    steps, charges = np.nonzero(problem.demand_masks.T)  # rows ordered by step
    fan = problem.fan_kw.sum(axis=0)
    below = problem.demand_below_floor_frac if nm else 0.0
    floor, rates = problem.demand_peak_floor_kw, problem.demand_rates_usd_per_kw
    if below > 0:  # v = (peaks, billed): billed >= floor, billed >= peak, peak >= 0
        eye, zero = np.eye(nm), np.zeros((nm, nm))
        g_v = np.block([[zero, -eye], [eye, -eye], [-eye, zero]])
        h_v = np.concatenate([-floor, np.zeros(2 * nm)])
        c_v = np.concatenate([below * rates, (1.0 - below) * rates])
    else:
        g_v, h_v, c_v = -np.eye(nm), -floor, rates.astype(float)
    return Structure(
        nz=nz,
        ns=ns,
        n_in=n_in,
        signs=np.asarray(signs),
        gamma=gamma,
        t_free=t_free,
        cap=cap,
        free=cap > 0,
        p_shared=p_shared,
        c_u=c_u,
        c_e=problem.comfort_penalty_usd_per_kh * dt_h,
        soft=not problem.hard_comfort,
        ramp_up=ramp_up,
        ramp_down=ramp_down,
        low=problem.comfort_min_c,
        high=problem.comfort_max_c,
        e_coef=np.stack(e_coef, axis=1),
        cp_step=steps,
        cp_charge=charges,
        cp_rhs=-fan[steps],
        g_v=g_v,
        h_v=h_v,
        c_v=c_v,
        two_state=problem.two_state,
        a_next=np.concatenate([problem.a_frac[:, 1:], np.zeros((nz, 1))], axis=1),
    )


def _quadratic_cost(ns: int, n_in: int, smoothing: float, has_heat_pump: bool) -> np.ndarray:
    """P of 0.5 u'Pu: w * sum of squared step changes of cooling (and heat-pump heating) + ridge on all."""
    p = np.eye(n_in * ns) * 2.0 * RIDGE_USD_PER_KW2
    diff = np.diff(np.eye(ns), axis=0)  # (ns-1, ns): u[k+1] - u[k]
    smooth = 2.0 * smoothing * diff.T @ diff
    p[:ns, :ns] += smooth
    if has_heat_pump:
        p[ns : 2 * ns, ns : 2 * ns] += smooth
    return p
