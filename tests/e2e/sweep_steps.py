"""Steps shared by the real-kernel sweeps: authenticate by each path, work, inspect, collect.

A sweep is: authenticate (one credential path), run ordinary work, run what an inspector or a
curious user would run (``%whos``, ``%env``, ``%history``, ``%config``), save the notebook with
a checkpoint, then gather every piece of evidence — the notebook, the checkpoint, every file
written, every IOPub message, every log record, the kernel's own stdout/stderr — for one
canary search. Kernel memory is inspected by printing it (the search then runs here), so the
kernel is never handed the secret by the harness.
"""

WORK_CELLS = [
    "%%freddy -m ftg-3.0\nSay hello to the security reviewer.",
    "%%freddy -m ftg-3.0 --no-stream\nA second, non-streamed answer.",
    "%freddy models",
    "%freddy_auth --status",
    "%whos",
    "%env",
    "%history -g freddy",
    "%config FreddyMagics",
]

# What a variable inspector, %whos and a curious user can reach in kernel memory.
INSPECT_MEMORY = r"""
import os as _fm_os, sys as _fm_sys, gc as _fm_gc
def _fm_walk(obj, depth=0, seen=None):
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 3:
        return
    seen.add(id(obj))
    try:
        print(repr(obj)[:3000])
        print(str(obj)[:3000])
    except Exception as exc:
        print("<unprintable", type(exc).__name__, ">")
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple, set)) else ()
    for _k, _v in list(items)[:200]:
        _fm_walk(_v, depth + 1, seen)
_fm_skip = set(%(skip)r)
for _fm_name, _fm_value in list(get_ipython().user_ns.items()):
    if _fm_name.startswith("_fm") or _fm_name in _fm_skip or (_fm_name.startswith("_i") and "_i" in _fm_skip):
        continue
    print("NAME", _fm_name)
    _fm_walk(_fm_value)
_fm_chain = []
for _fm_attr in ("last_value", "last_exc"):
    _fm_exc = getattr(_fm_sys, _fm_attr, None)
    while _fm_exc is not None and all(_fm_exc is not _fm_e for _fm_e in _fm_chain):
        _fm_chain.append(_fm_exc)
        print("LAST", _fm_attr, type(_fm_exc).__name__, repr(_fm_exc), str(_fm_exc), repr(_fm_exc.args)[:3000])
        _fm_exc = _fm_exc.__cause__ or _fm_exc.__context__
print("CHAIN", len(_fm_chain), [type(_fm_e).__name__ for _fm_e in _fm_chain])
for _fm_tb in [getattr(_fm_sys, "last_traceback", None)] + [_fm_e.__traceback__ for _fm_e in _fm_chain]:
    while _fm_tb is not None:
        for _fm_k, _fm_v in _fm_tb.tb_frame.f_locals.items():
            if not _fm_k.startswith("_fm"):
                print("FRAME", _fm_tb.tb_frame.f_code.co_name, _fm_k, repr(_fm_v)[:3000])
        _fm_tb = _fm_tb.tb_next
_fm_hm = get_ipython().history_manager
for _fm_store in ("outputs", "exceptions"):
    print("HISTORY", _fm_store, repr(getattr(_fm_hm, _fm_store, None))[:20000])
if %(environ)r:
    print("ENVIRON", dict(_fm_os.environ))
"""


def inspect_memory(k, *, skip=(), environ=True):
    """Print every user-visible object (bounded), the last exception with its whole
    ``__cause__``/``__context__`` chain and the locals of every frame of every traceback on it,
    IPython's stored outputs/exceptions and (unless the key was given by environment) ``os.environ``."""
    return k.harness(INSPECT_MEMORY % {"skip": sorted(skip), "environ": environ})


# %debug, driven as a user would: the locals of the frame it stops in, then of each caller.
DEBUG_COMMANDS = ["p locals()", "up", "p locals()", "up", "p locals()", "up", "p locals()", "q"]


def evidence(k, notebook, *, ignore_files=()):
    """Everything a leak could be in, as (label, target) pairs for find_canary."""
    from pathlib import Path

    ignored = set(map(Path, ignore_files))
    files = [(where, path) for where, path in k.written_files() if where not in ignored]
    return [
        ("notebook", notebook),
        ("checkpoint", notebook.parent / ".ipynb_checkpoints" / (notebook.stem + "-checkpoint.ipynb")),
        *[(f"file {where}", path) for where, path in files],
        ("iopub", k.outbound_iopub()),
        *[(f"log record of logger {r['name']!r}", r) for r in k.log_records()],
        ("kernel stdout", k.capture / "kernel-stdout.txt"),
        ("kernel stderr", k.capture / "kernel-stderr.txt"),
        ("shell replies", [ran.reply for ran in k.cells + k.harness_runs]),
    ]


def leaks_in(evidence_pairs, secrets):
    """``{label: [Leak, ...]}`` for every piece of evidence holding any secret form."""
    from freddy_magic.testing import find_canary

    found = {}
    for label, target in evidence_pairs:
        hits = find_canary([target], list(secrets))
        if hits:
            found[label] = hits
    return found


def describe(found):
    lines = []
    for label, hits in found.items():
        lines.append(f"{label}: {len(hits)} hit(s), e.g. {hits[0]}")
    return "\n".join(lines)
