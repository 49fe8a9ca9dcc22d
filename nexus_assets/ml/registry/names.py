"""Registered model names: a public interface (serving and operators refer to them)."""

PREDICTOR_MODEL = "trade-nexus-predictor"
VOLATILITY_MODEL = "trade-nexus-volatility"
ANOMALY_MODEL = "trade-nexus-anomaly"
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
GATE_TAG_PREFIX = "gate."
"""The promotion gate's verdict on a version is kept in its tags under this prefix."""
