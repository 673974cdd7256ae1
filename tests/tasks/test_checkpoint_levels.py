"""The directories of a checkpoint and of the pace file are made one level at a time under the backup directory: if
it was removed between the writer's check and its mkdir (CI caught `parents=True` re-creating it), the mkdir fails."""

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


def test_the_pace_file_is_written_only_into_a_backup_directory_that_still_exists(tmp_path):
    from om_runbook.tasks.backup_store.backup_format import write_atomically

    backup_dir = tmp_path / "b"
    backup_dir.mkdir()
    write_atomically(backup_dir / "progress" / "pace.json", "{}", within=backup_dir)
    assert (backup_dir / "progress" / "pace.json").read_text() == "{}"
    shutil.rmtree(backup_dir)
    with pytest.raises(FileNotFoundError):
        write_atomically(backup_dir / "progress" / "pace.json", "{}", within=backup_dir)
    assert not backup_dir.exists()
