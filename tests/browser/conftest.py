"""Fixtures for the real-browser tests: a JupyterLab server and Debian's Chromium driven by playwright.

- ``lab_server`` copies the repository (without .git and build leftovers) into a temp folder and starts
  ``python -m jupyter lab`` there on a free loopback port with a random token. ``PYTHONPATH`` points at the
  copy, so ``effv2nb.core.settings.REPO_DIR`` (and everything a notebook saves) lives in the copy, never in the
  checkout. The server inherits this process's environment (``EFFV2NB_QUICK=1``, ``HF_HUB_OFFLINE=1`` set
  by the root conftest.py), so notebooks run CI-sized. It is shut down (REST, then the process group) at the end.
- ``lab_context`` launches ``/usr/bin/chromium`` (or ``EFFV2NB_CHROMIUM``) headless with a fresh user-data dir.
  playwright is used only as a driver: no ``playwright install``, no browser download.
- Without Chromium or playwright the tests SKIP, except under ``CI=true`` where they FAIL
  (``.ci/install-browser`` installs both).
- Screenshots go to ``EFFV2NB_SCREENSHOTS`` or ``<repo>/screenshots/`` (gitignored); their paths are printed
  in the terminal summary.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("EFFV2NB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    # no --disable-gpu: with it headless Chromium garbles images in screenshots (issue 13)
    "--headless", "--no-sandbox", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_S = 90
_SHOTS: list[Path] = []          # for the terminal summary


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium (tests/browser/)")


def pytest_terminal_summary(terminalreporter):
    if _SHOTS:
        terminalreporter.section("browser screenshots")
        terminalreporter.write_line(f"folder: {_SHOTS[0].parent}")
        for p in _SHOTS:
            terminalreporter.write_line(f"  {p}")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing_browser_tools() -> str | None:
    problems = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("python package playwright not installed (pip install playwright)")
    if not problems:
        return None
    return "; ".join(problems) + " -- run .ci/install-browser"


@pytest.fixture(scope="session")
def browser_tools():
    """Skip (or, under CI=true, fail) when Chromium or playwright is missing."""
    missing = _missing_browser_tools()
    if missing:
        if _in_ci():
            pytest.fail(f"browser test cannot run in CI: {missing}", pytrace=False)
        pytest.skip(f"browser test needs Debian's Chromium and playwright: {missing}")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    d = Path(os.environ.get("EFFV2NB_SCREENSHOTS") or REPO / "screenshots").resolve()
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture
def shoot(screenshot_dir, request):
    """``shoot(page_or_locator, "name")`` saves ``<screenshot_dir>/<name>.png`` and returns its path."""
    def _shoot(target, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        target.screenshot(path=str(path))
        _SHOTS.append(path)
        print(f"screenshot: {path}")
        return path
    return _shoot


# --------------------------------------------------------------------------- JupyterLab server

_COPY_IGNORE = shutil.ignore_patterns(
    ".git", "__pycache__", "*.egg-info", ".ipynb_checkpoints", ".hypothesis", ".benchmarks",
    ".pytest_cache", "screenshots", "workspace", "deploy_weights", "build", ".venv", ".gl", ".whl", "*.tmp",
)

# Lab settings: no news/update pop-ups, every cell in the DOM (no virtual scrolling).
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass
class LabServer:
    root: Path                      # the temp copy of the repository, the server's root_dir
    # env: what the server (and its kernels) run with; EFFV2NB_WORK is 03's work folder
    port: int
    token: str
    proc: subprocess.Popen
    log: Path
    env: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0):
        req = urllib.request.Request(self.base + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no server log>"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(server: LabServer) -> None:
    try:                                      # clean: the server shuts its kernels down too
        server.api("api/shutdown", method="POST", timeout=5)
    except Exception:
        pass
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(server.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                server.proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="module")
def lab_server(browser_tools, tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    root = base / "repo"
    shutil.copytree(REPO, root, ignore=_COPY_IGNORE, symlinks=True)
    settings_dir = base / "lab-settings"
    for rel, data in _LAB_SETTINGS.items():
        p = settings_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(data))

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings_dir)
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(base / "lab-workspaces")
    env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    env["PYTHONUNBUFFERED"] = "1"
    env["EFFV2NB_WORK"] = str(base / "work")          # 03 works (and its form saves) here, not in /tmp at large
    env.setdefault("EFFV2NB_QUICK", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    if env.get("MPLBACKEND") == "Agg":             # set for nbval by the root conftest; a person's kernel draws inline
        env.pop("MPLBACKEND")

    port, token = _free_port(), secrets.token_hex(24)
    log = base / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
           f"--port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:       # CI containers run as root
        cmd.append("--allow-root")
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(root, port, token, proc, log, env)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                server.api("api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer in {SERVER_START_S} s:\n{server.log_tail()}")
                time.sleep(0.5)
        print(f"jupyter lab on {server.base} root={root} (log {log})")
        yield server
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def lab_context(lab_server, tmp_path_factory):
    """A persistent Chromium context (fresh --user-data-dir) with console errors collected."""
    from playwright.sync_api import sync_playwright

    user_data = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(user_data), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport=VIEWPORT, accept_downloads=False, service_workers="block",
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()
