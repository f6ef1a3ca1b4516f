"""Packaging: provider info, discovery by Airflow, the connection (JSON and URI forms), test_connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from importlib.resources import files

import jsonschema
import pytest

import airflow_provider_axiom
from airflow_provider_axiom import get_provider_info
from airflow_provider_axiom._connection import build_base_url
from airflow_provider_axiom.exceptions import AxiomBadRequestError
from airflow_provider_axiom.hooks.axiom import AxiomHook


def test_provider_info_matches_airflows_schema():
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-axiom"  # must equal the distribution name
    assert info["versions"][0] == airflow_provider_axiom.__version__


def test_entry_point_is_registered():
    eps = entry_points(group="apache_airflow_provider")
    ours = [ep for ep in eps if ep.value.startswith("airflow_provider_axiom")]
    assert len(ours) == 1 and ours[0].load() is get_provider_info


def test_every_module_named_in_provider_info_imports():
    import importlib

    info = get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for conn in info["connection-types"]:
        module, cls = conn["hook-class-name"].rsplit(".", 1)
        assert getattr(importlib.import_module(module), cls).conn_type == conn["connection-type"]
    for link in info["extra-links"]:
        module, cls = link.rsplit(".", 1)
        assert getattr(importlib.import_module(module), cls)().name == "Axiom run"


PUBLIC_MODULES = [
    "airflow_provider_axiom",
    "airflow_provider_axiom.results",
    "airflow_provider_axiom.exceptions",
    "airflow_provider_axiom.hooks.axiom",
    "airflow_provider_axiom.operators.axiom",
    "airflow_provider_axiom.sensors.axiom",
    "airflow_provider_axiom.triggers.axiom",
    "airflow_provider_axiom.testing.emulator",
    "airflow_provider_axiom.testing.pytest_plugin",
]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_imports_first_in_a_fresh_interpreter(module):
    """A user's first import may be any public module: no import cycle may depend on the order."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], env=dict(os.environ), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_discovered_by_the_providers_manager():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "airflow-provider-axiom" in pm.providers
    assert "airflow_provider_axiom.triggers.axiom.AxiomRunTrigger" in {t.trigger_class_name for t in pm.trigger} or any(
        "airflow_provider_axiom.triggers.axiom" in t.trigger_class_name for t in pm.trigger
    )
    try:  # 3.2+; ProvidersManager().hooks is deprecated there
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hooks = ProvidersManagerTaskRuntime().hooks
    except ImportError:
        hooks = pm.hooks
    assert hooks["axiom"].hook_class_name == "airflow_provider_axiom.hooks.axiom.AxiomHook"


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        (None, None, None, "https://lar.axiom.ai/api/v3"),
        ("", None, "", "https://lar.axiom.ai/api/v3"),
        ("http://127.0.0.1:8099/api/v3", None, None, "http://127.0.0.1:8099/api/v3"),
        ("http://127.0.0.1:8099/api/v3/", None, None, "http://127.0.0.1:8099/api/v3"),
        ("http://127.0.0.1:8099", None, None, "http://127.0.0.1:8099/api/v3"),
        ("proxy.internal", 8443, "api/v3", "https://proxy.internal:8443/api/v3"),
        ("proxy.internal", None, None, "https://proxy.internal/api/v3"),
    ],
)
def test_base_url(host, port, schema, expected):
    assert build_base_url(host, port, schema) == expected


@pytest.mark.parametrize(
    ("env", "base_url"),
    [
        ("axiom://:KEY-123@", "https://lar.axiom.ai/api/v3"),
        ("axiom://:KEY-123@http%3A%2F%2F127.0.0.1%3A8099%2Fapi%2Fv3", "http://127.0.0.1:8099/api/v3"),
        ('{"conn_type": "axiom", "password": "KEY-123"}', "https://lar.axiom.ai/api/v3"),
        (
            '{"conn_type": "axiom", "password": "KEY-123", "host": "http://127.0.0.1:8099/api/v3"}',
            "http://127.0.0.1:8099/api/v3",
        ),
    ],
)
def test_connection_forms(monkeypatch, env, base_url):
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", env)
    settings = AxiomHook().settings
    assert settings.api_key == "KEY-123" and settings.base_url == base_url
    assert (settings.timeout, settings.max_retries, settings.rate_limit_per_minute) == (30.0, 5, 100)


def test_connection_extras_uri_and_json(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", "axiom://:K-1@?timeout=5&max_retries=2&rate_limit_per_minute=60")
    s = AxiomHook().settings
    assert (s.timeout, s.max_retries, s.rate_limit_per_minute) == (5.0, 2, 60)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AXIOM_DEFAULT",
        json.dumps({"conn_type": "axiom", "password": "K-1", "extra": {"timeout": 7, "max_retries": 0}}),
    )
    s = AxiomHook().settings
    assert (s.timeout, s.max_retries) == (7.0, 0)


@pytest.mark.parametrize(
    ("conn", "needle"),
    [
        ({"conn_type": "axiom"}, "has no API key"),
        ({"conn_type": "axiom", "password": "k", "extra": {"timeout": "soon"}}, "'timeout' must be a number"),
        ({"conn_type": "axiom", "password": "k", "extra": {"rate_limit_per_minute": 0}}, "out of range"),
    ],
)
def test_bad_connections_are_explained(monkeypatch, conn, needle):
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", json.dumps(conn))
    with pytest.raises(AxiomBadRequestError, match=needle):
        _ = AxiomHook().settings


async def test_async_connection_lookup(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", "axiom://:K-9@?timeout=4")
    settings = (await AxiomHook().atransport()).settings
    assert settings.api_key == "K-9" and settings.timeout == 4.0


def test_no_io_in_init():
    hook = AxiomHook("does_not_exist")  # no lookup, no client yet
    assert hook._transport is None


def test_test_connection_good_and_bad(axiom_emulator, monkeypatch):
    ok, message = AxiomHook().test_connection()
    assert ok and "runtime minutes left" in message

    bad = json.loads(axiom_emulator.connection_json())
    bad["password"] = "not-the-key"
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", json.dumps(bad))
    ok, message = AxiomHook().test_connection()
    assert not ok and "Invalid key" in message and "not-the-key" not in message

    monkeypatch.setenv(
        "AIRFLOW_CONN_AXIOM_DEFAULT", json.dumps({"conn_type": "axiom", "password": "k", "host": "http://127.0.0.1:9"})
    )
    ok, message = AxiomHook(max_retries=0).test_connection()
    assert not ok and "could not connect" in message


def airflow_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    return subprocess.run([airflow, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.airflow_db
def test_airflow_cli_lists_the_provider_and_tests_the_connection(axiom_emulator):
    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    listed = airflow_cli("providers", "list", env=env)
    assert "airflow-provider-axiom" in listed.stdout, listed.stderr[-2000:]

    good = airflow_cli("connections", "test", "axiom_default", env=env)
    assert "Connection success!" in good.stdout, good.stdout + good.stderr[-2000:]

    bad = json.loads(axiom_emulator.connection_json())
    bad["password"] = "not-the-key"
    failed = airflow_cli(
        "connections", "test", "axiom_default", env={**env, "AIRFLOW_CONN_AXIOM_DEFAULT": json.dumps(bad)}
    )
    assert "Connection failed!" in failed.stdout and "Invalid key" in failed.stdout
    assert "not-the-key" not in failed.stdout + failed.stderr


def test_hooks_share_one_tls_context():
    """Building a TLS context per client costs ~17 ms and ~0.8 MiB; a triggerer holds hundreds of hooks."""
    from airflow_provider_axiom._connection import AxiomSettings
    from airflow_provider_axiom._transport import client_options

    settings = AxiomSettings(api_key="k")
    assert client_options(settings)["verify"] is client_options(settings)["verify"]
