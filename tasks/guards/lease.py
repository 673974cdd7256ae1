"""One writer per Redis: a lease key with an expiry, renewed while the run lives, so a second run refuses
to start and a crashed run's lease lapses on its own within `ttl_seconds`."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid

import redis

from om_runbook.migrations.errors import LeaseLost, MigrationAborted, RedisAccessError
from om_runbook.tasks.io.local_process import process_alive
from om_runbook.tasks.io.progress_meter import METER
from om_runbook.tasks.io.redis_nodes import RedisNodes, open_nodes

LEASE_KEY = b"om-runbook:lease"
LEASE_SECONDS = 60.0  # how long a lease outlives its last renewal: a crashed run's blocks the next one this long
RENEW_RETRY_SECONDS = 0.5
RENEW_SCRIPT = b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
TAKEOVER_SCRIPT = b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return false
"""
RELEASE_SCRIPT = b"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_HELD_HERE: set[bytes] = set()  # tokens of the leases this process holds right now


class RunLease:
    """`with RunLease(url, "migration"):` around everything that writes to the user's Redis."""

    def __init__(self, url: str, purpose: str, ttl_seconds: float = LEASE_SECONDS) -> None:
        self.client: redis.Redis = open_nodes(url).node_for(LEASE_KEY).client  # a cluster: the key's master
        self.ttl_ms = int(ttl_seconds * 1000)
        self.purpose = purpose
        self.token = json.dumps(
            {
                "id": uuid.uuid4().hex,
                "purpose": purpose,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": int(time.time()),
            }
        ).encode()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="om-runbook-lease", daemon=True)

    def __enter__(self) -> RunLease:
        try:
            taken = self.client.set(LEASE_KEY, self.token, nx=True, px=self.ttl_ms)
        except redis.ResponseError as exc:
            raise RedisAccessError(f"cannot take the run lease {LEASE_KEY.decode()}: {exc}") from None
        if not taken and not self._take_over_from_dead_holder():
            raise MigrationAborted(self._holder_message())
        _HELD_HERE.add(self.token)
        METER.lease = (f"{socket.gethostname()}:{os.getpid()} ({self.purpose})", time.time())
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        _HELD_HERE.discard(self.token)
        METER.lease = None
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            self.client.eval(RELEASE_SCRIPT, 1, LEASE_KEY, self.token)
        except redis.RedisError:
            pass  # it lapses by itself within the TTL
        self.client.close()

    @property
    def token_text(self) -> str:
        """The token as text, for the chunks' per-batch lease check (it travels as a flow parameter)."""
        return self.token.decode()

    def refuse_if_held(self) -> None:
        """Read-only, before the run's long reads: MigrationAborted when a live run holds the lease (taking it comes
        later, after the refusals that must precede any write)."""
        try:
            holder = self.client.get(LEASE_KEY)
        except redis.ResponseError as exc:
            raise RedisAccessError(f"cannot read the run lease {LEASE_KEY.decode()}: {exc}") from None
        if holder is not None and not _left_by_dead_run_here(holder):
            raise MigrationAborted(self._holder_message())

    def _take_over_from_dead_holder(self) -> bool:
        """A lease left by a crashed run on this same machine, or by an earlier run of this process that could not
        release it (Redis was down), is taken over at once (no need to wait it out)."""
        holder = self.client.get(LEASE_KEY)
        if holder is None or not _left_by_dead_run_here(holder):
            return False
        return bool(self.client.eval(TAKEOVER_SCRIPT, 1, LEASE_KEY, holder, self.token, self.ttl_ms))

    def _holder_message(self) -> str:
        holder = self.client.get(LEASE_KEY)
        remaining = self.client.pttl(LEASE_KEY)
        facts = _holder_facts(holder)
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(facts.get("since", 0)))
        return (
            f"another om-runbook {facts.get('purpose', 'run')} (on {facts.get('host', '?')}, since {since}) holds "
            f"the lease {LEASE_KEY.decode()} on this Redis; it expires {max(remaining, 0) / 1000:.0f} s after that "
            "run stops. Two runs must never write to the same Redis at once."
        )

    def _renew(self) -> None:
        wait = self.ttl_ms / 3000
        while not self._stop.wait(wait):
            try:
                # a lease no longer ours is not renewed; the chunks' LeaseCheck stops at their next batch
                self.client.eval(RENEW_SCRIPT, 1, LEASE_KEY, self.token, self.ttl_ms)
                wait = self.ttl_ms / 3000
            except redis.RedisError:
                wait = RENEW_RETRY_SECONDS  # a blip or a write pause: try again soon, the lease runs out meanwhile


def lease_check_on(nodes: RedisNodes, token: str | None) -> LeaseCheck | None:
    """The per-batch check of the run lease `token` (None: the caller holds no lease, e.g. a test of one chunk)."""
    return LeaseCheck(nodes.node_for(LEASE_KEY).client, token) if token else None


class LeaseCheck:
    """Called before every batch a chunk writes: the lease key must still hold this run's token. A lease that lapsed
    (a stalled process) or was taken over means another run may be writing: stop before the next write."""

    def __init__(self, client: redis.Redis, token: str) -> None:
        self.client = client
        self.token = token.encode()

    def __call__(self) -> None:
        holder = self.client.get(LEASE_KEY)
        if holder != self.token:
            now = "nobody holds it now" if holder is None else f"it is now held by {_describe(holder)}"
            raise LeaseLost(
                f"this run's lease {LEASE_KEY.decode()} on the Redis was lost ({now}): the chunk stopped before its "
                "next write, and no rollback was attempted while another run may be writing. When no other run is "
                "active, re-run the same command to resume, or run `om-runbook rollback` with this --backup-dir"
            )


def _left_by_dead_run_here(holder: bytes) -> bool:
    """A lease token of a process on this machine that is gone, or of this process with no run holding it."""
    facts = _holder_facts(holder)
    if facts.get("host") != socket.gethostname() or not isinstance(facts.get("pid"), int):
        return False
    if facts["pid"] == os.getpid():
        return holder not in _HELD_HERE  # else a run in this process holds it
    return not process_alive(facts["pid"])  # else a real concurrent run


def _describe(holder: bytes) -> str:
    facts = _holder_facts(holder)
    if not facts:
        return "something else"
    return f"an om-runbook {facts.get('purpose', 'run')} on {facts.get('host', '?')} (pid {facts.get('pid', '?')})"


def _holder_facts(holder: bytes | None) -> dict:
    """The lease holder's token (purpose, host, pid, since); {} when there is none or it is not ours to read."""
    try:
        facts = json.loads(holder or b"{}")
    except ValueError:
        return {}
    return facts if isinstance(facts, dict) else {}
