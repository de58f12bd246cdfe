# Analytics reads what sequences writes and will keep only its own rollups here (see docs/architecture.md).
