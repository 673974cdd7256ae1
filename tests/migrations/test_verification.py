"""The verification's verdict and the refusals that need no server (pure)."""

from __future__ import annotations

from om_runbook.migrations.server_identity import ServerIdentity, identity_refusal
from om_runbook.migrations.verification import ChunkCheck, nothing_found_refusal, summarize


def _verdict(**counts: int) -> bool:
    return summarize([ChunkCheck(index=0, key_count=10, counts=counts)], "original", 0.1).passed


def test_every_field_missing_is_never_a_pass():
    assert not _verdict(missing=10)
    assert _verdict(missing=3, as_expected=7)  # keys the application deleted since: reported, not failed
    assert _verdict(missing=3, changed_by_others=7)
    assert _verdict(as_expected=10)


def test_a_rollback_that_found_nothing_is_refused():
    assert "none of the 12 backed-up fields of /b exists" in nothing_found_refusal(
        [{"missing": 5}, {"missing": 7}], "/b"
    )
    assert nothing_found_refusal([{"missing": 5}, {"written": 1}], "/b") is None
    assert nothing_found_refusal([{}], "/b") is None


def test_the_backup_server_is_recognised_by_run_id_or_address():
    recorded = ServerIdentity(run_ids=["a" * 40], addresses=["10.0.0.1:6379"])
    same_process = ServerIdentity(run_ids=["a" * 40], addresses=["db.internal:6379"])
    restarted = ServerIdentity(run_ids=["b" * 40], addresses=["10.0.0.1:6379"])
    other = ServerIdentity(run_ids=["c" * 40], addresses=["10.0.0.2:6379"])
    assert identity_refusal(recorded, same_process, "/b") is None
    assert identity_refusal(recorded, restarted, "/b") is None
    assert identity_refusal(None, other, "/b") is None  # a manifest from before identities were recorded
    refusal = identity_refusal(recorded, other, "/b")
    assert refusal is not None
    assert "Redis at 10.0.0.1:6379 (run_id aaaaaaaaaaaa)" in refusal and "targets 10.0.0.2:6379" in refusal
    assert "--other-server" in refusal and "Nothing was written" in refusal
