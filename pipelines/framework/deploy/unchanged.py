"""
Registration's first look, without Prefect: when the server already holds, for every flow, the
deployment the manifest says registration would render now, there is nothing to do, and a
`pipelines register` that changes nothing imports neither Prefect nor any flow to find that out.

Anything else (a flow changed or new, a deployment missing, paused or left by a deleted flow, a
pool or queue missing, a module that does not import) answers "look closer": registration proper
then runs, and it imports only the flows whose rendering it does not know.
"""

import base64
import os
from dataclasses import dataclass
from typing import Any

import httpx

from pipelines.framework.config import ENVIRONMENTS, Environment
from pipelines.framework.deploy.manifest import Discovery

REGISTRY_TAG = "pipelines"
PAGE = 200  # the server's largest page
TIMEOUT = 30.0


@dataclass(frozen=True)
class Outcome:
    """What registration did (or would do) for one flow."""

    flow: str
    action: str  # created, updated, skipped, paused; failed (a module), kept (its deployments)
    detail: str = ""


def nothing_to_register(env: Environment, url: str, found: Discovery) -> list[Outcome] | None:
    """Every flow "skipped" when the server at `url` holds exactly what registration would make
    of the repository (`found` by discovery) in `env`; None when registration must look closer
    (or the server did not answer: registration proper then reports why)."""
    renderings = {record.name: record.rendering(env.name) for record in found.flows}
    if found.failures or None in renderings.values():
        return None
    try:
        with httpx.Client(base_url=url, headers=_auth_headers(), timeout=TIMEOUT) as client:
            deployments = _our_deployments(client, env)
            if not _as_rendered(deployments, renderings):
                return None
            labels = {label for _, label in renderings.values() if label}
            if not _pools_ready(client, labels):
                return None
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    return [Outcome(record.name, "skipped", "unchanged") for record in found.flows]


def _auth_headers() -> dict[str, str]:
    """The basic-auth header Prefect's client sends (`ensure_server` put the credential in the
    environment)."""
    credential = os.environ.get("PREFECT_API_AUTH_STRING")
    if not credential:
        return {}
    return {"Authorization": f"Basic {base64.b64encode(credential.encode()).decode()}"}


def _our_deployments(client: httpx.Client, env: Environment) -> list[tuple[str, dict[str, Any]]]:
    """(flow name, deployment) of every deployment registration made in `env`."""
    tags = {"all_": [REGISTRY_TAG, f"env:{env.name}"]}
    deployments: list[dict[str, Any]] = []
    while page := _post(
        client, "/deployments/filter",
        {"deployments": {"tags": tags}, "limit": PAGE, "offset": len(deployments)},
    ):  # fmt: skip
        deployments += page
    names: dict[str, str] = {}
    for start in range(0, len(deployments), PAGE):
        ids = [d["flow_id"] for d in deployments[start : start + PAGE]]
        flows = _post(client, "/flows/filter", {"flows": {"id": {"any_": ids}}, "limit": PAGE})
        names.update((flow["id"], flow["name"]) for flow in flows)
    return [(names.get(d["flow_id"], ""), d) for d in deployments]


def _as_rendered(
    deployments: list[tuple[str, dict[str, Any]]], renderings: dict[str, tuple[str, str] | None]
) -> bool:
    """One live deployment per flow, of the version rendered now, and none of a deleted flow."""
    by_flow: dict[str, list[dict[str, Any]]] = {}
    for flow, deployment in deployments:
        by_flow.setdefault(flow, []).append(deployment)
    for flow, found in by_flow.items():
        if flow not in renderings and not all(d["paused"] for d in found):
            return False  # registration would pause it
    for flow, rendering in renderings.items():
        found = by_flow.get(flow, [])
        if len(found) != 1 or found[0]["paused"] or found[0]["version"] != rendering[0]:
            return False
    return True


def _pools_ready(client: httpx.Client, labels: set[str]) -> bool:
    """Each label's pool exists with a queue per environment (else registration creates them)."""
    for label in sorted(labels):
        response = client.post(f"/work_pools/{label}/queues/filter", json={})
        if response.status_code == 404:
            return False
        response.raise_for_status()
        if not set(ENVIRONMENTS) <= {queue["name"] for queue in response.json()}:
            return False
    return True


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(path, json=body)
    response.raise_for_status()
    return response.json()
