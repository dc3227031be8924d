"""The default host nobody chose: when it cannot be reached, the error names the other official
host and the variable that picks it; a host the user chose is never second-guessed."""

import pytest
import requests
import urllib3
from IPython.core.error import UsageError

from freddy_magic._auth import Credential
from freddy_magic._client import FreddyClient
from freddy_magic._errors import ConnectionFailed
from freddy_magic._hosts import OFFICIAL_BASE_URLS, other_official
from freddy_magic._payloads import DEFAULT_BASE_URL

KEY = "ak_unit_hosts_0123456789abcdef"


def _refused():
    reason = urllib3.exceptions.NewConnectionError(None, "refused")
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


def _client(sleeper, base_url=None):
    return FreddyClient(base_url, Credential.api_key(KEY), sleep=sleeper, max_retries=0)


def test_each_official_host_names_the_other():
    assert other_official(OFFICIAL_BASE_URLS[0]) == "https://api.aitronos.com"
    assert other_official("https://api.aitronos.com") == DEFAULT_BASE_URL
    assert other_official("https://proxy.example.org") is None


def test_unreachable_default_host_names_the_variable_and_the_other_host(scripted, sleeper):
    scripted.get(DEFAULT_BASE_URL + "/v1/models", body=_refused())
    with pytest.raises(ConnectionFailed) as caught:
        _client(sleeper).models()
    message = str(caught.value)
    assert "FREDDY_BASE_URL=https://api.aitronos.com" in message and "\n" not in message
    assert "not one you chose" in message


def test_a_chosen_host_gets_no_hint(scripted, sleeper):
    scripted.get(DEFAULT_BASE_URL + "/v1/models", body=_refused())
    with pytest.raises(ConnectionFailed) as caught:
        _client(sleeper, DEFAULT_BASE_URL).models()
    assert "FREDDY_BASE_URL" not in str(caught.value)


def test_a_failure_after_connecting_gets_no_hint(scripted, sleeper):
    scripted.get(DEFAULT_BASE_URL + "/v1/models", body=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(ConnectionFailed) as caught:
        _client(sleeper).models()
    assert "FREDDY_BASE_URL" not in str(caught.value), "the host answered: it is not the wrong host"


@pytest.mark.parametrize("env", [None, DEFAULT_BASE_URL])
def test_the_magic_line_names_the_other_host_only_for_the_unset_default(ip, scripted, monkeypatch, env):
    """FREDDY_BASE_URL set (even to the default) is a choice; unset, the default is not."""
    for name in ("FREDDY_BASE_URL", "FREDDY_SANDBOX", "FREDDY_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    if env:
        monkeypatch.setenv("FREDDY_BASE_URL", env)
    monkeypatch.setenv("FREDDY_API_KEY", KEY)
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    scripted.get(DEFAULT_BASE_URL + "/v1/auth/validate", body=_refused())
    ip.config.FreddyMagics.max_retries = 0
    ip.run_line_magic("load_ext", "freddy_magic")
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("freddy_auth", "--env")
    assert ("https://api.aitronos.com" in str(caught.value)) is (env is None)
