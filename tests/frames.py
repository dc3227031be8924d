"""What ``%xmode Verbose`` and ``%debug`` show of an exception: every frame with its locals.

Frames of the test modules themselves are skipped: a test holds the canary on purpose.
"""

from IPython.core.ultratb import VerboseTB


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
