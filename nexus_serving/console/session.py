"""The console's sign-in: the caller's token kept in an HttpOnly, SameSite=Strict cookie.

The cookie holds the token itself, checked on every request the way the bearer header is
(``nexus_serving.auth``), so revoking a token in ``NEXUS_API_TOKENS`` signs its holder out. An
admin token (``NEXUS_ADMIN_TOKENS``) signs in too and is the only one that may change the risk
state. Every form carries a CSRF value derived from the token (an attacker's page cannot read
it) and a POST from another origin is refused, on top of the SameSite cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from nexus_serving.auth import accepts, admin_of
from nexus_serving.deps import ServicesDep
from nexus_serving.settings import Settings

COOKIE = "nexus_console"
PREFIX = "/console"
SIGN_IN = f"{PREFIX}/sign-in"
_CSRF_CONTEXT = b"nexus-console-csrf"


@dataclass(frozen=True)
class Viewer:
    """Who is signed in: ``admin`` is the admin's name when the token is an admin token."""

    token: str = field(repr=False)  # never in a log line or a traceback's locals
    admin: str | None

    @property
    def csrf(self) -> str:
        return hmac.new(self.token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


class SignInRequiredError(Exception):
    """A console page was asked for without a valid cookie: the handler sends the sign-in page."""


def viewer_for(token: str | None, settings: Settings) -> Viewer | None:
    """The viewer a token signs in, or None when it is neither an API nor an admin token."""
    if not token:
        return None
    admin = admin_of(token, settings.admins)
    if admin is None and not accepts(token, settings.tokens):
        return None
    return Viewer(token, admin)


def same_origin(request: Request) -> bool:
    """Whether a POST comes from this service's own pages (a browser sends ``Origin`` on POSTs)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a cross-site browser POST (those carry Origin); the CSRF value still applies
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def page_viewer(request: Request, services: ServicesDep) -> Viewer:
    """The signed-in viewer of a page; without one the browser is sent to the sign-in form."""
    viewer = viewer_for(request.cookies.get(COOKIE), services.settings)
    if viewer is None:
        raise SignInRequiredError
    return viewer


async def fragment_viewer(request: Request, services: ServicesDep) -> Viewer:
    """The signed-in viewer of a fragment (htmx): 401 without one, so nothing is swapped in."""
    viewer = viewer_for(request.cookies.get(COOKIE), services.settings)
    if viewer is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in at /console/sign-in")
    return viewer


def check_form(request: Request, viewer: Viewer, csrf: str) -> None:
    """403 unless a console POST is same-origin and carries the viewer's CSRF value."""
    if not same_origin(request) or not hmac.compare_digest(csrf.encode(), viewer.csrf.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form did not come from this console")


PageViewerDep = Annotated[Viewer, Depends(page_viewer)]
FragmentViewerDep = Annotated[Viewer, Depends(fragment_viewer)]
