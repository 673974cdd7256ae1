"""Which Redis a backup belongs to (pure): the masters' INFO `run_id`s and addresses, recorded in the manifest and
compared before a rollback, a verification or a resumed run touches a server."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ServerIdentity(BaseModel):
    run_ids: list[str] = Field(default_factory=list)  # INFO server run_id of each master (a restart changes it)
    addresses: list[str] = Field(default_factory=list)  # host:port (or unix socket path) of each master


def identity_refusal(recorded: ServerIdentity | None, current: ServerIdentity, backup_dir: str) -> str | None:
    """None when `current` is the server the backup was taken from: a master's run_id in common (the same process),
    else an address in common (restarted, or failed over in place); a refusal naming both otherwise. A manifest
    written before identities were recorded has none: nothing to compare."""
    if recorded is None or set(recorded.run_ids) & set(current.run_ids):
        return None
    if set(recorded.addresses) & set(current.addresses):
        return None
    return (
        f"{backup_dir} holds the backup of the Redis at {', '.join(recorded.addresses) or '?'} (run_id "
        f"{', '.join(run_id[:12] for run_id in recorded.run_ids) or '?'}), and this command targets "
        f"{', '.join(current.addresses)} (run_id {', '.join(run_id[:12] for run_id in current.run_ids)}): another "
        "server. Nothing was written. When it really is the same data (moved to a new address and restarted), "
        "pass --other-server"
    )
