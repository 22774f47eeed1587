"""Data: schemas, adapters, the lake, member features, stored scores and text logic (no models, CLI or HTTP)."""
