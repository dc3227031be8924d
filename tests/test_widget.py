"""The key and sign-in prompts (§4.B): cleared, closed, never echoed, nothing left in state.

Widgets are driven in-process through a recording comm (conftest.recording_comms), which sees
every message the kernel would publish on IOPub to every front end. The real-kernel version of
the same flow is part of the canary sweeps (test_kernel_sweeps.py).
"""

import gc
import json

import ipywidgets
import pytest
from ipywidgets.embed import embed_minimal_html
from ipywidgets.widgets import widget as widget_module

from freddy_magic import _redaction, _widgets
from freddy_magic._auth import Credential
from freddy_magic._errors import AuthError
from freddy_magic.testing import find_canary

from .fakes import front_end_event, front_end_update


def _state_dumps():
    """The synced state of every live widget, read trait by trait so that one broken widget
    (see test_b4_manager_state_exportable_after_submit) does not hide the others."""
    states = []
    for w in list(widget_module._instances.values()):
        states.append(json.dumps({k: getattr(w, k, None) for k in w.keys}, default=repr))
    return states


@pytest.fixture
def accepted():
    got = []

    def on_key(key):
        cred = Credential.api_key(key)
        got.append(cred)
        return f"Authenticated ({cred.fingerprint})"

    yield got, on_key
    for cred in got:
        cred.clear()


def test_b1_b2_key_is_read_cleared_closed_and_never_echoed(recording_comms, canary, accepted, tmp_path):
    got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    field_id = prompt.field.model_id
    front_end_update(prompt.field, value=canary.value)
    assert [c.fingerprint for c in got] == [_redaction.fingerprint(canary.value)]
    assert prompt.field.value == ""
    to_field = [m for m in recording_comms if m["comm_id"] == field_id]
    assert not any((m["data"] or {}).get("method") == "echo_update" for m in to_field)
    assert any((m["data"] or {}).get("state", {}).get("value") == "" for m in to_field), "front end not told to clear"
    assert field_id not in widget_module._instances and prompt.field.comm is None
    assert find_canary([recording_comms, *_state_dumps()], canary.value) == []


def test_b4_manager_state_exportable_after_submit(recording_comms, canary, accepted, tmp_path):
    """Saving widget state (ipywidgets.embed, "Save widget state") must work after auth and
    hold no secret. A container left open that still lists closed children breaks the export."""
    got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    front_end_update(prompt.field, value=canary.value)
    exported = [json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=d)) for d in (True, False)]
    embed_minimal_html(tmp_path / "export.html", views=[prompt.box])
    assert find_canary([*exported, tmp_path / "export.html"], canary.value) == []


def test_b1_connect_with_an_empty_field_sends_nothing(recording_comms, accepted):
    got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    front_end_event(prompt.connect, "click")
    assert got == [] and "Paste a key" in prompt.message.value
    prompt.cancel.click()


def test_b3_secret_field_syncs_once_and_is_tagged_no_echo():
    field = _widgets.SecretField()
    assert field.continuous_update is False
    assert field.trait_metadata("value", "echo_update") is False
    field.close()


@pytest.mark.parametrize("bad", ["{c}\n", "{c}\r", "{c}\x00", "\t{c}\x1b", "{c} space-inside {c}"])
def test_b5_validation_failure_clears_and_does_not_echo(recording_comms, canary, accepted, bad):
    got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    front_end_update(prompt.field, value=bad.format(c=canary.value))
    assert got == [] and prompt.field.value == ""
    assert "API key" in prompt.message.value
    assert find_canary([recording_comms, prompt.message.value, *_state_dumps()], canary.value) == []
    prompt.cancel.click()


def test_b5_rejected_key_clears_and_message_is_clean(recording_comms, canary):
    def on_key(key):
        raise AuthError(_redaction.redact(f"The API key was rejected (401) for key {key}"))

    _redaction.register(canary.value)
    try:
        prompt = _widgets.KeyPrompt(on_key)
        front_end_update(prompt.field, value=canary.value)
    finally:
        _redaction.forget(canary.value)
    assert prompt.field.value == ""
    assert find_canary([recording_comms, prompt.message.value, *_state_dumps()], canary.value) == []
    prompt.cancel.click()


def test_b5_unexpected_callback_error_does_not_show_the_key(recording_comms, canary):
    """A bug (or a library exception) whose message carries the typed value must not reach the
    error Output, which is shown, broadcast, and saved with widget state."""

    def on_key(key):
        raise RuntimeError("library rejected header value " + key)

    prompt = _widgets.KeyPrompt(on_key)
    front_end_update(prompt.field, value=canary.value)
    shown = json.dumps(prompt.errors.outputs) + prompt.message.value
    assert prompt.field.value == ""
    assert find_canary([shown, recording_comms, *_state_dumps()], canary.value) == [], shown
    prompt.cancel.click()


def test_b5_cancel_clears_and_closes_everything(recording_comms, canary):
    prompt = _widgets.KeyPrompt(lambda key: "never")
    front_end_event(prompt.cancel, "click")
    for w in (prompt.field, prompt.connect, prompt.cancel):
        assert w.comm is None, f"{type(w).__name__} left open after cancel"
    assert any("Cancelled" in state for state in _state_dumps())


def test_b5_login_prompt_password_and_code_are_cleared(recording_comms, canary):
    code = canary.value[:4]
    prompt = _widgets.LoginPrompt(lambda user, pw: "code sent to u***@example.com", lambda c: "Signed in")
    secret_ids = (prompt.password.model_id, prompt.code.model_id)
    front_end_update(prompt.user, value="student@example.com")
    front_end_update(prompt.password, value=canary.value)
    assert prompt.password.value == ""
    front_end_update(prompt.code, value=code)
    assert prompt.code.value == ""
    assert not any((m["data"] or {}).get("method") == "echo_update" and "value" in m["data"].get("state", {})
                   and m["comm_id"] in secret_ids for m in recording_comms)
    assert find_canary([recording_comms, *_state_dumps()], canary.value) == []
    # the user name is not a secret, but the finished prompt keeps no input widgets alive
    assert not any("student@example.com" in state for state in _state_dumps())


def test_b6_repr_and_text_fallback_hide_the_value(canary):
    field = _widgets.SecretField(value=canary.value)
    bundle = field._repr_mimebundle_() if hasattr(field, "_repr_mimebundle_") else {}
    assert find_canary([repr(field), str(field), json.dumps(bundle, default=str)], canary.value) == []
    field.value = ""
    field.close()


def test_b7_widget_not_retained_after_submit(recording_comms, canary, accepted):
    got, on_key = accepted
    prompt = _widgets.KeyPrompt(on_key)
    field = prompt.field
    field_id = field.model_id
    front_end_update(field, value=canary.value)
    gc.collect()
    holders = [r for r in gc.get_referrers(field) if r is not prompt and not isinstance(r, type(gc.get_referrers))]
    module_level = [r for r in holders if r is vars(_widgets) or r is vars(widget_module)]
    assert module_level == []
    assert field_id not in widget_module._instances
