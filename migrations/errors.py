"""Our exceptions: each message says what is wrong and what a DBA can do about it."""


class RunbookError(Exception):
    """Base of every error om-runbook reports to its user."""


class ConfigurationError(RunbookError):
    """Wrong input or settings, found before anything is written."""


class RedisAccessError(RunbookError):
    """Redis cannot be reached or refuses what we need (wrong URL, password, ACL, read-only replica)."""


class RedisUnreachable(RedisAccessError):
    """No connection to Redis (refused, timed out, reset): worth retrying once the run has started."""


class RedisStalled(RedisAccessError):
    """Redis answered no write (CLIENT PAUSE, a slow command, a stopped server) for longer than the run's lease:
    the chunk stopped before its next write."""


class ServerBusy(RedisUnreachable):
    """Redis answered BUSY (a script running past its time limit) or LOADING: it takes no command for now."""


class ClusterTopologyChanged(RedisUnreachable):
    """A cluster slot moved to another master (resharding, failover) mid-batch: retried on the new map."""


class BackupError(RunbookError):
    """A backup could not be made or does not check out; nothing is changed without one."""


class BackupLost(BackupError):
    """The backup directory went away during the run (removed, unmounted): it held the only originals, so the run
    stops writing and attempts no rollback."""


class MigrationAborted(RunbookError):
    """The run stopped on purpose (failure mode, error budget); every change made so far is backed up."""


class KeysEvicted(MigrationAborted):
    """Redis evicted keys while the run held it: records may be lost; no automatic rollback (its writes could evict
    more)."""


class LeaseLost(MigrationAborted):
    """The run's lease on the Redis lapsed or was taken: another run may be writing, so this one stops writing."""


class ChunkNotStarted(MigrationAborted):
    """A chunk was still waiting for its turn to write when another chunk of the run failed: it wrote nothing."""
