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


def _work(copies: int) -> "registration._Work":
    """`copies` deployments to write, each of the tutorial's flow (renamed, so each is new)."""
    (info,) = flows_in(TUTORIAL_FLOWS)
    env = Environment("staging")
    specs = [
        registration.DeploymentSpec(
            replace(info, flow=info.flow.with_options(name=f"flow {i}")), env
        )
        for i in range(copies)
    ]
    fingerprints = {spec.info.name: f"fp{i}" for i, spec in enumerate(specs)}
    return registration._Work(  # pylint: disable=protected-access
        found=None, env=env, existing={}, unchanged=[], stale=[], loaded=None, specs=specs,
        fingerprints=fingerprints,
    )  # fmt: skip


def test_writes_are_sent_one_at_a_time_while_several_flows_are_prepared(monkeypatch, tmp_path):
    monkeypatch.setattr(registration, "upload_code", lambda spec, fp: str(tmp_path / fp))
    server = _Server()
    work = _work(6)

    outcomes = asyncio.run(
        registration._deploy_all(server, work, False, lambda _: None)  # pylint: disable=protected-access
    )

    assert [o.action for o in outcomes] == ["created"] * 6
    assert len(server.writes) == 12  # a flow and a deployment each
    assert server.most_in_flight == 1
