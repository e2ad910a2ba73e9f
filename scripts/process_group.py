"""Stopping a server and every process it started (its process group), escalating until it is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable

STOP_TIMEOUT_S = 4.0  # SIGINT, then SIGTERM, then SIGKILL: stopped within 5 s even when uwsgi lingers


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pid: int, timeout: float = STOP_TIMEOUT_S, exited: Callable[[], bool] | None = None) -> None:
    """SIGINT the process group, SIGTERM it after half of `timeout`, SIGKILL it at `timeout`.

    Label Studio's clean SIGINT shutdown can take 20 s; the database is SQLite (transactional), so
    the escalation loses nothing that a slow shutdown would keep.
    """
    done = exited or (lambda: not _group_alive(pid))
    start = time.monotonic()
    for sig, until in ((signal.SIGINT, timeout / 2), (signal.SIGTERM, timeout), (signal.SIGKILL, timeout + 1.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        while time.monotonic() - start < until:
            if done():
                return
            time.sleep(0.05)


def stop_process(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    if process.poll() is not None:
        return
    stop_group(process.pid, timeout, lambda: process.poll() is not None)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(1)
