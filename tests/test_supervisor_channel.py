"""A trigger talks to the triggerer's supervisor only through its async channel, and never leaves an
answer unread: before 3.2, Airflow's triggerer reads answers in order on one socket, and a sync
request from a thread (a second event loop) or a request abandoned mid-read kills the triggerer
("Response read out of order", apache/airflow#64620). Airflow 3.0 has no ``aget_connection``, so
the provider resolves the connection itself there; these tests drive that path on every minor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.sdk.execution_time import task_runner
from airflow.sdk.execution_time.comms import ConnectionResult, ErrorResponse, GetConnection, MaskSecret

from airflow_provider_axiom._compat import AirflowNotFoundException, get_connection_async, supervisor_asend

PASSWORD = "s3cret-api-key"


class Supervisor:
    """The triggerer's channel as 3.0 has it: an async ``asend`` answered in order, and a sync ``send``
    that must never be used from a trigger."""

    def __init__(self, answers: dict[str, Any] | None = None, gate: asyncio.Event | None = None) -> None:
        self.answers = answers or {}
        self.gate = gate
        self.sent: list[Any] = []
        self.answered: list[Any] = []
        self.in_flight = asyncio.Event()
        self.read = asyncio.Event()

    async def asend(self, msg: Any) -> Any:
        self.sent.append(msg)
        self.in_flight.set()
        if self.gate is not None:
            await self.gate.wait()
        self.answered.append(msg)
        self.read.set()
        return self.answers.get(type(msg).__name__)

    def send(self, msg: Any) -> Any:
        raise AssertionError(f"a sync request from a trigger: {msg!r}")


class HookWithoutAsyncLookup:
    """A hook as Airflow 3.0's BaseHook is: no ``aget_connection``."""


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    channel = Supervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", channel, raising=False)
    return channel


async def test_a_connection_from_the_environment_is_masked_through_the_async_channel(
    supervisor: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_CHANNEL", json.dumps({"conn_type": "axiom", "password": PASSWORD}))
    conns = await asyncio.gather(*(get_connection_async("axiom_channel", HookWithoutAsyncLookup()) for _ in range(20)))
    assert {c.password for c in conns} == {PASSWORD}
    assert not [m for m in supervisor.sent if isinstance(m, GetConnection)]
    assert [m.value for m in supervisor.sent if isinstance(m, MaskSecret)] == [PASSWORD] * 20


async def test_a_connection_only_the_supervisor_knows_is_asked_for_asynchronously(
    supervisor: Supervisor,
) -> None:
    supervisor.answers["GetConnection"] = ConnectionResult.model_validate(
        {"conn_id": "axiom_db", "conn_type": "axiom", "host": "app.axiom.ai", "password": PASSWORD}
        | dict.fromkeys(("schema", "login", "port", "extra"))
    )
    conn = await get_connection_async("axiom_db", HookWithoutAsyncLookup())
    assert (conn.conn_id, conn.conn_type, conn.host, conn.password) == (
        "axiom_db",
        "axiom",
        "app.axiom.ai",
        PASSWORD,
    )
    assert [type(m).__name__ for m in supervisor.sent] == ["GetConnection", "MaskSecret"]


async def test_a_connection_nobody_knows_is_not_found(supervisor: Supervisor) -> None:
    from airflow.sdk.exceptions import ErrorType

    supervisor.answers["GetConnection"] = ErrorResponse(error=ErrorType.CONNECTION_NOT_FOUND)
    with pytest.raises(AirflowNotFoundException, match="axiom_nowhere"):
        await get_connection_async("axiom_nowhere", HookWithoutAsyncLookup())


async def test_a_request_whose_sender_is_cancelled_still_reads_its_answer() -> None:
    gate = asyncio.Event()
    channel = Supervisor(gate=gate)
    sender = asyncio.create_task(supervisor_asend(channel, MaskSecret(value=PASSWORD, name=None)))
    await channel.in_flight.wait()
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    gate.set()
    await asyncio.wait_for(channel.read.wait(), 5)  # read off the channel, not left for the next request
    assert len(channel.answered) == 1
