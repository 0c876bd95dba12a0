import logging

import pytest

from pipelines.utils.utils import atomic_write, log


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


def test_log_outside_a_run_goes_to_the_module_logger(caplog):
    with caplog.at_level(logging.INFO, logger="pipelines"):
        log("Dados baixados com sucesso!")
    assert "Dados baixados com sucesso!" in caplog.text
