"""The operator console served at ``/console``: server-rendered pages and htmx fragments.

``session`` (the sign-in cookie and the checks every page and form runs), ``audit_reader``
(recent decisions, read-only, from the audit store), ``risk_view`` (the risk panel's figures);
the routes are ``nexus_serving.routers.console``.
"""
