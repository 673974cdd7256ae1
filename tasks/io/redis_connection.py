"""Opening connections to the user's Redis, with failures turned into clear, password-free messages."""

from __future__ import annotations

import redis
import redis.asyncio
from redis.exceptions import NoPermissionError

from om_runbook.migrations.errors import ConfigurationError, RedisAccessError, RedisUnreachable, ServerBusy
from om_runbook.migrations.redaction import password_needs_encoding, redact_text, redact_url, url_secrets
from om_runbook.tasks.io.resp import is_busy_reply


def open_client(
    url: str,
    *,
    timeout_seconds: float = 10.0,
    decode_responses: bool = False,
    cluster: bool = False,
    ping: bool = True,
) -> redis.Redis:
    """The one way a connection to the user's Redis is opened: a client for `url` (bytes unless `decode_responses`;
    a RedisCluster client, with the same command API, when `cluster`), checked with PING unless `ping` is False;
    raises ConfigurationError or RedisAccessError with a redacted message."""
    safe = redact_url(url)
    client_class = redis.RedisCluster if cluster else redis.Redis
    try:
        client = client_class.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            decode_responses=decode_responses,
        )
    except ValueError as exc:
        raise _invalid_url(url, exc) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:  # a cluster client connects at once
        message = redact_text(str(exc), url_secrets(url))
        raise RedisUnreachable(f"cannot connect to Redis at {safe}: {message}") from None
    if not ping:
        return client
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise RedisAccessError(f"Redis at {safe} refused the credentials: {exc}") from None
    except redis.ResponseError as exc:
        if is_busy_reply(exc):  # a slow script holds the server: the task's retries wait it out
            raise ServerBusy(f"Redis at {safe} is busy and takes no command for now: {exc}") from None
        raise RedisAccessError(f"Redis at {safe} refused PING: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        message = redact_text(str(exc), url_secrets(url))
        raise RedisUnreachable(f"cannot connect to Redis at {safe}: {message}") from None
    return client


def open_async_client(url: str, *, timeout_seconds: float = 10.0, cluster: bool = False) -> redis.asyncio.Redis:
    """A redis.asyncio client (strings) for `url`, for an application's aredis_om models; open it inside the event
    loop that uses it. No PING: the synchronous clients of the same run have checked the server."""
    client_class = redis.asyncio.RedisCluster if cluster else redis.asyncio.Redis
    try:
        return client_class.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds, decode_responses=True
        )
    except ValueError as exc:
        raise _invalid_url(url, exc) from None


def _invalid_url(url: str, exc: ValueError) -> ConfigurationError:
    """redis-py's reason, redacted, and the remedy when the password holds characters a URL cannot carry raw."""
    message = redact_text(str(exc), url_secrets(url))
    if password_needs_encoding(url):
        message += "; a password holding / ? # or @ must be percent-encoded (%2F %3F %23 %40)"
    return ConfigurationError(f"invalid Redis URL {redact_url(url)}: {message}")


def is_permission_error(exc: Exception) -> bool:
    """NOPERM, or an ACL refusal of a command inside a script."""
    text = str(exc)
    return isinstance(exc, NoPermissionError) or "no permissions" in text or "can't run this command" in text


def database_number(url: str) -> int:
    """The database a URL selects (`/N` or `?db=N`; 0 when it names none)."""
    return int(redis.connection.parse_url(url).get("db", 0) or 0)
