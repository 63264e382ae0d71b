"""The Newton systems of the block interior point (``block_ipm``): the inequality rows of the condensed
problem (``block_structure``), the operators G and G', and the solve of (P + G' W G) d = r.

That matrix is block-arrow shaped: one dense block per zone (its inputs; the comfort slacks are eliminated
exactly, their block being diagonal) plus a low-rank term from the demand-peak rows. Each zone's block is
Jacobi-scaled and Cholesky-factorised in one batched call; the peak rows and the peak variables form a small
bordered system ``[[W^-1 + C B^-1 C', S], [S', -H_v]]`` (C B^-1 C' summed over zones in one product), so the
work grows linearly with the zones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import lu_factor, lu_solve
from scipy.linalg.lapack import dtrtri

from sbems.optimization.block_structure import Structure

REGULARIZATION = 1e-9  # added to every block's diagonal
RECURSION_MIN_ZONES = 200  # from this many one-state zones, gamma products by recursion over the steps
REFINE_TOL = 1e-10  # iterative refinement stops at this residual relative to the right-hand side


class Rows:
    """The inequality rows in one flat vector: per-zone groups (lo, up: the inputs' bounds; ru, rd: ramps;
    cl, ch: comfort; e0: slacks >= 0), then the coupling rows (cp) and the peak-variable rows (pv)."""

    def __init__(self, st: Structure) -> None:
        nz, ns, n_u = st.nz, st.ns, st.n_u
        sizes = {"lo": nz * n_u, "up": nz * n_u, "ru": nz * ns, "rd": nz * ns, "cl": nz * ns, "ch": nz * ns}
        if st.soft:
            sizes["e0"] = nz * ns
        sizes["cp"], sizes["pv"] = st.cp_step.size, st.h_v.size
        self.slices: dict[str, slice] = {}
        start = 0
        for name, size in sizes.items():
            self.slices[name] = slice(start, start + size)
            start += size
        self.size = start
        self.active = np.ones(start, dtype=bool)
        self.active[self.slices["lo"]] = st.free.ravel()
        self.active[self.slices["up"]] = st.free.ravel()
        h = np.zeros(start)
        h[self.slices["up"]] = st.cap.ravel()
        h[self.slices["ru"]] = st.ramp_up.ravel()
        h[self.slices["rd"]] = st.ramp_down.ravel()
        h[self.slices["cl"]] = (st.t_free - st.low).ravel()
        h[self.slices["ch"]] = (st.high - st.t_free).ravel()
        h[self.slices["cp"]] = st.cp_rhs
        h[self.slices["pv"]] = st.h_v
        self.h = np.where(self.active, h, 0.0)

    def part(self, vector: np.ndarray, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        piece = vector[self.slices[name]]
        return piece if shape is None else piece.reshape(shape)


@dataclass
class Point:
    u: np.ndarray  # (nz, n_u)
    e: np.ndarray  # (nz, ns); zeros (unused) for hard comfort
    v: np.ndarray  # (nv,)

    def axpy(self, alpha: float, d: Point) -> Point:
        return Point(self.u + alpha * d.u, self.e + alpha * d.e, self.v + alpha * d.v)


class BlockIpm:
    """The condensed problem's rows, operators G and G', cost and Newton solves; one instance per problem
    (``block_ipm.run_ipm`` iterates with it)."""

    def __init__(self, st: Structure) -> None:
        self.st, self.rows = st, Rows(st)
        # building kW per input kW at each step, zero where the input is fixed: (nz, n_in, ns)
        self.e_zone = st.e_coef * st.free.reshape(st.nz, st.n_in, st.ns)
        self.all_free = bool(st.free.all())
        self.sign_cols = np.repeat(st.signs, st.ns)  # the sign of each input column in the net cooling
        self.p_diag = np.diagonal(st.p_shared).copy()  # one input kind: P's diagonal and sub-diagonal suffice
        self.p_sub = np.diagonal(st.p_shared, offset=-1)[: st.ns - 1].copy()
        self.two_state = problem_two_state = bool(st.two_state)
        # gamma products by recursion over the steps (one-state zones) once the zones make the per-step numpy
        # calls cheaper than the (steps x steps) products
        self.recursive = not problem_two_state and st.nz >= RECURSION_MIN_ZONES
        if not problem_two_state:  # for gamma' D gamma in closed form (one-state zones)
            self.b_diag = np.diagonal(st.gamma, axis1=1, axis2=2).copy()
            self.a_next, self.a_next_sq = st.a_next, st.a_next**2
            self.a_now = np.concatenate([np.zeros((st.nz, 1)), st.a_next[:, :-1]], axis=1)

    # --- the operators G, G' and the cost -------------------------------------------------------------
    def net(self, u: np.ndarray) -> np.ndarray:
        st = self.st
        return np.einsum("i,zik->zk", st.signs, u.reshape(st.nz, st.n_in, st.ns))

    def apply_g(self, x: Point) -> np.ndarray:
        st, rows = self.st, self.rows
        out = np.zeros(rows.size)
        q = x.u[:, : st.ns]
        dq = np.diff(q, axis=1, prepend=0.0)
        temp = self.response(self.net(x.u))
        out[rows.slices["lo"]] = -x.u.ravel()
        out[rows.slices["up"]] = x.u.ravel()
        out[rows.slices["ru"]] = dq.ravel()
        out[rows.slices["rd"]] = -dq.ravel()
        out[rows.slices["cl"]] = (-temp - x.e).ravel()
        out[rows.slices["ch"]] = (temp - x.e).ravel()
        if st.soft:
            out[rows.slices["e0"]] = -x.e.ravel()
        building = np.einsum("zik,zik->k", self.e_zone, x.u.reshape(st.nz, st.n_in, st.ns))
        out[rows.slices["cp"]] = building[st.cp_step] - x.v[st.cp_charge]
        out[rows.slices["pv"]] = st.g_v @ x.v
        return out if self.all_free else np.where(rows.active, out, 0.0)

    def apply_gt(self, lam: np.ndarray) -> Point:
        st, rows = self.st, self.rows
        nz, ns = st.nz, st.ns
        shape = (nz, ns)
        lam = np.where(rows.active, lam, 0.0)
        gu = rows.part(lam, "up", (nz, st.n_u)) - rows.part(lam, "lo", (nz, st.n_u))
        y = rows.part(lam, "ru", shape) - rows.part(lam, "rd", shape)
        gu[:, :ns] += y - np.concatenate([y[:, 1:], np.zeros((nz, 1))], axis=1)  # D'y
        cl, ch = rows.part(lam, "cl", shape), rows.part(lam, "ch", shape)
        back = self.response_t(ch - cl)  # gamma'(ch - cl)
        gu += back if st.n_in == 1 else self.sign_cols[None, :] * np.tile(back, (1, st.n_in))
        per_step = np.bincount(st.cp_step, rows.part(lam, "cp"), minlength=ns)
        gu += (self.e_zone * per_step[None, None, :]).reshape(nz, st.n_u)
        ge = -cl - ch - (rows.part(lam, "e0", shape) if st.soft else 0.0)
        gv = st.g_v.T @ rows.part(lam, "pv") - np.bincount(
            st.cp_charge, rows.part(lam, "cp"), minlength=st.c_v.size
        )
        return Point(gu * st.free, ge if st.soft else np.zeros(shape), gv)

    def quad(self, x: Point) -> Point:
        return Point(x.u @ self.st.p_shared * self.st.free, np.zeros_like(x.e), np.zeros_like(x.v))

    def linear(self) -> Point:
        st = self.st
        ce = np.broadcast_to(st.c_e, (st.nz, st.ns)) if st.soft else np.zeros((st.nz, st.ns))
        return Point(st.c_u * st.free, np.array(ce, dtype=float), st.c_v)

    @staticmethod
    def dot(a: Point, b: Point) -> float:
        return float(np.vdot(a.u, b.u) + np.vdot(a.e, b.e) + np.vdot(a.v, b.v))

    # --- the Newton system --------------------------------------------------------------------------
    def factor(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Factor P + G' diag(w) G: per-zone inverses (comfort slacks eliminated), the peak block, the
        Schur complement on the coupling rows."""
        st, rows = self.st, self.rows
        nz, ns, n_u, n_in = st.nz, st.ns, st.n_u, st.n_in
        shape = (nz, ns)
        w = np.where(rows.active, w, 0.0)
        wcl, wch = rows.part(w, "cl", shape), rows.part(w, "ch", shape)
        if st.soft:
            wee = wcl + wch + rows.part(w, "e0", shape)
            wue = wcl - wch
            # wcl + wch - wue^2/wee, written without the cancellation when one row's weight dominates
            dcomf = (4.0 * wcl * wch + (wcl + wch) * rows.part(w, "e0", shape)) / wee
        else:
            wee, wue, dcomf = np.ones(shape), np.zeros(shape), wcl + wch
        # the lower triangle of B (all that the Cholesky factorisation reads)
        m = self._gamma_weighted(dcomf)  # gamma' diag(dcomf) gamma per zone (lower triangle)
        idx, k = np.arange(n_u), np.arange(ns)
        if n_in == 1:
            b = m
            b[:, idx, idx] += self.p_diag
            b[:, k[1:], k[:-1]] += self.p_sub
        else:
            if not self.two_state:  # the whole of gamma' D gamma: its blocks above the diagonal are read too
                m = m + np.tril(m, -1).transpose(0, 2, 1)
            signs = np.outer(st.signs, st.signs)
            b = (signs[None, :, None, :, None] * m[:, None, :, None, :]).reshape(nz, n_u, n_u)
            b += st.p_shared[None]
        b[:, idx, idx] += rows.part(w, "lo", (nz, n_u)) + rows.part(w, "up", (nz, n_u)) + REGULARIZATION
        wr = rows.part(w, "ru", shape) + rows.part(w, "rd", shape)  # D' diag(wr) D on q
        b[:, k, k] += wr
        b[:, k[:-1], k[:-1]] += wr[:, 1:]
        b[:, k[1:], k[:-1]] -= wr[:, 1:]
        if not self.all_free:
            fixed = ~st.free
            b = np.where(fixed[:, :, None] | fixed[:, None, :], 0.0, b)
            b[:, idx, idx] += fixed
        scale = 1.0 / np.sqrt(b[:, idx, idx])  # Jacobi scaling: the barrier's weights span ~1e16
        b *= scale[:, :, None]
        b *= scale[:, None, :]
        chol = np.linalg.cholesky(b)
        linv = _lower_inverse(chol) * scale[:, None, :]  # B^-1 = linv' linv
        nv = st.c_v.size
        hv = st.g_v.T @ (rows.part(w, "pv")[:, None] * st.g_v) + REGULARIZATION * np.eye(nv)
        out = {"linv": linv, "hv": hv, "wee": wee, "wue": wue}
        ncp = st.cp_step.size
        if ncp:  # bordered system in (coupling duals y, peaks dv): [[W^-1 + C Binv C', Sel], [Sel', -Hv]]
            # C Binv C' summed over zones = Y'Y, Y_z = linv_z E_z' (the zone's kW per step), one GEMM
            y = np.einsum("zjik,zik->zjk", linv.reshape(nz, n_u, n_in, ns), self.e_zone)
            qm = y.reshape(nz * n_u, ns).T @ y.reshape(nz * n_u, ns)
            wcp = rows.part(w, "cp")
            rows_cp = np.arange(ncp)
            border = np.zeros((ncp + nv, ncp + nv))
            border[:ncp, :ncp] = qm[np.ix_(st.cp_step, st.cp_step)]
            border[rows_cp, rows_cp] += 1.0 / np.maximum(wcp, 1e-300)
            border[rows_cp, ncp + st.cp_charge] = 1.0
            border[ncp + st.cp_charge, rows_cp] = 1.0
            border[ncp:, ncp:] = -hv
            out["border"] = lu_factor(border)
        return out

    def response(self, net: np.ndarray) -> np.ndarray:
        """gamma @ net per zone: (nz, ns) -> (nz, ns); many one-state zones by the recursion
        t_k = a_k t_k-1 + b_k v_k."""
        if not self.recursive:
            return np.matmul(self.st.gamma, net[:, :, None])[:, :, 0]
        out = self.b_diag * net
        for k in range(1, self.st.ns):
            out[:, k] += self.a_now[:, k] * out[:, k - 1]
        return out

    def response_t(self, y: np.ndarray) -> np.ndarray:
        """gamma' @ y per zone; one-state zones by the backward recursion rho_j = y_j + a_j+1 rho_j+1."""
        if not self.recursive:
            return np.matmul(y[:, None, :], self.st.gamma)[:, 0, :]
        rho = y.astype(float, copy=True)
        for j in range(self.st.ns - 2, -1, -1):
            rho[:, j] += self.a_next[:, j] * rho[:, j + 1]
        return self.b_diag * rho

    def _gamma_weighted(self, weight: np.ndarray) -> np.ndarray:
        """gamma' diag(weight) gamma per zone (its lower triangle; the upper may hold anything).

        One-state zones: gamma[k, j] = b_j a_{j+1}..a_k, so the product is b_i R_i gamma[i, j] below the
        diagonal, with R_i = sum_{k>=i} weight_k (a_{i+1}..a_k)^2 from a backward recursion: O(steps^2) per
        zone instead of a matrix product."""
        st = self.st
        if self.two_state:
            return np.matmul(st.gamma.transpose(0, 2, 1), st.gamma * weight[:, :, None])
        r = np.empty_like(weight)
        r[:, -1] = weight[:, -1]
        for i in range(st.ns - 2, -1, -1):
            r[:, i] = weight[:, i] + self.a_next_sq[:, i] * r[:, i + 1]
        return (self.b_diag * r)[:, :, None] * st.gamma  # rows i, columns j <= i; above: zero

    def solve(self, f: dict[str, np.ndarray], r: Point) -> Point:
        """(P + G'WG) d = r with the factors ``f``."""
        st = self.st
        ru = r.u
        if st.soft:  # eliminate the comfort slacks: r_u -= H_ue H_ee^-1 r_e
            ru = ru - self._h_ue(f["wue"] * r.e / f["wee"])
        linv = f["linv"]
        yu = _apply_inverse(linv, ru)
        ncp = st.cp_step.size
        if ncp:
            building = np.einsum("zik,zik->k", self.e_zone, yu.reshape(st.nz, st.n_in, st.ns))
            solved = lu_solve(f["border"], np.concatenate([building[st.cp_step], -r.v]))
            a = np.bincount(st.cp_step, solved[:ncp], minlength=st.ns)
            yu = yu - _apply_inverse(linv, (self.e_zone * a[None, None, :]).reshape(st.nz, st.n_u))
            yv = solved[ncp:]
        else:
            yv = np.linalg.solve(f["hv"], r.v) if r.v.size else r.v.copy()
        yu = yu * st.free
        de = (r.e - f["wue"] * self._temp(yu)) / f["wee"] if st.soft else np.zeros_like(r.e)
        return Point(yu, de, yv)

    def solve_refined(self, f: dict[str, np.ndarray], w: np.ndarray, r: Point, passes: int = 8) -> Point:
        """``solve`` plus iterative refinement against the exact operator P + G'WG."""
        d = self.solve(f, r)
        best, best_d = np.inf, d
        for _ in range(passes):
            applied = combine(self.quad(d), self.apply_gt(w * self.apply_g(d)), 1.0)
            residual = combine(r, applied, -1.0)
            size = inf_norm(residual)
            if size < best:
                best, best_d = size, d
            if size > 4.0 * best or size <= REFINE_TOL * max(1.0, inf_norm(r)):
                break  # diverging (keep the best) or done
            d = combine(d, self.solve(f, residual), 1.0)
        d = best_d
        return d

    def _temp(self, u: np.ndarray) -> np.ndarray:
        return self.response(self.net(u))

    def _h_ue(self, y: np.ndarray) -> np.ndarray:
        """K' gamma' y per zone: (nz, ns) -> (nz, n_u)."""
        st = self.st
        back = self.response_t(y)
        return back if st.n_in == 1 else self.sign_cols[None, :] * np.tile(back, (1, st.n_in))


def _lower_inverse(chol: np.ndarray) -> np.ndarray:
    """The inverses of the zones' lower-triangular Cholesky factors (LAPACK's dtrtri per zone)."""
    out = np.empty_like(chol)
    for z in range(chol.shape[0]):
        out[z], info = dtrtri(chol[z], lower=1)
        if info:
            raise np.linalg.LinAlgError(f"zone block {z}: singular factor")
    return out


def _apply_inverse(linv: np.ndarray, r: np.ndarray) -> np.ndarray:
    """B^-1 r per zone for B^-1 = linv' linv."""
    inner = np.matmul(linv, r[:, :, None])
    return np.matmul(linv.transpose(0, 2, 1), inner)[:, :, 0]


def combine(a: Point, b: Point, beta: float) -> Point:
    """a + beta * b."""
    return Point(a.u + beta * b.u, a.e + beta * b.e, a.v + beta * b.v)


def inf_norm(p: Point) -> float:
    return float(
        max(np.abs(p.u).max(initial=0.0), np.abs(p.e).max(initial=0.0), np.abs(p.v).max(initial=0.0))
    )
