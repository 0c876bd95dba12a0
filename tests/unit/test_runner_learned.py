"""What a warm runner's child remembers at its exit: the installed modules it imported that the
runner had not, for the runner's successor to import."""

import json
import sys

from pipelines.framework.cli.runner import _Learned


def test_a_run_that_imported_nothing_new_leaves_the_list_untouched(tmp_path):
    learned = _Learned(tmp_path / "runner.sock")
    learned.forked()
    learned.remember()
    assert not learned.path.exists()


def test_a_run_remembers_the_installed_modules_it_imported_after_the_fork(tmp_path):
    learned = _Learned(tmp_path / "runner.sock")
    learned.forked()
    learned.known -= {"pytest", "json"}  # as if the run imported them after the fork
    learned.remember()
    remembered = json.loads(learned.path.read_text(encoding="utf-8"))["modules"]
    assert "pytest" in remembered
    assert "json" not in remembered  # the standard library is no installed library
    assert set(remembered) <= set(sys.modules) - learned.known
