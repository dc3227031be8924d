"""The key and sign-in prompts, driven without a front end: cleared, closed, never echoed.

Widgets are created against a recording comm (``recording_comms``; ``comm.create_comm`` is the
library's own seam, and its default ``DummyComm`` drops messages), so a test sees every message
the kernel would publish on IOPub to every front end: the cleared value, and no echo of the
secret. The same flow in a real kernel is part of the canary sweeps (tests/e2e).
"""

import gc
import json
import logging
from types import SimpleNamespace

import ipywidgets
import pytest
from ipywidgets.embed import embed_minimal_html
from ipywidgets.widgets import widget as widget_module

from freddy_magic import _redaction, _widgets
from freddy_magic._auth import Credential
from freddy_magic._errors import AuthError
from freddy_magic.testing import find_canary

from .fakes import LogRecords, front_end_event, front_end_update

pytestmark = pytest.mark.security


def _state_dumps():
    """The synced state of every live widget, read trait by trait so that one broken widget
    (see test_b4_manager_state_exportable_after_submit) does not hide the others."""
    states = []
    for w in list(widget_module._instances.values()):
        states.append(json.dumps({k: getattr(w, k, None) for k in w.keys}, default=repr))
    return states


def _echoes(sent, comm_ids=None):
    return [
        m
        for m in sent
        if (m["data"] or {}).get("method") == "echo_update" and (comm_ids is None or m["comm_id"] in comm_ids)
    ]


@pytest.fixture
def accepted():
    """``(got, on_key)``: a key callback that keeps each credential it made and reports it."""
    got = []

    def on_key(key):
        cred = Credential.api_key(key)
        got.append(cred)
        return f"Authenticated ({cred.fingerprint})"

    yield got, on_key
    for cred in got:
        cred.clear()


def test_b3_secret_field_syncs_once_and_is_tagged_no_echo():
    field = _widgets.SecretField()
    assert field.continuous_update is False
    assert field.trait_metadata("value", "echo_update") is False
    field.close()


def test_b6_repr_and_text_fallback_hide_the_value(canary):
    field = _widgets.SecretField(value=canary.value)
    bundle = field._repr_mimebundle_() if hasattr(field, "_repr_mimebundle_") else {}
    assert "value" not in repr(field)
    assert find_canary([repr(field), str(field), json.dumps(bundle, default=str)], canary.value) == []
    field.value = ""
    field.close()


def test_q1_stock_password_echoes_the_value_to_every_front_end(recording_comms, canary):
    """The control for SecretField: if upstream stops echoing, this fails and the subclass can
    be reconsidered."""
    pw = ipywidgets.Password()
    front_end_update(pw, value=canary.value)
    assert find_canary(_echoes(recording_comms), canary.value), "stock Password stopped echoing"
    assert canary.value in json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=True))
    assert canary.value not in repr(pw)  # its repr hides value; the trait state does not
    pw.close()


def test_b1_b2_key_is_read_cleared_closed_and_never_echoed(recording_comms, canary, accepted):
    got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    field_id = prompt.field.model_id
    front_end_update(prompt.field, value=canary.value)  # what JupyterLab sends on Enter
    fingerprint = _redaction.fingerprint(canary.value)
    assert [c.fingerprint for c in got] == [fingerprint]
    assert prompt.field.value == ""
    to_field = [m for m in recording_comms if m["comm_id"] == field_id]
    assert _echoes(to_field) == []
    assert any((m["data"] or {}).get("state", {}).get("value") == "" for m in to_field), "front end not told to clear"
    assert field_id not in widget_module._instances
    assert prompt.field.comm is None and prompt.connect.comm is None
    assert [type(child).__name__ for child in prompt.box.children] == ["HTML"]
    assert f"Authenticated ({fingerprint})" in prompt.box.children[0].value
    state = ipywidgets.Widget.get_manager_state(drop_defaults=False)
    assert find_canary([recording_comms, *_state_dumps(), repr(state), repr(prompt.box)], canary.value) == []


def test_b4_manager_state_exportable_after_submit(recording_comms, canary, accepted, tmp_path):
    """Saving widget state (ipywidgets.embed, "Save widget state") must work after auth and
    hold no secret. A container left open that still lists closed children breaks the export."""
    _got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    front_end_update(prompt.field, value=canary.value)
    exported = [json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=d)) for d in (True, False)]
    embed_minimal_html(tmp_path / "export.html", views=[prompt.box])
    assert find_canary([*exported, tmp_path / "export.html"], canary.value) == []


def test_b1_connect_with_an_empty_field_sends_nothing_and_a_late_click_is_harmless(recording_comms, accepted):
    got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    front_end_event(prompt.connect, "click")
    assert got == [] and "Paste a key" in prompt.message.value
    key = "k" * 20
    front_end_update(prompt.field, value=key)  # the value arrives first and is submitted...
    prompt.connect.click()  # ...so the click that follows finds nothing to send
    assert [c.fingerprint for c in got] == [_redaction.fingerprint(key)]


@pytest.mark.parametrize("bad", ["{c}\n", "{c}\r", "{c}\x00", "\t{c}\x1b", "{c} space-inside {c}"])
def test_b5_validation_failure_clears_and_does_not_echo(recording_comms, canary, accepted, bad):
    got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    front_end_update(prompt.field, value=bad.format(c=canary.value))
    assert got == [] and prompt.field.value == ""
    assert "API key" in prompt.message.value
    assert find_canary([recording_comms, prompt.message.value, *_state_dumps()], canary.value) == []
    prompt.cancel.click()


def test_b5_rejected_key_shows_one_clean_line_and_the_field_is_ready_again(recording_comms, canary):
    def on_key(key):
        raise AuthError(_redaction.redact(f"The API key was rejected (401 INVALID_API_KEY) for key {key}\nsecond line"))

    _redaction.register(canary.value)
    try:
        prompt = _widgets.KeyPrompt(on_key)
        front_end_update(prompt.field, value=canary.value)
    finally:
        _redaction.forget(canary.value)
    assert prompt.field.value == ""
    assert prompt.field.comm is not None and not prompt.field.disabled
    assert "rejected" in prompt.message.value and "second line" not in prompt.message.value
    assert find_canary([recording_comms, prompt.message.value, *_state_dumps()], canary.value) == []
    front_end_update(prompt.field, value="another-try-key")
    assert "rejected" in prompt.message.value
    prompt.cancel.click()


def test_b5_unexpected_callback_error_is_shown_without_the_key(recording_comms, canary):
    """A bug (or a library exception) whose message carries the typed value is shown in the
    cell, but not the value: the error Output is broadcast and saved with widget state."""

    def on_key(key):
        raise RuntimeError("bug while handling " + key)

    prompt = _widgets.KeyPrompt(on_key)
    front_end_update(prompt.field, value=canary.value)
    text = "".join(out["text"] for out in prompt.errors.outputs)
    assert "RuntimeError" in text and "bug while handling" in text
    assert "Unexpected error" in prompt.message.value
    assert prompt.field.value == ""
    shown = json.dumps(prompt.errors.outputs) + prompt.message.value
    assert find_canary([shown, recording_comms, *_state_dumps()], canary.value) == [], shown
    prompt.cancel.click()


def test_b5_cancel_clears_and_closes_everything(recording_comms):
    prompt = _widgets.KeyPrompt(lambda key: pytest.fail("must not be called"))
    front_end_event(prompt.cancel, "click")
    for w in (prompt.field, prompt.connect, prompt.cancel):
        assert w.comm is None, f"{type(w).__name__} left open after cancel"
    assert prompt.field.value == ""
    assert "Cancelled" in prompt.box.children[0].value
    assert any("Cancelled" in state for state in _state_dumps())


def test_b5_login_steps_clear_password_and_code_and_never_echo(recording_comms, canary):
    calls = []

    def on_login(user, password):
        calls.append(("login", user, password))
        return "A 4-digit code was sent to ada@example.org."

    def on_verify(code):
        calls.append(("verify", code))
        if code != "1234":
            raise AuthError("Invalid verification code")
        return "Connected bearer fp=abcd"

    prompt = _widgets.LoginPrompt(on_login, on_verify)
    secret_ids = (prompt.password.model_id, prompt.code.model_id)
    front_end_update(prompt.password, value=canary.value)
    assert calls == [] and "email or username first" in prompt.message.value
    assert prompt.password.value == ""
    front_end_update(prompt.user, value="ada@example.org")
    front_end_update(prompt.password, value=canary.value)
    assert calls == [("login", "ada@example.org", canary.value)]
    assert prompt.password.value == "" and prompt.code_row.layout.display is None
    assert "code was sent" in prompt.message.value
    front_end_update(prompt.code, value="9999")
    assert "Invalid verification code" in prompt.message.value and prompt.code.value == ""
    front_end_update(prompt.code, value="1234")
    assert calls[-1] == ("verify", "1234") and prompt.code.value == ""
    assert all(w.comm is None for w in (prompt.user, prompt.password, prompt.code, prompt.verify))
    assert "Connected bearer" in prompt.box.children[0].value
    assert _echoes(recording_comms, secret_ids) == []
    assert find_canary([recording_comms, *_state_dumps()], canary.value) == []
    # the user name is not a secret, but the finished prompt keeps no input widgets alive
    assert not any("ada@example.org" in state for state in _state_dumps())


@pytest.mark.parametrize("step", ["credentials", "code"])
def test_b5_login_cancel_at_each_step(step):
    prompt = _widgets.LoginPrompt(lambda user, password: "code sent", lambda code: "done")
    if step == "code":
        prompt.user.value = "ada"
        prompt.password.value = "pw-123456789"
    prompt.cancel.click()
    assert prompt.password.comm is None and prompt.code.comm is None
    assert prompt.user.value == "" and prompt.password.value == ""
    assert "Cancelled" in prompt.box.children[0].value


def test_b7_widget_not_retained_after_submit(recording_comms, canary, accepted):
    _got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    field = prompt.field
    field_id = field.model_id
    front_end_update(field, value=canary.value)
    del prompt
    gc.collect()
    holders = gc.get_referrers(field)
    assert not any(r is vars(_widgets) or r is vars(widget_module) or r is widget_module._instances for r in holders)
    assert field_id not in widget_module._instances


def test_b5_ctrl_c_during_a_callback_clears_says_so_and_stays_ready(recording_comms, canary):
    calls = []

    def on_key(key):
        calls.append(key)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the stop button while the key is being checked
        return "Connected"

    prompt = _widgets.KeyPrompt(on_key)
    front_end_update(prompt.field, value=canary.value)
    assert "Interrupted: nothing was stored" in prompt.message.value and prompt.field.value == ""
    assert prompt.field.comm is not None, "the field must stay open for another try"
    assert find_canary([recording_comms, prompt.message.value, *_state_dumps()], canary.value) == []
    front_end_update(prompt.field, value="another-try-key")
    assert "Connected" in prompt.box.children[0].value


def test_b2_a_debug_kernel_logs_no_message_sent_to_a_secret_field(ip, recording_comms, canary):
    """A kernel started with --debug logs every inbound message on its own logger as it
    dispatches it (ipykernel's dispatch_shell: the content, then the whole message)."""
    kernel_log = logging.getLogger("fm-test-debug-kernel")
    kernel_log.setLevel(logging.DEBUG)
    records = LogRecords()
    kernel_log.addHandler(records)
    ip.kernel = SimpleNamespace(log=kernel_log)  # ipykernel's shell knows its kernel, which has the logger
    try:
        prompt = _widgets.LoginPrompt(lambda user, password: "code sent", lambda code: "ok")
        for field in (prompt.password, prompt.code):
            content = {"comm_id": field.comm.comm_id, "data": {"method": "update", "state": {"value": canary.value}}}
            kernel_log.debug("\n*** MESSAGE TYPE:%s***", "comm_msg")
            kernel_log.debug("   Content: %s\n   --->\n   ", content)
            kernel_log.debug("%s: %s", "comm_msg", {"header": {"msg_type": "comm_msg"}, "content": content})
        kernel_log.debug("   Content: %s", {"comm_id": prompt.user.comm.comm_id, "data": {"state": {"value": "ada"}}})
        prompt.cancel.click()
    finally:
        kernel_log.removeHandler(records)
    assert find_canary(records.records, canary.value) == []
    assert any("ada" in r["message"] for r in records.records), "control: other widgets' traffic is still logged"
    assert sum("MESSAGE TYPE" in r["message"] for r in records.records) == 2


def test_the_key_field_is_wide_and_marked_for_the_extension_to_focus(recording_comms, ip, shown):
    prompt = _widgets.KeyPrompt(lambda key: "ok")
    prompt._ipython_display_()
    sent = [m["data"] for m in recording_comms if m["comm_id"] == prompt.field.comm.comm_id]
    assert {"method": "custom", "content": {"do": "focus"}} not in sent, "the kernel never grabs the focus itself"
    assert prompt.field.layout.width == "34em" and prompt.field.layout.flex == "0 0 auto"
    # what the front-end extension focuses; the browser tests see it work
    assert _widgets.FOCUS_CLASS in prompt.field._dom_classes
    assert _widgets.FOCUS_CLASS not in prompt.connect._dom_classes


def test_the_sign_in_prompt_marks_its_first_field_for_focus(recording_comms, ip, shown):
    prompt = _widgets.LoginPrompt(lambda user, password: "code sent", lambda code: "ok")
    prompt._ipython_display_()
    marked = [w for w in prompt._inputs if _widgets.FOCUS_CLASS in w._dom_classes]
    assert marked == [prompt.user]
