"""What a notebook user can be shown of an object or an exception.

An object is met through ``repr`` (the last expression of a cell), ``str`` (``print``, f-strings,
``%whos``), ``format`` and the rich reprs a front end asks for; an exception also through
``%xmode Verbose`` and ``%debug``, which show every frame with its locals. Frames of the test
modules themselves are skipped: a test holds the canary on purpose.
"""

import pytest
from IPython.core.error import UsageError
from IPython.core.ultratb import VerboseTB


def text_views(obj):
    """Every way a notebook turns an object into text."""
    out = [repr(obj), str(obj), format(obj, ""), f"{obj!r}", f"{obj!s}", f"{obj}"]
    try:
        out.append(format(obj, "s"))
    except (TypeError, ValueError):  # a format spec the type does not support is not a leak
        pass
    try:
        out.append(repr(vars(obj)))
    except TypeError:  # __slots__ and no __dict__: nothing to show
        pass
    for name in ("_repr_html_", "_repr_markdown_"):
        render = getattr(obj, name, None)
        if callable(render):
            out.append(str(render()))
    return out


def _in_tests(frame):
    return "/tests/" in frame.f_code.co_filename


def _past_the_test(tb):
    """The traceback from the first frame that is not a test's own."""
    while tb is not None and _in_tests(tb.tb_frame):
        tb = tb.tb_next
    return tb


def verbose_traceback(exc):
    """The traceback as ``%xmode Verbose`` renders it: every frame with its locals."""
    return "\n".join(VerboseTB().structured_traceback(type(exc), exc, _past_the_test(exc.__traceback__)))


def frame_locals(exc, depth=2):
    """repr of every local of every frame below the test, dict values one level deeper."""
    seen = []
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if not _in_tests(frame):
            for name, value in frame.f_locals.items():
                seen.append(f"{frame.f_code.co_name}.{name}={value!r}"[:5000])
                if depth > 1 and isinstance(value, dict):
                    seen.extend(repr(v)[:2000] for v in value.values())
        tb = tb.tb_next
    return seen


def usage_error(run):
    """The one line ``run()`` fails with: a UsageError with no newline and nothing chained."""
    with pytest.raises(UsageError) as caught:
        run()
    message = str(caught.value)
    assert "\n" not in message and caught.value.__context__ is None
    return message
