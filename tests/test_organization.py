"""The status card names the organization requests go to, against the real sandbox over HTTP.

Names are read from the sandbox's own ``GET /v1/organizations/{id}`` here, so a test compares the
card with what the API says, not with a name copied into the test.
"""

import pytest
import requests
from IPython.core.error import UsageError

from freddy_magic.sandbox import Fault

ORGS = "/v1/organizations"


def _name(sandbox, org_id):
    """The organization's name as the API gives it (to a caller that belongs to it)."""
    if org_id == sandbox.organization_id:
        auth = {"X-API-Key": sandbox.api_key}
    else:
        auth = {"Authorization": f"Bearer {_teacher_token(sandbox)}"}
    answer = requests.get(f"{sandbox.url}{ORGS}/{org_id}", headers=auth, timeout=30)
    answer.raise_for_status()
    return answer.json()["name"]


def _teacher_token(sandbox):
    from freddy_magic._client import FreddyClient

    client = FreddyClient(sandbox.url)
    challenge = client.login(sandbox.teacher_email, sandbox.password)
    client.verify(challenge, sandbox.outbox(to=sandbox.teacher_email)[-1]["code"])
    headers = {}
    client.credential.authorize(headers)
    client.close()
    return headers["Authorization"].split(" ", 1)[1]


def _sign_in(magics, sandbox, who=None):
    who = who or sandbox.email
    magics.session.begin_login(who, sandbox.password)
    return magics.session.finish_login(str(sandbox.outbox(to=who)[-1]["code"]))


def test_a_key_session_shows_its_organization_by_name(connected, shared_sandbox):
    org = shared_sandbox.organization_id
    status = connected.session.status()
    assert status["organization"] == f"{_name(shared_sandbox, org)} ({org})"
    page = status._repr_html_()
    assert f"title='{_name(shared_sandbox, org)} ({org})'" in page, "the whole id is in the HTML title"
    assert f">{_name(shared_sandbox, org)} ({org[:13]}…)</td>" in page, "the id is shortened on screen"
    assert "organization at the next" not in status.line()


def test_a_signed_in_session_shows_the_current_organization_by_name(magics, shared_sandbox):
    status = _sign_in(magics, shared_sandbox)
    assert magics.session.client.credential.method == "bearer"
    org = shared_sandbox.organization_id
    assert status["organization"] == f"{_name(shared_sandbox, org)} ({org})"


def test_several_organizations_and_none_chosen_says_how_to_pick_one(ip, magics, shared_sandbox):
    status = _sign_in(magics, shared_sandbox, shared_sandbox.teacher_email)
    said = status["organization"]
    assert "you belong to 2 organizations" in said and '%config FreddyMagics.organization_id = "org_' in said
    assert shared_sandbox.organization_id not in said and shared_sandbox.second_organization_id not in said
    with pytest.raises(UsageError, match="several organizations"):  # control: the server does not choose
        ip.run_cell_magic("freddy", "--no-stream", "hello")


def test_a_configured_organization_is_shown_by_its_name(ip, magics, shared_sandbox):
    second = shared_sandbox.second_organization_id
    ip.run_line_magic("config", f'FreddyMagics.organization_id = "{second}"')
    status = _sign_in(magics, shared_sandbox, shared_sandbox.teacher_email)
    assert status["organization"] == f"{_name(shared_sandbox, second)} ({second})"
    assert _name(shared_sandbox, second) != _name(shared_sandbox, shared_sandbox.organization_id)
    assert ip.run_cell_magic("freddy", "--no-stream", "hello")["status"] == "ok"


def test_the_in_kernel_sandbox_shows_its_demo_organization_by_name(ip, monkeypatch):
    monkeypatch.setenv("PYTHON_DOTENV_DISABLED", "1")
    ip.run_line_magic("load_ext", "freddy_magic")
    status = ip.run_line_magic("freddy_auth", "--sandbox")
    own = ip.magics_manager.registry["FreddyMagics"].session.sandbox
    assert status["organization"] == f"{_name(own, own.organization_id)} ({own.organization_id})"


@pytest.mark.parametrize(("status", "code"), [(403, "INSUFFICIENT_PERMISSIONS"), (404, "NOT_FOUND")])
def test_a_refused_organization_list_still_connects_and_shows_what_it_knows(ip, magics, shared_sandbox, status, code):
    shared_sandbox.faults.add(Fault(method="GET", path=ORGS, kind="status", status=status, code=code, times=None))
    refused = shared_sandbox.calls(ORGS, "GET")
    key = magics.session.connect_key(shared_sandbox.api_key, "test")
    assert key["title"] == "Connected" and key["organization"].startswith("chosen by the server")
    signed_in = _sign_in(magics, shared_sandbox)
    assert signed_in["organization"] == shared_sandbox.organization_id, "the profile's organization, unnamed"
    assert shared_sandbox.calls(ORGS, "GET") == refused + 2, "control: the list was asked and refused"
    assert ip.run_cell_magic("freddy", "--no-stream", "hello")["status"] == "ok"


def test_a_changed_organization_setting_never_shows_the_old_name_for_the_new_id(ip, connected, shared_sandbox):
    first, foreign = shared_sandbox.organization_id, shared_sandbox.foreign_organization_id
    ip.run_line_magic("config", f'FreddyMagics.organization_id = "{foreign}"')
    status = ip.run_line_magic("freddy_auth", "--status")
    assert status["organization"] == f"{_name(shared_sandbox, first)} ({first})", "requests still go there"
    assert status["organization_next"] == foreign
    assert "organization at the next %freddy_auth: " + foreign[:13] + "…" in status.line()
    ip.run_line_magic("config", 'FreddyMagics.organization_id = ""')
    assert "organization_next" not in ip.run_line_magic("freddy_auth", "--status")


@pytest.mark.security
def test_the_organization_found_at_connect_is_never_recorded(ip, connected, shared_sandbox, tmp_path):
    """Not configured but found in the list, the id is still refused by the recorder."""
    assert not connected.organization_id and connected.session.organization.id == shared_sandbox.organization_id
    path = tmp_path / "org.jsonl"
    ip.user_ns["org"] = shared_sandbox.organization_id
    ip.run_line_magic("freddy", f"record {path}")
    leaked = ip.run_cell_magic("freddy", "--no-stream", "Repeat this: {org}")
    kept = ip.run_cell_magic("freddy", "--no-stream", "Repeat this: hello")
    ip.run_line_magic("freddy", "record --stop")
    assert leaked["status"] == kept["status"] == "ok"
    text = path.read_text()
    assert len(text.splitlines()) == 1 and shared_sandbox.organization_id not in text
