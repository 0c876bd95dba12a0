"""Registration sends its writes one at a time: on SQLite a deployment's creation reads before it
writes, so a write of ours committed meanwhile makes the server refuse it as busy (503), and four
at once made a registration of 60 new flows on a loaded machine run out of retries."""

import asyncio
from dataclasses import replace
from uuid import uuid4

from pipelines.framework.config import Environment
from pipelines.framework.deploy import registration
from pipelines.framework.deploy.discovery import flows_in

TUTORIAL_FLOWS = "pipelines.rj_escritorio.tutorial.flows"


class _Server:
    """A client whose writes take a while, counting how many of them overlap."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.writes: list[str] = []

    async def _write(self, what: str) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.writes.append(what)
        self.in_flight -= 1

    async def create_flow_from_name(self, name: str):
        await self._write(f"flow {name}")
        return uuid4()

    async def create_deployment(self, **fields):
        await self._write(f"deployment {fields['name']}")
        return uuid4()


def _specs(copies: int) -> "list[registration.DeploymentSpec]":
    """`copies` deployments to write, each of the tutorial's flow (renamed, so each is new)."""
    (info,) = flows_in(TUTORIAL_FLOWS)
    return [
        registration.DeploymentSpec(
            replace(info, flow=info.flow.with_options(name=f"flow {i}")), Environment("staging")
        )
        for i in range(copies)
    ]


def test_writes_are_sent_one_at_a_time_while_several_flows_are_prepared(monkeypatch, tmp_path):
    monkeypatch.setattr(registration, "upload_code", lambda spec, fp: str(tmp_path / fp))
    pools: list[str] = []

    async def ensure_work_pools(client, labels):
        await client._write(f"pool {labels}")  # pylint: disable=protected-access
        pools.extend(labels)

    monkeypatch.setattr(registration, "ensure_work_pools", ensure_work_pools)
    server = _Server()
    # pylint: disable-next=protected-access
    work = registration._Registration(server, Environment("staging"), {}, False, lambda _: None)

    async def deploy_all():
        deployed = [work._deployed(s, work._fingerprint(s)) for s in _specs(6)]  # pylint: disable=protected-access
        return await asyncio.gather(*deployed)

    outcomes = asyncio.run(deploy_all())

    assert [o.action for o in outcomes] == ["created"] * 6
    assert len(pools) == 1  # the label's pool made ready once, before its first deployment
    assert server.writes[0].startswith("pool")
    assert len(server.writes) == 13  # and a flow and a deployment each
    assert server.most_in_flight == 1
