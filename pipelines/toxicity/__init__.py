"""Toxicity steps: train, evaluate, register and score posts."""
