"""The key and sign-in prompts, driven without a front end (security.md §4.B).

Widgets are created against a recording comm (``comm.create_comm`` is the library's own seam;
its default ``DummyComm`` drops messages), so the tests can see what the kernel would send to
the browser: the cleared value, and no echo of the secret.
"""

import gc

import comm
import ipywidgets
import pytest
from comm.base_comm import BaseComm
from ipywidgets.widgets import widget as widget_module

from freddy_magic._errors import AuthError
from freddy_magic.testing import Canary
from freddy_magic._widgets import KeyPrompt, LoginPrompt, SecretField


class RecordingComm(BaseComm):
    sent = []

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        RecordingComm.sent.append((msg_type, data))


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch):
    RecordingComm.sent = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **kw: RecordingComm(*a, **kw))
    return RecordingComm.sent


def frontend_types(widget, value):
    """What JupyterLab sends when the user presses Enter in the field."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": {"value": value},
                                             "buffer_paths": []}}, "buffers": []})


def test_secret_field_is_not_echoed_and_syncs_once():
    field = SecretField()
    assert field.trait_metadata("value", "echo_update") is False
    assert field.continuous_update is False
    assert "value" not in repr(field)


def test_stock_password_does_echo(recording_comm):
    """Control: if upstream stops echoing, this fails and the subclass can be reconsidered."""
    canary = Canary()
    frontend_types(ipywidgets.Password(), canary.value)
    echoes = [data for _type, data in recording_comm if data and data.get("method") == "echo_update"]
    assert echoes and canary.find(echoes)


def test_key_submitted_by_enter_is_cleared_not_echoed_and_widget_closed(recording_comm):
    canary, seen = Canary(), []
    prompt = KeyPrompt(lambda key: seen.append(key) or "Connected fp=test")
    frontend_types(prompt.field, canary.value)
    assert seen == [canary.value]
    assert prompt.field.value == ""
    assert prompt.field.comm is None and prompt.connect.comm is None
    assert prompt.field not in widget_module._instances.values()
    assert not [d for _t, d in recording_comm if d and d.get("method") == "echo_update"]
    assert any(d and d.get("state") == {"value": ""} for _t, d in recording_comm)
    assert [type(child).__name__ for child in prompt.box.children] == ["HTML"]
    assert "Connected fp=test" in prompt.box.children[0].value
    state = ipywidgets.Widget.get_manager_state(drop_defaults=False)
    canary.assert_absent(repr(state), repr(prompt.box))


def test_connect_button_submits_and_a_second_click_is_harmless():
    seen = []
    prompt = KeyPrompt(lambda key: seen.append(key) or "ok")
    prompt.field.value = ""
    prompt.connect.click()
    assert "Paste a key" in prompt.message.value and seen == []
    prompt.field.set_trait("value", "k" * 20)  # arrives from the front end; the observer submits
    prompt.connect.click()
    assert seen == ["k" * 20]


def test_failure_shows_one_line_reason_and_field_is_ready_again():
    canary = Canary()

    def reject(key):
        raise AuthError("The API key was rejected (401 INVALID_API_KEY)\nsecond line")

    prompt = KeyPrompt(reject)
    prompt.field.value = canary.value
    assert prompt.field.value == ""
    assert prompt.field.comm is not None and not prompt.field.disabled
    assert "rejected" in prompt.message.value and "second line" not in prompt.message.value
    canary.assert_absent(prompt.message.value)
    prompt.field.value = "another-try-key"
    assert "rejected" in prompt.message.value


def test_unexpected_callback_error_is_shown_in_the_cell_and_redacted():
    canary = Canary()

    def broken(key):
        raise RuntimeError(f"bug while handling {key}")

    from freddy_magic import _redaction

    _redaction.register(canary.value)
    try:
        prompt = KeyPrompt(broken)
        prompt.field.value = canary.value
    finally:
        _redaction.forget(canary.value)
    text = "".join(out["text"] for out in prompt.errors.outputs)
    assert "RuntimeError" in text and "bug while handling" in text
    canary.assert_absent(text, prompt.message.value)
    assert "Unexpected error" in prompt.message.value


def test_cancel_clears_and_closes():
    prompt = KeyPrompt(lambda key: pytest.fail("must not be called"))
    prompt.cancel.click()
    assert prompt.field.comm is None and prompt.field.value == ""
    assert "Cancelled" in prompt.box.children[0].value


def test_prompt_is_not_retained_after_submit():
    prompt = KeyPrompt(lambda key: "ok")
    field = prompt.field
    prompt.field.value = "x" * 20
    del prompt
    gc.collect()
    holders = [ref for ref in gc.get_referrers(field) if isinstance(ref, dict) and ref is widget_module._instances]
    assert holders == []


def test_login_steps_then_done():
    canary, calls = Canary(), []

    def on_login(user, password):
        calls.append(("login", user, password))
        return "A 4-digit code was sent to ada@example.org."

    def on_verify(code):
        calls.append(("verify", code))
        if code != "1234":
            raise AuthError("Invalid verification code")
        return "Connected bearer fp=abcd"

    prompt = LoginPrompt(on_login, on_verify)
    prompt.password.value = canary.value
    assert calls == [] and "email or username first" in prompt.message.value
    assert prompt.password.value == ""
    prompt.user.value = "ada@example.org"
    prompt.password.value = canary.value
    assert calls == [("login", "ada@example.org", canary.value)]
    assert prompt.password.value == "" and prompt.code_row.layout.display is None
    assert "code was sent" in prompt.message.value
    prompt.code.value = "9999"
    assert "Invalid verification code" in prompt.message.value and prompt.code.value == ""
    prompt.code.value = "1234"
    assert calls[-1] == ("verify", "1234")
    assert all(w.comm is None for w in (prompt.user, prompt.password, prompt.code, prompt.verify))
    assert "Connected bearer" in prompt.box.children[0].value


@pytest.mark.parametrize("step", ["credentials", "code"])
def test_login_cancel_at_each_step(step):
    prompt = LoginPrompt(lambda user, password: "code sent", lambda code: "done")
    if step == "code":
        prompt.user.value = "ada"
        prompt.password.value = "pw-123456789"
    prompt.cancel.click()
    assert prompt.password.comm is None and prompt.code.comm is None
    assert prompt.user.value == "" and prompt.password.value == ""
    assert "Cancelled" in prompt.box.children[0].value
