"""``app/main.py``: the server imports what the pages import before it answers.

A page whose script imports a library the warm-up does not would pay that import on the first
request again (the page budget is 2 s; importing pandas alone takes ~0.3 s), so every module the
app's scripts and modules import, other than the standard library and Streamlit, must be loaded
by ``warm_up``. Run in a fresh interpreter so nothing this test session imported counts.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from streamlit.web.server.app_discovery import discover_asgi_app

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"


def module_level(node: ast.AST):
    """The nodes run when the file runs: not inside functions (an import there is a
    deliberate lazy one, e.g. ``mlflow_store``'s fallback to ``models.metrics``)."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield child
            yield from module_level(child)


def imported_modules(path: Path) -> set[str]:
    """Absolute module names a file imports when it runs (``from x import y`` gives ``x`` and
    ``x.y``, as ``y`` may be a submodule)."""
    names: set[str] = set()
    for node in module_level(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def needed_modules() -> set[str]:
    scripts = [p for p in APP.rglob("*.py") if p.name != "main.py"]
    needed = set()
    for name in set().union(*(imported_modules(p) for p in scripts)):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ("streamlit", "__future__"):
            continue
        needed.add(name)
    return needed


def test_warm_up_loads_every_module_the_pages_import():
    needed = sorted(needed_modules())
    assert "pandas" in needed and "app.data" in needed  # the scan sees the pages' imports
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from app.main import warm_up\n"
        "before = set(sys.modules)\n"
        "seconds = warm_up()\n"
        f"needed = {needed!r}\n"
        # `from x import y` where y is a name, not a submodule: x loaded is enough
        "missing = [n for n in needed if n not in sys.modules\n"
        "           and not (n.rpartition('.')[0] in sys.modules and '.' in n)]\n"
        "print(json.dumps({'missing': missing, 'seconds': seconds,\n"
        "                  'loaded': 'pandas' in sys.modules and 'pandas' not in before}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["loaded"], "importing app.main must not load pandas itself; warm_up does"
    assert not facts["missing"], (
        f"the pages import {facts['missing']}, which app/main.py's WARM_MODULES does not load: "
        "add them, or the first page pays their import"
    )


def test_streamlit_run_serves_main_as_an_asgi_app():
    """``streamlit run app/main.py`` finds the ``st.App`` (else it would run main.py as the
    page script and skip the warm-up)."""
    found = discover_asgi_app(APP / "main.py")
    assert found.is_asgi_app and found.app_name == "streamlit_app", found
    assert not discover_asgi_app(APP / "streamlit_app.py").is_asgi_app
