"""A local, faithful stand-in of the Freddy API for tests, demos and Binder.

It implements the documented surface (auth, models, responses with SSE, threads, rate limits,
error envelopes) with deterministic fake models, so a client written against the docs works
against it unchanged, and every answer is visibly marked as sandbox output::

    from freddy_magic.sandbox import Sandbox
    with Sandbox() as sb:
        requests.get(sb.url + "/v1/models", headers={"api-key": sb.api_key})

Nothing in the package imports this module except ``%freddy_auth --sandbox`` (lazily), because
it pulls in werkzeug.
"""

from ._fakemodel import count_tokens
from ._faults import Fault
from ._handle import Sandbox, start_sandbox

__all__ = ["Fault", "Sandbox", "count_tokens", "start_sandbox"]
