"""``python -m freddy_magic.sandbox``: the --json first line, a working server, clean stop on signals."""

import json
import re
import signal
import subprocess
import sys

import pytest
import requests


def _start(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "freddy_magic.sandbox", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_json_first_line_then_clean_stop(sig):
    proc = _start("--json", "--rate-limit", "5/1s", "--fault", "GET /v1/models status=503")
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"url", "api_key", "email", "password", "organization_id"}
        assert info["url"].startswith("http://127.0.0.1:")
        headers = {"api-key": info["api_key"]}
        assert requests.get(info["url"] + "/v1/models", headers=headers, timeout=10).status_code == 503
        r = requests.get(info["url"] + "/v1/models", headers=headers, timeout=10)
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "5"
        login = requests.post(
            info["url"] + "/v1/auth/login",
            timeout=10,
            json={"email_or_username": info["email"], "password": info["password"]},
        )
        assert login.status_code == 200
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out == "", "nothing but the JSON line goes to stdout"
    assert login.json()["email_key"] in err, "the login code is printed to the server log"
    assert "Traceback" not in err


def test_banner_prints_credentials_and_the_lines_that_connect_a_notebook_to_it():
    proc = _start("--pace", "1")
    try:
        banner = []
        while not banner or not banner[-1].startswith("Press Ctrl-C"):
            banner.append(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
    text = "".join(banner)
    url = re.search(r"URL +(http://127\.0\.0\.1:\d+)", text).group(1)
    key = re.search(r"API key +(\S+)", text).group(1)
    assert "sandbox" in banner[0].lower() and key.startswith("ak_")
    assert f"export FREDDY_BASE_URL={url} FREDDY_API_KEY={key}" in text
    assert f'%config FreddyMagics.base_url = "{url}"' in text and "%freddy_auth --key" in text
    assert "Pace             1 " in text
    # --sandbox is named only to say it is not the way to reach this server
    assert "%freddy_auth --sandbox would start another one" in text


def test_verbose_logs_requests_to_stderr():
    proc = _start("--json", "--verbose")
    try:
        info = json.loads(proc.stdout.readline())
        requests.get(info["url"] + "/v1/health/", timeout=10)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert "GET /v1/health/ 200" in err


def test_refuses_non_loopback_without_allow_remote():
    proc = _start("--host", "0.0.0.0", "--json")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == "" and "allow_remote" in err
