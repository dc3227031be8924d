"""The Ctrl-C policy of a running magic: the first press raises, later ones are counted.

Presses are delivered as a kernel delivers them (SIGINT raised in the main thread, through the
``ctrl_c`` fixture's real signal, or directly through the installed handler where a test needs
one at an exact point).
"""

import signal
import threading

import pytest

from freddy_magic._interrupts import InterruptPolicy, current, interruptible, shielded


@pytest.fixture
def default_sigint():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def press():
    """What SIGINT does in the main thread: call the installed Python handler."""
    signal.getsignal(signal.SIGINT)(signal.SIGINT, None)


def test_the_first_press_raises_and_later_ones_are_counted(default_sigint):
    with InterruptPolicy() as policy:
        assert current() is policy
        with pytest.raises(KeyboardInterrupt):
            press()
        press()
        press()
        assert policy.presses == 3 and policy.pressed and not policy.armed
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and current() is None


def test_interruptible_lets_one_more_press_raise_then_counts_again(default_sigint):
    with InterruptPolicy() as policy:
        with pytest.raises(KeyboardInterrupt):
            press()
        with pytest.raises(KeyboardInterrupt), interruptible():
            press()  # e.g. a hanging server-side cancel: the second press abandons it
        press()
        assert policy.presses == 3 and not policy.armed


def test_shielded_finishes_the_block_then_raises(default_sigint):
    done = []
    with InterruptPolicy() as policy:
        with pytest.raises(KeyboardInterrupt), shielded():
            press()
            done.append("the rest of the block ran")
        assert done and policy.presses == 1 and not policy.armed


def test_a_real_signal_in_the_main_thread_goes_through_the_policy(default_sigint):
    main = threading.main_thread().ident
    with InterruptPolicy() as policy:
        with pytest.raises(KeyboardInterrupt):
            signal.pthread_kill(main, signal.SIGINT)  # its handler runs as soon as the call returns
        assert policy.presses == 1


def test_the_policy_stands_aside_off_the_main_thread_and_over_a_handler_it_did_not_expect():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda *_: seen.append("theirs"))
    try:
        with InterruptPolicy():
            assert current() is None
            press()
        assert seen == ["theirs"]
    finally:
        signal.signal(signal.SIGINT, previous)
    installed = []
    worker = threading.Thread(target=lambda: installed.append(InterruptPolicy().__enter__()._installed))
    worker.start()
    worker.join()
    assert installed == [False]
