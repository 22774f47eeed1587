"""Stored scores: the at-risk table (location, publish, read, filter) and its exports."""
