"""Churn steps: train and register a model, score every member into the at-risk table (locally or on Spark)."""
