"""Market data sources that produce the canonical bar table (no Dagster imports)."""
