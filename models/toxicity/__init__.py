"""Toxicity classifiers for English and Chinese posts: linear and MiniLM, with thresholds and spans."""

REGISTERED_MODEL = "steward-toxicity"
CHAMPION_URI = f"models:/{REGISTERED_MODEL}@champion"
