"""Every Airflow name the provider uses, imported once, so one package works on Airflow 3.0 to 3.3.

The SDK names moved between minor releases (``airflow.sdk.BaseHook`` is 3.1+, the sensor
exceptions and ``conf`` under ``airflow.sdk`` are 3.2+); ``apache-airflow-providers-common-compat``
resolves each to where the running Airflow has it, as the official providers do. Features that
exist only on newer releases are detected here, never by comparing version strings elsewhere.
"""

from __future__ import annotations

import contextlib
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
    """The connection, through async I/O where this Airflow has it (3.0 has no ``aget_connection``)."""
    from airflow.providers.common.compat.connection import get_async_connection

    return await get_async_connection(conn_id, hook)


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
            from airflow.sdk.execution_time import task_runner
            from airflow.sdk.execution_time.comms import MaskSecret

            comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
            if comms is not None and hasattr(comms, "asend"):
                await comms.asend(MaskSecret(value=secret, name=None))
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
    "xcom_value",
]
