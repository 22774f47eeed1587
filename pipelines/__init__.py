"""Offline steps (ingest, features, train, score, experiments) and the steward CLI."""
