"""Models: churn and toxicity estimators, thresholds, explanations, MLflow tracking and the registry (no CLI or HTTP)."""
