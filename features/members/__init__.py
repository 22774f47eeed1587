"""Member features and churn labels: the definition, its SQL, the DuckDB/NumPy/Spark engines and the feature store."""
