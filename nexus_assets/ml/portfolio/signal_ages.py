"""How long a signal counts: the one rule of the allocation asset and the replay."""

STANDING_SIGNAL_MAX_AGE_BARS = 63
"""A strategy's newest trade event stands (an entry without exit is a live view) this long."""
FRESH_SIGNAL_MAX_AGE_BARS = 5
"""Only signals this recent are checked by the anomaly detector's signal rules (as incoming)."""
