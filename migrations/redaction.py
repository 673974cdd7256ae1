"""Keep secrets out of logs, artifacts, reports and error messages."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

_URL_IN_TEXT = re.compile(r"\b(rediss?|unix)://[^\s'\"]+")


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (user names stay: they help a DBA)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Redact every Redis URL in free text, and any of the given secret strings."""
    text = _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def url_password(url: str) -> str:
    """The (decoded) password of a URL, or "" when it has none."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return unquote(password) if password else ""
