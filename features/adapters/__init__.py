"""Adapters: read a community's exports and yield raw rows in the canonical column names."""
