"""Pins: tests that fail when an upstream behaviour our design relies on changes.

Each pin asserts the *hazard* exists upstream, and says which of our rules it justifies. If one
starts failing, upstream fixed or changed something: revisit that rule, do not delete the pin
blindly.
"""

import http.client
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import requests

from freddy_magic.testing import find_canary

from .fakes import captured_logs
from .hostile import HostileServer, Reply

pytestmark = pytest.mark.security


def test_q2_requests_invalid_header_puts_the_value_in_its_message(canary):
    request = requests.Request("GET", "http://127.0.0.1:9/", headers={"api-key": canary.value + "\n"})
    with pytest.raises(requests.exceptions.InvalidHeader) as info:
        request.prepare()
    assert canary.value in str(info.value), (
        "requests no longer echoes header values: the client still checks them itself"
    )


def test_q2_http_client_putheader_puts_the_value_in_its_message(canary):
    conn = http.client.HTTPConnection("127.0.0.1", 9)
    conn.putrequest("GET", "/")
    with pytest.raises(ValueError) as info:
        conn.putheader("api-key", canary.value + "\r\n")
    assert canary.value in str(info.value)


def test_q3_ipython_env_masks_key_names_but_returns_raw_values(canary, monkeypatch, ip):
    monkeypatch.setenv("FREDDY_API_KEY", canary.value)
    listing = ip.run_line_magic("env", "")
    assert listing["FREDDY_API_KEY"] == "<hidden>", "the %env listing no longer masks our variable name"
    assert ip.run_line_magic("env", "FREDDY_API_KEY") == canary.value  # why we never tell users to %env it


def test_q4_jupyterlab_widgets_save_state_defaults_off():
    schemas = list(
        Path(sys.prefix, "share/jupyter/labextensions/@jupyter-widgets/jupyterlab-manager").rglob("plugin.json")
    )
    if not schemas:
        pytest.skip("jupyterlab_widgets schema not installed in this environment")
    schema = json.loads(schemas[0].read_text())
    assert schema["properties"]["saveState"]["default"] is False


def test_q5_httpx_headers_repr_masks_authorization_but_not_api_key(canary):
    httpx = pytest.importorskip("httpx")
    shown = repr(httpx.Headers({"Authorization": "Bearer " + canary.value, "api-key": canary.value}))
    assert "Bearer " + canary.value not in shown
    assert canary.value in shown, "httpx now masks api-key too: this pin can be relaxed"


def test_p3_requests_forwards_api_key_on_a_cross_origin_redirect(canary):
    """Why redirects are never followed: requests strips Authorization across origins, not api-key."""
    with HostileServer(Reply(200, body=b"{}")) as target:
        with HostileServer(
            Reply(302, headers={"Location": target.url.replace("127.0.0.1", "localhost") + "/x"}, body=b"")
        ) as origin:
            requests.get(
                origin.url + "/start",
                headers={"api-key": canary.value, "Authorization": "Bearer " + canary.value},
                timeout=10,
            )
        (seen,) = target.seen
    assert seen.headers.get("api-key") == canary.value
    assert "Authorization" not in seen.headers


def test_pin_http_client_wire_debug_prints_headers_to_stdout(canary):
    """Why wire debug is refused rather than filtered: it is print(), not logging."""
    with HostileServer(Reply(200, body=b"{}")) as server:
        out = io.StringIO()
        old = http.client.HTTPConnection.debuglevel
        http.client.HTTPConnection.debuglevel = 1
        try:
            with redirect_stdout(out):
                requests.get(server.url, headers={"api-key": canary.value}, timeout=10)
        finally:
            http.client.HTTPConnection.debuglevel = old
    assert canary.value in out.getvalue()


def test_pin_comm_logger_logs_inbound_widget_values_at_debug(canary):
    """The ``comm`` package logs every inbound comm message, value included, at DEBUG on logger
    "Comm". So a password typed into any widget reaches DEBUG logs before any handler runs,
    unless something filters that logger (see the kernel sweep at DEBUG)."""
    import comm

    with captured_logs(on="Comm", debug=("Comm",)) as records:
        c = comm.DummyComm(target_name="jupyter.widget")
        c.handle_msg({"content": {"data": {"method": "update", "state": {"value": canary.value}}}})
    assert find_canary([r["message"] for r in records], canary.value)
