"""Pure computation shared by the batch pipeline and the decision service.

One subpackage per component (``anomaly``, ``predictor``, ``volatility``, ``optimizer``,
``portfolio``, ``backtest``, ``sentiment``, ``review``, ``registry``, ``lifecycle``); the shared
building blocks (``bars``, ``windows``, ``features`` and their compiled kernels, ``quality``,
``plots``) sit here. Nothing under this package imports Dagster, FastAPI, an HTTP client or
an LLM client: serving imports it, and one implementation of every feature and rule is what
keeps training and serving in step. MLflow is imported by ``registry`` and ``lifecycle`` only.
Each subpackage's ``__init__`` names its public face in ``PUBLIC``; a name loads its module on
first use (``lazy_loader``), so importing one module never pulls in another's dependencies.
"""
