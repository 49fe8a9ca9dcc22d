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
    given = _bearer(authorization)
    if given is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=BEARER_CHALLENGE)
    if not _matches(given, tokens):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid token")


def holds_token(authorization: str | None, tokens: tuple[bytes, ...]) -> bool:
    """Whether the header carries one of ``tokens``; for open routes that tell a caller more."""
    given = _bearer(authorization)
    return given is not None and _matches(given, tokens)


def admin_name(authorization: str | None, admins: tuple[tuple[str, bytes], ...]) -> str:
    """The name of the admin whose token the header carries; 401 without a token, 403 otherwise."""
    given = _bearer(authorization)
    if given is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=BEARER_CHALLENGE)
    found = None
    for name, token in admins:  # every token compared, as for the API tokens
        if hmac.compare_digest(given, token):
            found = name
    if found is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not an admin token (NEXUS_ADMIN_TOKENS)")
    return found


def accepts(token: str, tokens: tuple[bytes, ...]) -> bool:
    """Whether a bare token (the console's cookie) is one of ``tokens``, compared as the header is."""
    return bool(token) and _matches(token.encode(), tokens)


def admin_of(token: str, admins: tuple[tuple[str, bytes], ...]) -> str | None:
    """The admin whose token a bare token is; None when it is no admin's."""
    found = None
    for name, known in admins:  # every token compared, as for the header
        if token and hmac.compare_digest(token.encode(), known):
            found = name
    return found


def _bearer(authorization: str | None) -> bytes | None:
    scheme, _, given = (authorization or "").partition(" ")
    given = given.strip()
    return given.encode() if scheme.lower() == "bearer" and given else None


def _matches(candidate: bytes, tokens: tuple[bytes, ...]) -> bool:
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate, token)
    return matched
