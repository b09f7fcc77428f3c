"""``python app.py`` on a free port with a throwaway copy of the demo run, for the benchmarks that drive it.

    >>> proc, url = start_app(rebuilt=False)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def launch_app(rebuilt: bool, **env: str) -> tuple[subprocess.Popen, str]:
    """Start the app without waiting for it. ``rebuilt``: keep the demo's rebuilt ``student/`` (else it is rebuilt at start)."""
    runs = Path(tempfile.mkdtemp(prefix="kdemo-bench-runs-"))
    skip = ("student-int8",) if rebuilt else ("student", "student-int8")
    for demo in (ROOT / "trained").glob("demo-*"):
        shutil.copytree(demo, runs / demo.name, ignore=shutil.ignore_patterns(*skip))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), KDEMO_RUNS=str(runs), GRADIO_ANALYTICS_ENABLED="False") | env
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}/"


def start_app(rebuilt: bool, **env: str) -> tuple[subprocess.Popen, str]:
    """``launch_app``, then wait until it answers (at most 5 minutes)."""
    proc, url = launch_app(rebuilt, **env)
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(1)
    proc.kill()
    raise SystemExit("app.py did not start")
