"""The shared risk state in the service: ``held`` (as one worker holds it), ``watch`` (polled from
the decision store), ``schemas`` (bodies of the risk routes)."""
