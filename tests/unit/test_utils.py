import logging
import os
import stat

import pytest

from pipelines.utils.utils import NotARegularFileError, atomic_write, log


def test_atomic_write_replaces_the_file_when_the_block_succeeds(tmp_path):
    target = tmp_path / "report.csv"
    target.write_text("old")
    with atomic_write(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_atomic_write_keeps_the_old_file_and_no_temporary_on_failure(tmp_path):
    target = tmp_path / "report.csv"
    target.write_bytes(b"old,good\n")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half a rep")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old,good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_atomic_write_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "report.csv"
    target.write_text("old")
    target.chmod(0o644)
    with atomic_write(target) as handle:
        handle.write("new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_atomic_write_refuses_a_character_device_and_leaves_it_a_device(tmp_path):
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    before = device.lstat()
    with pytest.raises(NotARegularFileError, match="dispositivo"), atomic_write(device) as handle:
        handle.write("never")
    after = device.lstat()
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_rdev, after.st_ino) == (before.st_rdev, before.st_ino)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_atomic_write_refuses_a_fifo_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    ran = []
    with pytest.raises(NotARegularFileError, match="FIFO"), atomic_write(fifo):
        ran.append(True)  # opening a FIFO with no reader would block forever
    assert not ran
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_atomic_write_refuses_a_folder(tmp_path):
    folder = tmp_path / "out"
    (folder / "inside").mkdir(parents=True)
    with pytest.raises(NotARegularFileError, match="pasta"), atomic_write(folder) as handle:
        handle.write("never")
    assert [p.name for p in folder.iterdir()] == ["inside"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_write_refuses_a_path_that_became_special_while_the_block_ran(tmp_path):
    target = tmp_path / "report.csv"
    with pytest.raises(NotARegularFileError), atomic_write(target) as handle:
        handle.write("new")
        os.mkfifo(target)
    assert stat.S_ISFIFO(target.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_atomic_write_writes_through_a_symlink_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "report.csv"
    real.write_text("old")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    with atomic_write(link) as handle:
        handle.write("new")
    assert link.is_symlink() and link.readlink() == real
    assert real.read_text() == "new"
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["report.csv"]


def test_atomic_write_through_a_symlink_keeps_the_target_on_failure(tmp_path):
    real = tmp_path / "report.csv"
    real.write_text("old")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    with pytest.raises(RuntimeError), atomic_write(link) as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert link.is_symlink() and real.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.csv", "report.csv"]


def test_log_outside_a_run_goes_to_the_module_logger(caplog):
    with caplog.at_level(logging.INFO, logger="pipelines"):
        log("Dados baixados com sucesso!")
    assert "Dados baixados com sucesso!" in caplog.text
