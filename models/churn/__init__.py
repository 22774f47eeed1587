"""Churn: calibrated LightGBM and logistic models, plain-language reasons, MLflow pyfunc.

config (the experiment file), dataset (out-of-time splits over the member features),
estimators (LightGBM and scaled logistic regression with per-prediction contributions),
treeshap (LightGBM's pred_contrib by table lookup for small trees), calibration, metrics,
wording and reasons (contributions -> plain words + interventions), scorer (what a registered
model runs), train (fit + evaluate, no MLflow), runs (what a run logs), pyfunc, plots,
backtest (several validation dates). Nothing runs at import; the leakage replay guard is
test code (tests/support/leakage.py).
"""
