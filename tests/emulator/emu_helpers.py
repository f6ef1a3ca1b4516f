"""Shared helpers of the emulator tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx

from airflow_provider_axiom.testing.emulator import DEFAULT_SCENARIO, AxiomEmulator
from tests import scenarios

START = "2025-04-10T15:14:51Z"
KEY = "test-key"
VIEWER_RE = re.compile(
    r"^https://vnc\.axiom\.ai/vnc_lite\.html\?host=dev-c-00(?P<pid>\d\d)-v4-proxy\.axiom\.ai"
    r"&port=443&autoconnect=true&password=(?P<pw>[A-Za-z0-9_-]+)&taskId=(?P<task>\d+)$"
)
REPORT_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z$")


def scenario(**overrides: Any) -> dict[str, Any]:
    """The emulator's default scenario (``DEFAULT_SCENARIO``: its key, automations and plan) on a frozen
    clock (speed 0) starting at START, with the API's rate limit; ``overrides`` replace whole fields."""
    default = copy.deepcopy(DEFAULT_SCENARIO)
    data = scenarios.scenario(
        default["api_key"],
        default["automations"],
        speed=0,
        rate_limit_per_minute=100,  # the API's limit (the emulator's default)
        plan=default["plan"],
        start_time=START,
    )
    data.update(overrides)
    return data


class Api:
    """POSTs JSON to the emulator; ``call()`` adds the key unless ``key=None``."""

    def __init__(self, emu: AxiomEmulator) -> None:
        self.emu = emu
        self.http = httpx.Client(base_url=emu.base_url, timeout=5)

    def post(self, endpoint: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"/{endpoint}", json=body, **kwargs)

    def call(self, endpoint: str, key: str | None = KEY, **fields: Any) -> httpx.Response:
        body = dict(fields)
        if key is not None:
            body["key"] = key
        return self.post(endpoint, body)

    def json(self, endpoint: str, **fields: Any) -> Any:
        response = self.call(endpoint, **fields)
        assert response.status_code == 200, response.text
        return response.json()

    def trigger(self, name: str, **fields: Any) -> Any:
        return self.json("trigger", name=name, **fields)

    def run_data(self, name: str) -> Any:
        return self.json("run-data", name=name)

    def reports(self, count: int | None = None) -> list[dict[str, Any]]:
        fields = {} if count is None else {"count": count}
        return self.json("run-reports", **fields)["data"]["reports"]

    def close(self) -> None:
        self.http.close()
