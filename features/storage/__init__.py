"""Storage helpers every writer shares: the artifact catalog, one lock, one atomic publish, failpoints."""
