"""The HTTP server: FastAPI routes, schemas, auth, the loaded models and the pages (never runs offline steps)."""
