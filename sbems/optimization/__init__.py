"""Pure optimization: zone thermal models and the MPC as problem -> backend -> plan.

``problem.MpcProblem`` (validated arrays) -> ``mpc.Planner`` with a backend (``block_backend``: the block
interior point, the default; ``clarabel_backend``: direct sparse CLARABEL, its fallback; ``cvxpy_backend``:
the reference) -> ``plan.Plan`` (plain numpy/float data; no
solver object leaves this package). Needs no Prefect, database or site file.
"""
