"""Every fault kind as a real httpx client sees it, and whether the request was processed."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator, FaultSpecError
from tests.polling import wait_for

BODY = {"key": "test-key", "name": "Export leads"}


def trigger(api, timeout: float = 5.0) -> httpx.Response:
    return api.http.post("/trigger", json=BODY, timeout=timeout)


def test_status_fault_before_processing(api):
    api.emu.set_faults("trigger", sequence=[{"status": 500}, {"status": 429, "retry_after": 2}, {"status": 503}])
    response = trigger(api)
    assert (response.status_code, response.json()) == (500, {"status": "error", "message": "Internal server error"})
    response = trigger(api)
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert response.json() == {"status": "error", "message": "Rate limit exceeded. Try again in a few seconds."}
    assert trigger(api).status_code == 503
    assert api.emu.runs() == []
    assert "OPEN LINK IN BROWSER" in trigger(api).json()  # sequence used up: normal again
    assert [(r["status"], r["fault"]) for r in api.emu.requests("trigger")] == [
        (500, "status:500"),
        (429, "status:429"),
        (503, "status:503"),
        (200, None),
    ]


def test_reset_before_processing(api):
    api.emu.set_faults("trigger", sequence=["reset"])
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        trigger(api)
    assert api.emu.runs() == []
    assert api.emu.requests()[-1]["status"] == "reset"
    assert "OPEN LINK IN BROWSER" in trigger(api).json()  # the client reconnects


def test_html_gateway_page(api):
    api.emu.set_faults("trigger", sequence=["html"])
    response = trigger(api)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in response.text
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert api.emu.runs() == []


def test_truncated_answer_was_processed(api):
    api.emu.set_faults("trigger", sequence=["truncated"])
    response = trigger(api)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert response.text.startswith('{"OPEN LINK IN BROWSER": "https://vnc')
    assert len(api.emu.runs()) == 1


def test_lost_response_reset_after_processing(api):
    api.emu.set_faults("trigger", sequence=["lost_response"])
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        trigger(api)
    assert len(api.emu.runs()) == 1  # the run IS created
    assert api.emu.requests()[-1]["fault"] == "lost_response:reset"


def test_lost_response_502_after_processing(api):
    api.emu.set_faults("trigger", sequence=[{"lost_response": 502}])
    assert trigger(api).status_code == 502
    assert len(api.emu.runs()) == 1


def test_lost_response_hang_times_out_the_client(api):
    api.emu.set_faults("trigger", sequence=[{"lost_response": "hang", "seconds": 0.4}])
    with pytest.raises(httpx.ReadTimeout):
        trigger(api, timeout=0.1)
    # The client gave up after 0.1 s; on a busy machine the server may not have created the run yet.
    wait_for("the run the hung request created", lambda: len(api.emu.runs()) == 1, timeout=10, interval=0.02)


def test_latency_delays_and_can_time_out(api):
    api.emu.set_faults("list-automations", sequence=[{"latency": 0.15}, {"latency": 0.3}])
    began = time.monotonic()
    assert api.call("list-automations").status_code == 200
    assert time.monotonic() - began >= 0.15
    with pytest.raises(httpx.ReadTimeout):
        api.http.post("/list-automations", json={"key": "test-key"}, timeout=0.05)


def test_latency_combines_with_a_status(api):
    api.emu.set_faults("run-reports", sequence=[{"latency": 0.1, "status": 502}])
    began = time.monotonic()
    assert api.call("run-reports").status_code == 502
    assert time.monotonic() - began >= 0.1
    assert api.emu.requests()[-1]["fault"] == "latency:0.1+status:502"


def test_latency_does_not_block_other_requests(api):
    import threading

    api.emu.set_faults("remaining-runtime", sequence=[{"latency": 1.5}])
    slow = threading.Thread(
        target=lambda: httpx.post(f"{api.emu.base_url}/remaining-runtime", json={"key": "test-key"})
    )
    slow.start()
    wait_for(  # until the slow request has taken its fault: it is waiting out its latency
        "the slow request to take its fault",
        lambda: api.emu.health()["faults"]["remaining-runtime"]["remaining"] == 0,
        timeout=5,
        interval=0.01,
    )
    assert api.call("list-automations").status_code == 200
    assert slow.is_alive()  # answered while the slow request still waits out its latency
    slow.join()


def test_star_applies_where_no_endpoint_plan_is_active(api):
    api.emu.set_faults("*", sequence=[{"status": 500}] * 3)
    api.emu.set_faults("list-automations", sequence=["ok"])
    assert api.call("list-automations").status_code == 200  # own plan ("ok")
    assert api.call("list-automations").status_code == 500  # own plan used up -> "*"
    assert api.call("remaining-runtime").status_code == 500
    assert api.call("run-reports").status_code == 500
    assert api.call("run-reports").status_code == 200
    api.emu.set_faults("*", probability=1.0, fault="html")
    assert api.call("run-reports").status_code == 502
    api.emu.set_faults("*")  # clears
    assert api.call("run-reports").status_code == 200


def test_probability_faults_are_seeded(make_api):
    def pattern(seed: int) -> list[int]:
        api = make_api(seed=seed, faults={"list-automations": {"probability": 0.5, "fault": {"status": 500}}})
        return [api.call("list-automations").status_code for _ in range(20)]

    first = pattern(7)
    assert first == pattern(7)
    assert 0 < first.count(500) < 20
    assert first != pattern(8)


def test_faults_from_the_scenario_and_endpoint_spellings():
    with AxiomEmulator({"faults": {"/api/v3/trigger": {"sequence": ["html"]}}}) as emu:
        response = httpx.post(f"{emu.base_url}/trigger", json={"key": "test-key", "name": "x"})
        assert response.status_code == 502
        assert emu.requests("/trigger")[0]["fault"] == "html"


@pytest.mark.parametrize(
    "spec",
    [
        "boom",
        {"status": 99},
        {"status": 500, "lost_response": "reset"},
        {"lost_response": "sometimes"},
        {"retry_after": 1},
        {"latency": -1},
        {"colour": "red"},
        [1],
    ],
)
def test_bad_fault_specs_are_rejected(api, spec):
    with pytest.raises(FaultSpecError):
        api.emu.set_faults("trigger", sequence=[spec])


def test_probability_validation(api):
    with pytest.raises(FaultSpecError, match="probability"):
        api.emu.set_faults("trigger", probability=1.5, fault="reset")
    with pytest.raises(FaultSpecError, match="fault"):
        api.emu.set_faults("trigger", probability=0.5)
    with pytest.raises(FaultSpecError, match="not both"):
        api.emu.set_faults("trigger", sequence=["reset"], probability=0.5, fault="reset")


def test_keep_alive_timeout_closes_idle_connections(make_api):
    import socket

    api = make_api(keep_alive_timeout=0.1)
    with socket.create_connection((api.emu.host, api.emu.port), timeout=2) as sock:
        body = b'{"key": "test-key"}'
        sock.sendall(
            b"POST /api/v3/list-automations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        sock.settimeout(5)  # idle from here: wait for the server to close it (0.1 s), at most 5 s
        assert sock.recv(65536) == b""  # closed by the server (FIN), not reset
    assert api.call("list-automations").status_code == 200  # httpx reconnects
    assert api.call("list-automations").status_code == 200


def test_keep_alive_by_default(api):
    import socket

    body = b'{"key": "test-key"}'
    request = (
        b"POST /api/v3/list-automations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection((api.emu.host, api.emu.port), timeout=2) as sock:
        for _ in range(3):  # three requests on one connection
            sock.sendall(request)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" not in answer
