"""Experiments: versioned config files run, swept and compared in MLflow, with an HTML report per run."""
