"""scripts/labelstudio_server.py without a server: start status from the log, stop within 5 s."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from lsserver import server_module

STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_stop_escalates_and_ends_a_stubborn_process_group_within_5_s() -> None:
    server = server_module()
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"  # handlers installed
    t0 = time.monotonic()
    server.stop_process(proc)
    elapsed = time.monotonic() - t0
    assert proc.poll() is not None and proc.returncode == -9  # SIGINT and SIGTERM ignored: killed
    assert 1.5 < elapsed < 5.0


def test_stop_returns_at_once_when_sigint_is_enough() -> None:
    server = server_module()
    # The child sets Python's SIGINT handler itself: started from a shell job that ignores SIGINT (a
    # backgrounded CI run), it inherits SIG_IGN and Python then installs no KeyboardInterrupt handler.
    sleeper = (
        "import signal, time\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "print('ready', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", sleeper], stdout=subprocess.PIPE, start_new_session=True)
    # Wait for the handler to be in place: a fixed sleep raced a slow interpreter start on a busy machine.
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    t0 = time.monotonic()
    server.stop_process(proc)
    elapsed = time.monotonic() - t0
    assert proc.poll() is not None and proc.returncode == -signal.SIGINT  # ended by SIGINT, no escalation
    assert elapsed < 1.0


def test_startup_phase_names_what_the_start_waits_for() -> None:
    phase = server_module().startup_phase
    assert phase("") == "launching the label-studio process"
    assert phase("=> Database and media directory: /x\n").startswith("loading Label Studio")
    log = "=> Database and media directory: /x\nInitializing database..\n"
    assert phase(log).startswith("initializing the database")
    assert (
        phase(log + "  Applying a.0001... OK\n  Applying b.0002... OK\n") == "applying database migrations (2 applied)"
    )
    assert phase(log + "Starting development server at http://127.0.0.1:1/\nQuit the server with CONTROL-C.\n") == (
        "web server up, waiting for /health"
    )
