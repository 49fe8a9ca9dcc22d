"""The decision pipeline behind both decision routes, with no HTTP in it.

``request_bars`` checks a request's bars, ``model_views`` runs the champions on them,
``policy_step`` turns what they say into the policy's decision, and ``pipeline`` owns the pass
over many requests (idempotency, news, shared risk state, audit); ``micro_batch`` gathers the
single requests that arrive together. Tests and tools call it directly; the routers only
translate HTTP.
"""

from nexus_serving.decisions.pipeline import MICRO_BATCH_MAX, DecisionPipeline, PendingDecision
from nexus_serving.decisions.request_bars import InvalidInputError

__all__ = ["MICRO_BATCH_MAX", "DecisionPipeline", "InvalidInputError", "PendingDecision"]
