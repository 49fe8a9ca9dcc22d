"""Pure computation shared by the batch pipeline and the decision service.

Nothing under this package may import Dagster or FastAPI: serving imports it, and one
implementation of every feature and rule is what keeps training and serving in step.
"""
