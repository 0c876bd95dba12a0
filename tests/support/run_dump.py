"""Run one dump flow in its own process, as a worker would: `python -m tests.support.run_dump
FLOW PARAMS_JSON`; prints the final state's name and result (or error) as one JSON line."""

import json
import sys

from pipelines.utils.dump_db.flows import dump_db
from pipelines.utils.dump_url.flows import dump_url

FLOWS = {"dump_db": dump_db, "dump_url": dump_url}


def main() -> None:
    name, params = sys.argv[1], json.loads(sys.argv[2])
    state = FLOWS[name](**params, return_state=True)
    result = state.result(raise_on_failure=False)
    outcome = str(result) if isinstance(result, BaseException) else result
    print(json.dumps({"state": state.name, "message": state.message, "result": outcome}))


if __name__ == "__main__":
    main()
