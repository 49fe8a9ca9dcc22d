"""Downloading a symbol's CSV from the ``file_url`` Lona gives.

A ``file_url`` points at storage, not at the gateway: the original backend fetches it with a
plain GET and no Lona headers, and so does this, which also keeps the agent token from going
to another host. Errors name the link without its query, since storage links carry their
signature there.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import httpx

from nexus_assets.http_retry import parse_retry_after
from nexus_assets.lona.errors import LonaConnectionError, error_for_status


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def download_csv(http: httpx.Client, url: str) -> bytes:
    """The file's bytes; a typed Lona error (retryable where it is transient) otherwise."""
    shown = without_query(url)
    try:
        response = http.get(url)
    except httpx.TimeoutException as exc:
        unsent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
        raise LonaConnectionError(
            f"symbol file {shown} did not answer in time ({type(exc).__name__})",
            request_sent=not unsent,
            method="GET",
            path=shown,
        ) from None
    except httpx.TransportError as exc:
        raise LonaConnectionError(
            f"could not download symbol file {shown} ({type(exc).__name__})",
            request_sent=not isinstance(exc, httpx.ConnectError),
            method="GET",
            path=shown,
        ) from None
    if not response.is_success:
        raise error_for_status(
            response.status_code,
            f"symbol file download failed: HTTP {response.status_code} {response.reason_phrase}",
            method="GET",
            path=shown,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return response.content
