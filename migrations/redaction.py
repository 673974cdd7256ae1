"""Keep secrets out of logs, artifacts, reports and error messages."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

_URL_IN_TEXT = re.compile(r"\b(rediss?|unix)://[^\s'\"]+")


def _redact_query(query: str) -> str:
    """`password=` (redis-py reads it from the query string too) and the like become `***`; the rest stays as is."""
    pairs = [pair.partition("=") for pair in query.split("&")] if query else []
    return "&".join(name + sep + ("***" if "pass" in name.lower() else value) for name, sep, value in pairs)


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (user names stay: they help a DBA)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    query = _redact_query(parts.query)
    if parts.password is None:
        return urlunsplit(parts._replace(query=query)) if query != parts.query else url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Redact every Redis URL in free text, and any of the given secret strings."""
    text = _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def url_password(url: str) -> str:
    """The (decoded) password of a URL (user part, else a `password=` query argument), or "" when none."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.password:
        return unquote(parts.password)
    return next((value for name, value in parse_qsl(parts.query) if "pass" in name.lower()), "")
