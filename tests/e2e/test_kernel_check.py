"""``%freddy check`` in a real kernel: it runs, reports every step ok against the sandbox, and no
form of the planted key reaches the notebook, IOPub, a log record or any file the kernel wrote,
not even when the server echoes the key back in its error answers."""

import pytest

from freddy_magic.sandbox import Fault, Sandbox

from ..key_alias import KeyAlias
from .sweep_steps import describe, evidence, leaks_in

pytestmark = [pytest.mark.kernel, pytest.mark.slow, pytest.mark.security]


def test_freddy_check_in_a_kernel_is_ok_and_leaks_no_key(kernel_sweep, canary):
    alias = KeyAlias(canary.value)
    with Sandbox(rate_limit="100/60s", middleware=alias) as sb:
        alias.real = sb.api_key
        with kernel_sweep(env={"FREDDY_BASE_URL": sb.url, "FREDDY_API_KEY": canary.value}) as k:
            k.cell("%load_ext freddy_magic")
            assert k.cell("%freddy_auth --env").ok
            clean = k.cell("%freddy check")
            for method, path in (("GET", "/v1/models"), ("POST", "/v1/model/response")):
                sb.faults.add(Fault(method=method, path=path, kind="echo", times=None))
            hostile = k.cell("%freddy check --no-paid")
            notebook = k.save_notebook()
    assert clean.ok and hostile.ok, clean.text + hostile.text
    assert "paid calls follow" in clean.text and "| models |" in clean.text
    assert "6 ok, 0 differs, 0 tolerated, 1 skipped." in clean.text
    assert "| models |" in hostile.text and "Api-Key: str" in hostile.text  # the echoed headers, as shapes
    found = leaks_in(evidence(k, notebook), [canary.value])
    assert not found, "secret found in:\n" + describe(found)
