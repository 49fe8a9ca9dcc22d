"""Bearer-token check for the decision API.

Every configured token is compared in constant time (no early exit), so neither timing nor
error text tells a caller anything about the tokens.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, status

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def check_bearer(authorization: str | None, tokens: tuple[bytes, ...]) -> None:
    """Raise 401 when no bearer token is given, 403 when it is not one of ``tokens``."""
    scheme, _, given = (authorization or "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=BEARER_CHALLENGE)
    candidate = given.encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate, token)
    if not matched:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid token")
