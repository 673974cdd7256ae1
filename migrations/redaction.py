"""Keep secrets out of logs, artifacts, reports and error messages."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

_URL_IN_TEXT = re.compile(r"\b(rediss?|unix)://[^\s'\"]+")


# a value runs to the next `&name=`: an unencoded `&` inside a password does not end it
_QUERY_SECRET = re.compile(r"([?&][^=&?#]*pass[^=&]*=)(?:[^&]|&(?![^&=]*=))*", re.IGNORECASE)


def _redact_query(rest: str) -> str:
    """`password=` (redis-py reads it from the query string too) and the like become `***`, up to the next `&`:
    the value may hold any reserved character."""
    return _QUERY_SECRET.sub(lambda match: match.group(1) + "***", rest)


def _userinfo(rest: str) -> tuple[str | None, str]:
    """(userinfo, the rest after it) of what follows `scheme://`. The userinfo ends at the last `@` before any
    `password=` argument: a password with an unencoded `/`, `?`, `#` or `@` defeats urlsplit, never this."""
    query_secret = _QUERY_SECRET.search(rest)
    head = rest[: query_secret.start()] if query_secret else rest
    if "@" not in head:
        return None, rest
    userinfo, _, host = head.rpartition("@")
    return userinfo, host + rest[len(head) :]


def _url_userinfo(url: str) -> str | None:
    """The user part of a whole URL (None: it has none, or no `scheme://`)."""
    _scheme, separator, rest = url.partition("://")
    return _userinfo(rest)[0] if separator else None


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (user names stay: they help a DBA). A user part that is not a
    plain `user:password` is replaced whole; a password is never echoed, however the URL is written."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "<unparseable URL>" if "@" in url else _redact_query(url)
    userinfo, host = _userinfo(rest)
    rendered = _redact_query(host)
    if userinfo is None:
        return f"{scheme}://{rendered}"
    user, has_password, _password = userinfo.partition(":")
    if any(mark in user for mark in "/?#[]&="):
        return f"{scheme}://***@{rendered}"
    return f"{scheme}://{user}:***@{rendered}" if has_password else f"{scheme}://{user}@{rendered}"


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Redact the given secret strings (as they are, and percent-encoded), then every Redis URL in free text."""
    forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""), quote_plus(secret))}
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), _mask(text, forms))


def _mask(text: str, forms: set[str]) -> str:
    """Every occurrence of any of `forms` becomes `***`, overlapping ones as one."""
    hidden = [False] * len(text)
    for form in forms:
        start = text.find(form)
        while start != -1:
            hidden[start : start + len(form)] = [True] * len(form)
            start = text.find(form, start + 1)
    pieces, index = [], 0
    while index < len(text):
        if hidden[index]:
            while index < len(text) and hidden[index]:
                index += 1
            pieces.append("***")
        else:
            pieces.append(text[index])
            index += 1
    return "".join(pieces)


def url_password(url: str) -> str:
    """The (decoded) password redis-py reads from a URL (user part, else a `password=` query argument), or ""."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.password:
        return unquote(parts.password)
    return next((value for name, value in parse_qsl(parts.query) if "pass" in name.lower()), "")


_RESERVED = re.compile(r"[/?#@&:;=+,$!'()*\[\]% ]")
MIN_PIECE = 3  # pieces of a password between reserved characters are masked too, from this length


def url_secrets(url: str) -> tuple[str, ...]:
    """Every string of a URL that may be its password, as redis-py reads it and as a person meant it (the user
    part up to the last `@`, every `password=` value), and their pieces between reserved characters (redis-py's
    own errors quote a piece: "Port could not be cast to integer value as 'LEFT'"): for redact_text."""
    userinfo = _url_userinfo(url)
    found = {url_password(url)}
    if userinfo and ":" in userinfo:
        found.add(unquote(userinfo.partition(":")[2]))
    for match in _QUERY_SECRET.finditer(url):
        found.add(unquote(match.group(0)[len(match.group(1)) :]))
    pieces = {piece for secret in found for piece in _RESERVED.split(secret) if len(piece) >= MIN_PIECE}
    return tuple(sorted((found | pieces) - {""}, key=len, reverse=True))


def password_needs_encoding(url: str) -> bool:
    """The user part holds an unencoded `/`, `?`, `#` or `@`, which ends it early for every URL parser."""
    userinfo = _url_userinfo(url)
    return bool(userinfo) and any(mark in userinfo for mark in "/?#@")
