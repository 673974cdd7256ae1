"""A checkpoint's directories are made one level at a time under the backup directory: if the backup directory was
removed between the writer's check and its mkdir (CI caught `parents=True` re-creating it), the mkdir fails."""

from __future__ import annotations

import shutil

import pytest

from om_runbook.tasks.backup_store.backup_format import make_levels_below


def test_the_levels_below_the_backup_directory_are_made_and_a_removed_directory_is_never_re_created(tmp_path):
    backup_dir = tmp_path / "b"
    backup_dir.mkdir()
    make_levels_below(backup_dir, backup_dir / "progress" / "migrate")
    make_levels_below(backup_dir, backup_dir / "progress" / "migrate")  # again: nothing to do
    assert sorted(p.relative_to(backup_dir).as_posix() for p in backup_dir.rglob("*")) == [
        "progress",
        "progress/migrate",
    ]
    shutil.rmtree(backup_dir)
    with pytest.raises(FileNotFoundError):
        make_levels_below(backup_dir, backup_dir / "progress" / "rollback")
    assert not backup_dir.exists()
