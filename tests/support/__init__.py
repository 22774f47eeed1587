"""Helpers shared by several test modules (never imported by steward itself)."""
