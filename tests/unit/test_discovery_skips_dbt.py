"""Discovering the materialize flow (as `register`, `flows` and `check` do) does not import dbt,
which takes 2 s: only a run of the flow pays it."""

import json
import subprocess
import sys

from pipelines.framework.config import REPO_ROOT

PROBE = """
import json, sys
from pipelines.framework.deploy.discovery import flows_in
names = [info.name for info in flows_in("pipelines.utils.materialize.flows")]
print(json.dumps([names, sorted(m for m in sys.modules if m.split(".")[0] == "dbt")]))
"""


def test_the_materialize_flow_is_discovered_without_importing_dbt():
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names, dbt_modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert names == ["EMD: utils - Materializar com dbt"]
    assert dbt_modules == []
