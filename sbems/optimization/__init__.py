"""Pure optimization: zone thermal models and the cvxpy MPC (problem -> build -> solve -> plan).

No cvxpy object leaves this package; plans are plain numpy/float data.
"""
