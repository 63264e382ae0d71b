"""Prefect tasks: thin wrappers, one side effect or one heavy pure step each."""
