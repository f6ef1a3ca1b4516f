"""The provider in Airflow's UI, seen in a real (headless) Chromium driven by Playwright.

The Airflow is the e2e one of ``conftest.py`` (api-server, scheduler, dag-processor, triggerer;
the emulator behind ``axiom_default``). The browser is the system's Chromium (Debian package
``chromium``); nothing downloads one. Without it the tests skip and say so. Screenshots of every
step are kept in ``.artifacts/ui/airflow-<version>-py<version>/`` (under ``$AXIOM_TEST_ARTIFACTS``
instead of ``.artifacts`` when set); the path is printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow import __version__ as airflow_version

from airflow_provider_axiom import get_provider_info
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.e2e.airflow_kit import AirflowUnderTest, wait_until_finished
from tests.e2e.dags.e2e_axiom_dags import TASK_ID

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = (
    Path(os.environ.get("AXIOM_TEST_ARTIFACTS") or REPO / ".artifacts")
    / "ui"
    / f"airflow-{airflow_version}-py{sys.version_info[0]}.{sys.version_info[1]}"
)
CONN_TYPE = get_provider_info()["connection-types"][0]
BEHAVIOUR = CONN_TYPE["ui-field-behaviour"]
#: Labels Airflow gives the standard fields the provider hides.
HIDDEN_LABELS = {"schema": "Schema", "login": "Login", "port": "Port"}
STEP_TIMEOUT_MS = 30_000


def chromium_executable() -> str | None:
    """The system's Chromium: ``$AXIOM_CHROMIUM``, else ``chromium`` on PATH."""
    for candidate in (os.environ.get("AXIOM_CHROMIUM"), "chromium", "chromium-browser"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    if executable is None:
        pytest.skip(
            "no Chromium on this machine (install Debian's `chromium` package: `apt-get install -y chromium`; "
            ".ci/run does that where it can)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is a dev dependency: pip install -e .[dev]"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nUI screenshots go to {ARTIFACTS}")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, airflow_e2e: AirflowUnderTest, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(base_url=airflow_e2e.base_url, viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    # "All admins" logs the browser in through this route (it sets the token cookie).
    page.goto("/auth/token/login")
    try:
        yield page
    finally:
        shot(page, f"{request.node.name}-last")
        context.close()


def shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_new_axiom_connection_form(page: Any) -> Any:
    page.goto("/connections")
    page.get_by_role("button", name=re.compile("Add Connection", re.I)).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").first.click()
    page.keyboard.type("axiom")
    page.keyboard.press("Enter")
    return dialog


def labelled(dialog: Any, label: str) -> Any:
    """The input labelled ``label``: by its label element (3.2+ forms), else the first input after the text.

    The form that Airflow 3.0 and 3.1 build from a hook's widgets shows the label but does not tie
    it to the input.
    """
    field = dialog.get_by_label(label, exact=True)
    if field.count():
        return field
    return dialog.locator(f"xpath=.//*[normalize-space(text())='{label}']/following::input[1]")


def show_section(dialog: Any, section: str, field: Any, label: str) -> None:
    """Open a section of the form ("Standard Fields", "Extra Fields") and see ``field`` in it.

    Only one section is open at a time. A missing section or field fails with what the form shows.
    """
    header = dialog.get_by_role("button", name=section, exact=True)
    if header.count() == 0:
        shot(dialog.page, f"no-{section}")
        sections = dialog.get_by_role("button").all_inner_texts()
        raise AssertionError(f"the form has no {section!r} section; its buttons: {sections}")
    if not field.is_visible():
        header.click()
    try:
        field.wait_for(state="visible", timeout=10_000)
    except Exception as exc:  # playwright's TimeoutError
        shot(dialog.page, f"no-{label}")
        labels = [t.strip() for t in dialog.locator("label").all_inner_texts() if t.strip()]
        raise AssertionError(f"no field labelled {label!r} in {section!r}; the form's labels: {labels}") from exc
    dialog.page.wait_for_timeout(400)  # the section slides open: let it settle before a screenshot


def test_connection_form_shows_the_axiom_fields_and_saves(
    page: Any, airflow_e2e: AirflowUnderTest, emulator: AxiomEmulator
) -> None:
    dialog = open_new_axiom_connection_form(page)
    api_key = dialog.get_by_label(BEHAVIOUR["relabeling"]["password"], exact=True)
    base_url = dialog.get_by_label(BEHAVIOUR["relabeling"]["host"], exact=True)

    show_section(dialog, "Standard Fields", base_url, BEHAVIOUR["relabeling"]["host"])
    assert api_key.is_visible() and base_url.is_visible()
    assert api_key.get_attribute("placeholder") == BEHAVIOUR["placeholders"]["password"]
    assert api_key.get_attribute("type") == "password"
    assert base_url.get_attribute("placeholder") == BEHAVIOUR["placeholders"]["host"]
    for field in BEHAVIOUR["hidden-fields"]:
        assert dialog.get_by_label(HIDDEN_LABELS[field], exact=True).count() == 0, f"{field} is not hidden"
    conn_id = "axiom_from_the_ui"
    dialog.get_by_label(re.compile(r"^Connection ID", re.I)).fill(conn_id)
    base_url.fill(emulator.base_url)
    api_key.fill(emulator.api_key)
    shot(page, "connection-form-standard-fields")

    timeout_label = CONN_TYPE["conn-fields"]["timeout"]["label"]
    show_section(dialog, "Extra Fields", dialog.get_by_text(timeout_label, exact=True), timeout_label)
    timeout = labelled(dialog, timeout_label)
    for name, spec in CONN_TYPE["conn-fields"].items():
        field = labelled(dialog, spec["label"])
        assert field.count() == 1 and field.is_visible(), f"extra field {name} is not shown"
        assert dialog.get_by_text(spec["description"]).first.is_visible(), f"the description of {name} is not shown"
    timeout.fill("12")
    shot(page, "connection-form-extra-fields")

    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")
    page.get_by_text(conn_id).first.wait_for()
    shot(page, "connection-saved")

    saved = airflow_e2e.api("GET", f"/connections/{conn_id}")
    assert saved["conn_type"] == "axiom"
    assert saved["host"] == emulator.base_url
    assert saved["port"] is None and not saved["login"] and not saved["schema"]
    assert float(json.loads(saved["extra"] or "{}")["timeout"]) == 12

    # The saved connection works: Airflow's connection test calls the hook's test_connection.
    # (Not the form's Test button: Airflow 3.3.2 sends port 0 for a connection without a port and
    # answers "Bad Request"; fixed upstream after 3.3.2.)
    tested = airflow_e2e.api(
        "POST",
        "/connections/test",
        json={"connection_id": conn_id, "conn_type": "axiom", "host": emulator.base_url, "password": emulator.api_key},
    )
    assert tested["status"] is True, tested
    assert "runtime minutes left" in tested["message"]


def test_finished_task_shows_the_axiom_run_link(page: Any, airflow_e2e: AirflowUnderTest) -> None:
    dag_id = "e2e_axiom_deferred_success"
    run_id = airflow_e2e.trigger_dag(dag_id)

    run = wait_until_finished(airflow_e2e, dag_id, run_id, timeout=120)
    assert run["state"] == "success", airflow_e2e.diagnostics()
    viewer_url = airflow_e2e.xcom(dag_id, run_id, TASK_ID, key="viewer_url")
    assert viewer_url.startswith("https://")

    page.goto(f"/dags/{dag_id}/runs/{run_id}/tasks/{TASK_ID}")
    page.get_by_role("tab", name="Details").or_(page.get_by_role("link", name="Details")).first.click()
    link = page.get_by_role("link", name="Axiom run")
    link.wait_for()
    shot(page, "task-instance-details")
    assert link.get_attribute("href") == viewer_url
