"""The built front-end extension that ships in the wheel matches its source.

freddy_magic/labextension is committed built, so installing the package needs no node; these
checks catch a source edit without a rebuild, and a wheel mapping that would install the extension
under a name JupyterLab does not know. What the extension does is seen in the browser tests.
"""

import hashlib
import json
import re
from pathlib import Path

import freddy_magic
from freddy_magic import _widgets

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "labextension"
BUILT = REPO / "freddy_magic" / "labextension"


def _source_hashes():
    """What `make labextension` writes: sha256sum's lines for the files the build reads."""
    files = ["package.json", "package-lock.json", "install.json"]
    files += sorted(str(path.relative_to(SOURCE)) for path in (SOURCE / "src").glob("*.js"))
    return "".join(f"{hashlib.sha256((SOURCE / name).read_bytes()).hexdigest()}  {name}\n" for name in files)


def test_the_built_extension_is_from_the_current_source():
    recorded = (BUILT / "source.sha256").read_text()
    assert recorded == _source_hashes(), "labextension/ changed since the last build: run make labextension"


def test_the_built_extension_is_complete_and_installed_under_its_own_name():
    built = json.loads((BUILT / "package.json").read_text())
    source = json.loads((SOURCE / "package.json").read_text())
    assert built["name"] == source["name"]
    assert source["version"] == built["version"] == freddy_magic.__version__, "one version for both halves"
    assert (BUILT / built["jupyterlab"]["_build"]["load"]).is_file()
    assert json.loads((BUILT / "install.json").read_text())["packageName"] == "freddy_magic"
    mapping = f'"freddy_magic/labextension" = "share/jupyter/labextensions/{source["name"]}"'
    assert mapping in (REPO / "pyproject.toml").read_text().split("[tool.hatch.build.targets.wheel.shared-data]")[1]


def test_the_extension_focuses_the_class_the_widgets_set():
    script = (SOURCE / "src" / "index.js").read_text()
    assert re.search(rf"FOCUS_CLASS = '{re.escape(_widgets.FOCUS_CLASS)}'", script)
