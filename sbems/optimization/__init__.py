"""Pure optimization: zone thermal models and the MPC as problem -> backend -> plan.

``problem.MpcProblem`` (validated arrays) -> ``mpc.Planner`` with a backend (``clarabel_backend``: direct
sparse CLARABEL, the default; ``cvxpy_backend``: the reference) -> ``plan.Plan`` (plain numpy/float data; no
solver object leaves this package). Needs no Prefect, database or site file.
"""
