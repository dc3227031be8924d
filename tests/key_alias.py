"""A sandbox middleware that makes a planted canary a working API key, as a real account's key is.

The sandbox makes up its own key, so a canary cannot be its key. ``KeyAlias(canary)`` swaps the
canary for the sandbox's key on the way in (both key headers) and the sandbox's key for the
canary on the way out, so a hostile answer that echoes the request (the ``echo`` fault) echoes
the canary, as a real server would echo the key it was sent.
"""

from werkzeug.wsgi import ClosingIterator

_KEY_HEADERS = ("HTTP_API_KEY", "HTTP_X_API_KEY")


class KeyAlias:
    """``Sandbox(middleware=alias)``, then ``alias.real = sandbox.api_key`` once it is started."""

    def __init__(self, alias):
        self.alias = alias
        self.real = None

    def __call__(self, app):
        def aliased(environ, start_response):
            for name in _KEY_HEADERS:
                if environ.get(name) == self.alias:
                    environ[name] = self.real
            seen = {}

            def capture(status, headers, exc_info=None):
                seen["status"], seen["headers"] = status, list(headers)
                return lambda data: None

            result = app(environ, capture)
            headers = seen["headers"]
            swap = self._swap
            if any(k.lower() == "content-length" for k, _ in headers):
                try:
                    body = swap(b"".join(result))
                finally:
                    if hasattr(result, "close"):
                        result.close()
                headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in headers]
                start_response(seen["status"], headers)
                return [body]
            start_response(seen["status"], headers)
            return ClosingIterator(
                (swap(chunk) for chunk in result), [result.close] if hasattr(result, "close") else []
            )

        return aliased

    def _swap(self, data):
        return data.replace(self.real.encode(), self.alias.encode())
