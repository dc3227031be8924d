"""The public API is exactly ``freddy_magic.__all__``: pinned here so it cannot drift by accident.

Adding a name is a decision (update the list below and the README); removing one breaks users.
Everything else lives in underscore modules, and importing the package stays free of the heavy
dependencies, which are imported only when a public name that needs them is first used.
"""

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import freddy_magic

PUBLIC = [
    "APIError",
    "AuthError",
    "Canary",
    "Completion",
    "ConfigError",
    "ConnectionFailed",
    "Credential",
    "DEFAULT_BASE_URL",
    "Fault",
    "FreddyClient",
    "FreddyError",
    "LoginChallenge",
    "NotAuthenticated",
    "NotRecorded",
    "Page",
    "PermissionDenied",
    "RateLimitStatus",
    "RateLimited",
    "ResponseFormatError",
    "ResponseStream",
    "Sandbox",
    "StreamEvent",
    "StreamInterrupted",
    "Timeout",
    "Timeouts",
    "TransportError",
    "__version__",
    "assert_no_canary",
    "find_canary",
    "load_ipython_extension",
    "make_canary",
    "start_sandbox",
    "unload_ipython_extension",
]
PUBLIC_MODULES = {"testing", "sandbox"}
HEAVY = ("requests", "urllib3", "ipywidgets", "werkzeug", "pytest", "jwt", "IPython")


def test_all_is_pinned():
    assert sorted(freddy_magic.__all__) == sorted(PUBLIC)
    assert len(set(freddy_magic.__all__)) == len(freddy_magic.__all__)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name):
    assert getattr(freddy_magic, name) is not None
    assert name in dir(freddy_magic)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'client'"):
        freddy_magic.client  # the old module path is no attribute of the package


def test_errors_form_one_tree():
    errors = [
        getattr(freddy_magic, n)
        for n in PUBLIC
        if n.endswith(("Error", "Failed"))
        or n in ("NotAuthenticated", "NotRecorded", "PermissionDenied", "RateLimited", "Timeout", "StreamInterrupted")
    ]
    assert len(errors) == 13
    assert all(issubclass(e, freddy_magic.FreddyError) and issubclass(e, Exception) for e in errors)
    assert issubclass(freddy_magic.Timeout, freddy_magic.TransportError)


def test_every_other_module_is_private():
    root = Path(freddy_magic.__file__).parent
    names = {m.name for m in pkgutil.iter_modules([str(root)])}
    assert names - PUBLIC_MODULES, "the package has private modules"
    assert all(n.startswith("_") for n in names - PUBLIC_MODULES), sorted(names)
    sandbox = {m.name for m in pkgutil.iter_modules([str(root / "sandbox")])}
    assert all(n.startswith("_") for n in sandbox), sorted(sandbox)
    assert (root / "py.typed").is_file()


def test_import_and_load_ext_import_nothing_heavy():
    code = (
        "import json, sys\n"
        "import freddy_magic\n"
        f"after_import = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "before = set(sys.modules)\n"
        "shell.run_line_magic('load_ext', 'freddy_magic')\n"
        f"after_load = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps([after_import, after_load]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    after_import, after_load = json.loads(out.stdout.strip().splitlines()[-1])
    assert after_import == []
    assert not [m for m in after_load if m.split(".")[0] in ("requests", "ipywidgets", "werkzeug", "pytest")]


def test_first_use_of_a_name_imports_what_it_needs():
    code = (
        "import sys, freddy_magic\n"
        "assert 'requests' not in sys.modules\n"
        "freddy_magic.FreddyClient\n"
        "assert 'requests' in sys.modules and 'werkzeug' not in sys.modules\n"
        "freddy_magic.Sandbox\n"
        "assert 'werkzeug' in sys.modules and 'pytest' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
