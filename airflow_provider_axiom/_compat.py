"""Every Airflow name the provider uses, imported once, so one package works on Airflow 3.0 to 3.3.

The SDK names moved between minor releases (``airflow.sdk.BaseHook`` is 3.1+, the sensor
exceptions and ``conf`` under ``airflow.sdk`` are 3.2+); ``apache-airflow-providers-common-compat``
resolves each to where the running Airflow has it, as the official providers do. Features that
exist only on newer releases are detected here, never by comparing version strings elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow.providers.common.compat.version_compat import (
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
)
from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow.sdk import Context as Context
    from airflow.sdk.types import TaskInstanceKey as TaskInstanceKey

#: The triggerer calls ``BaseTrigger.on_kill`` only for a user's kill (3.3+). Older triggerers
#: cancel a trigger the same way for a kill, a restart and a move, so nothing may stop a run there.
TRIGGER_ON_KILL = AIRFLOW_V_3_3_PLUS
#: ``context["task_state_store"]`` (3.3+): what lets a retry re-attach to its run.
TASK_STATE_STORE = AIRFLOW_V_3_3_PLUS
#: An event trigger (asset watcher) gets ``asset_state_store`` (3.3+), where its watermark outlives the triggerer.
ASSET_STATE_STORE = AIRFLOW_V_3_3_PLUS
#: Provider info's declarative ``conn-fields``/``ui-field-behaviour`` are read from 3.2 on;
#: older UIs need the hook's ``get_ui_field_behaviour``/``get_connection_form_widgets``.
DECLARATIVE_CONNECTION_FORM = AIRFLOW_V_3_2_PLUS
#: The least time between a task's deferral and its trigger's event. Airflow 3.0 to 3.3 (apache/
#: airflow#71580, #72716) mark a deferred task failed when its trigger fires so soon that the task is
#: running again before the scheduler has processed the executor's "success" for the process that
#: deferred ("task state changed externally"; 6 s after the deferral on a loaded Airflow 3.0 here).
RESUME_GUARD = timedelta(seconds=15)


def this_process() -> str:
    """Where this code runs (host and pid). ``airflow dags test`` runs a trigger in the process that
    deferred it, where no executor event can race its task: there the resume guard is not kept."""
    return f"{socket.gethostname()}:{os.getpid()}"


def resume_guarded(deferred_at: Any, deferred_in: str | None) -> Any:
    """When a trigger deferred at ``deferred_at`` in ``deferred_in`` may fire (``RESUME_GUARD`` after it),
    or None: no guard (a trigger serialised by 0.2, or one run where it was deferred)."""
    if deferred_at is None or deferred_in is None or deferred_in == this_process():
        return None
    return deferred_at + RESUME_GUARD


def xcom_value(key: str, ti_key: Any) -> Any:
    """An XCom value by key for a task instance (for operator extra links)."""
    from airflow.providers.common.compat.sdk import XCom

    return XCom.get_value(key=key, ti_key=ti_key)


async def get_connection_async(conn_id: str, hook: Any) -> Any:
    """The connection, through async I/O where this Airflow has it.

    Airflow 3.0 has no ``aget_connection``: common-compat then runs the sync lookup in a thread,
    whose request to the triggerer's supervisor (and whose masking of the password) runs a second
    event loop on the same socket, and the triggerer dies with "Response read out of order"
    (apache/airflow#64620; seen with 20 triggers resolving at once). There the lookup is done as 3.1
    does it: the secrets backends, then the supervisor through its async channel.
    """
    if not hasattr(hook, "aget_connection"):
        comms = supervisor_comms()
        if comms is not None:
            return await _connection_through(comms, conn_id)
    from airflow.providers.common.compat.connection import get_async_connection

    return await get_async_connection(conn_id, hook)


async def _from_backend(backend: Any, conn_id: str) -> Any:
    """A backend's connection. Its value is read in a thread; it is parsed here, in the event loop,
    with no supervisor to tell: 3.0's ``Connection()`` masks its password with a sync request, which
    from a thread is the race above. (The caller masks through the async channel.) A backend that
    builds its connection itself is asked in a thread, as Airflow would."""
    from airflow.sdk.execution_time import task_runner

    try:
        value = await asyncio.to_thread(backend.get_conn_value, conn_id=conn_id)
    except NotImplementedError:
        return await asyncio.to_thread(backend.get_connection, conn_id=conn_id)
    if not value:
        return None
    comms = task_runner.SUPERVISOR_COMMS
    task_runner.SUPERVISOR_COMMS = None  # type: ignore[assignment]  # no await until it is back
    try:
        return backend.deserialize_connection(conn_id=conn_id, value=value)
    finally:
        task_runner.SUPERVISOR_COMMS = comms


def supervisor_comms() -> Any:
    """The triggerer's async channel to its supervisor, or None (a worker, ``airflow dags test``, a test)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return None
    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    return comms if comms is not None and inspect.iscoroutinefunction(getattr(comms, "asend", None)) else None


async def supervisor_asend(comms: Any, msg: Any) -> Any:
    """Send ``msg`` and read its answer, even if the caller is cancelled meanwhile: before 3.2 Airflow
    reads answers in order, so a request abandoned mid-read leaves its answer for the next one, and
    the triggerer dies with "Response read out of order"."""
    return await asyncio.shield(comms.asend(msg))


async def _connection_through(comms: Any, conn_id: str) -> Any:
    from airflow.sdk.definitions.connection import Connection
    from airflow.sdk.execution_time.comms import ErrorResponse, GetConnection
    from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

    conn = None
    for backend in ensure_secrets_backend_loaded():  # environment variables, a configured backend
        try:
            conn = await _from_backend(backend, conn_id)
        except Exception:  # as Airflow does: a backend that fails is skipped
            continue
        if conn:
            break
    if not conn:
        answer = await supervisor_asend(comms, GetConnection(conn_id=conn_id))
        if isinstance(answer, ErrorResponse):
            if getattr(answer.error, "value", None) == "CONNECTION_NOT_FOUND":
                raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
            raise AirflowException(f"Airflow could not read the connection {conn_id!r}: {answer.detail}")
        conn = Connection(**answer.model_dump(exclude={"type"}, by_alias=True))  # as 3.0 builds it
    await amask_secret(conn.password)
    await amask_secret(conn.extra)
    return conn


#: Airflow's secrets masker skips (with a warning) secrets shorter than this; nothing shorter is registered.
MIN_MASKED_LENGTH = 5


def _worth_masking(secret: str | None) -> bool:
    return bool(secret) and len(secret or "") >= MIN_MASKED_LENGTH


def mask_secret(secret: str | None) -> None:
    """Register a secret with Airflow's masker (this process and its supervisor): logs show ``***``."""
    if not _worth_masking(secret):
        return
    try:
        from airflow.providers.common.compat.sdk import mask_secret as _mask
    except ImportError:  # common-compat 1.20 does not map it: where Airflow 3.0 has it
        from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask  # type: ignore[no-redef]
    _mask(secret)


async def amask_secret(secret: str | None) -> None:
    """:func:`mask_secret` from async code (a trigger), never blocking the event loop on its supervisor."""
    if not _worth_masking(secret):
        return
    try:
        from airflow.sdk.log import amask_secret as _amask
    except ImportError:  # an Airflow without amask_secret: what it does, through the async channel
        _local_mask(str(secret))
        with contextlib.suppress(Exception):
            from airflow.sdk.execution_time.comms import MaskSecret

            comms = supervisor_comms()
            if comms is not None:
                await supervisor_asend(comms, MaskSecret(value=secret, name=None))
        return
    await _amask(secret)


def _local_mask(secret: str) -> None:
    for module in ("airflow.sdk._shared.secrets_masker", "airflow.sdk.execution_time.secrets_masker"):
        try:
            masker = __import__(module, fromlist=["_secrets_masker"])._secrets_masker()
        except (ImportError, AttributeError):
            continue
        masker.add_mask(secret)
        return


__all__ = [
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "ASSET_STATE_STORE",
    "DECLARATIVE_CONNECTION_FORM",
    "MIN_MASKED_LENGTH",
    "TASK_STATE_STORE",
    "TRIGGER_ON_KILL",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseEventTrigger",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "PokeReturnValue",
    "TaskInstanceKey",
    "TriggerEvent",
    "amask_secret",
    "conf",
    "get_connection_async",
    "mask_secret",
    "supervisor_asend",
    "supervisor_comms",
    "xcom_value",
]
