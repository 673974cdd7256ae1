"""When the staging rehearsal may empty a Redis (pure): only an empty one, or one an earlier rehearsal marked as
its own, and never the server the production Secret names."""

from __future__ import annotations

from urllib.parse import urlsplit

from om_runbook.migrations.redaction import redact_url

STAGING_MARKER_KEY = b"om-runbook:staging-rehearsal"


def server_identity(url: str) -> tuple[str, str, int]:
    """(host or socket path, port, database) of a Redis URL: two URLs naming the same data compare equal."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return (parts.path, "", 0)
    database = parts.path.strip("/")
    host = (parts.hostname or "localhost").lower()
    host = "loopback" if host in ("localhost", "127.0.0.1", "::1") else host
    return (host, str(parts.port or 6379), int(database) if database.isdigit() else 0)


def flush_refusal(url: str, production_url: str | None, unmarked_keys: dict[str, int]) -> str | None:
    """Why the rehearsal must not FLUSHALL `url` (None: it may). `unmarked_keys`: per master, the keys it holds
    when it carries no staging marker (masters that are empty or marked are left out)."""
    if production_url is not None and server_identity(url) == server_identity(production_url):
        return (
            f"the staging Redis {redact_url(url)} is the server the production Secret names: the staging rehearsal "
            "empties its Redis and never runs against production. Point the staging Secret at a staging server"
        )
    if unmarked_keys:
        held = ", ".join(f"{node}: {count} keys" for node, count in sorted(unmarked_keys.items()))
        return (
            f"the staging Redis {redact_url(url)} holds data ({held}) and no marker "
            f"{STAGING_MARKER_KEY.decode()}: the rehearsal empties only an empty Redis or one an earlier rehearsal "
            "prepared. If this really is staging, empty it yourself (FLUSHALL) and run the rehearsal again"
        )
    return None
