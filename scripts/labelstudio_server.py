"""Start and stop a local Label Studio server non-interactively (tests, benchmark, manual review).

This is the one place that knows how to boot Label Studio: its own venv (`.venv-ls`, so the server's
pinned Django stack never touches the project venv), a pre-created superuser with a fresh random
40-hex legacy token, local-files serving enabled (document root: the data dir unless
`document_root` / `--document-root` says otherwise; `upload="local"` exports write below it), no
version check, loopback only.

A data dir that already holds a migrated database is reused (restart ~5 s instead of ~45 s of
migrations); since Label Studio only applies `LABEL_STUDIO_USER_TOKEN` when it creates the user, the
fresh token is written into the existing database before the restart. The token is only ever held
in memory and in Label Studio's own database: never printed, never written to our files.

CLI (manual use): `python scripts/labelstudio_server.py start [--data-dir DIR] [--port N]` runs the
server in the foreground until Ctrl-C and prints the URL; the token is exported to a child shell
only when `--shell` is given (`LABEL_STUDIO_URL` / `LABEL_STUDIO_API_KEY` /
`LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT` set there).
`stop --data-dir DIR` stops the server recorded in DIR's pid file (e.g. from another terminal).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this folder is on sys.path already; loaded by path (tests, benchmarks), it is not.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_group import STOP_TIMEOUT_S, stop_group, stop_process  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EXE = ROOT / ".venv-ls" / "bin" / "label-studio"
USERNAME = "endods@localhost.test"
LOG_NAME = "labelstudio-server.log"
PID_NAME = "labelstudio-server.pid"
DB_NAME = "label_studio.sqlite3"
# Log markers of the start, in boot order: (marker, what the server is doing once it has appeared).
START_PHASES = (
    ("Database and media directory", "loading Label Studio (Python imports)"),
    ("Initializing database", "initializing the database (first boot runs migrations: ~30-60 s)"),
    ("Applying ", "applying database migrations"),
    ("Starting", "starting the web server"),
    ("Quit the server", "web server up, waiting for /health"),
)
Status = Callable[[str], None]


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries the reason and the log tail."""


@dataclass
class ServerHandle:
    """A running server. `token` is the API key for the SDK; keep it out of logs and repr."""

    url: str
    token: str = field(repr=False)
    process: subprocess.Popen
    data_dir: Path
    log_path: Path
    document_root: Path  # LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT of the server (local-files serving)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGINT first (clean uwsgi/django shutdown), then SIGTERM and SIGKILL to the process group."""
        stop_process(self.process, timeout)
        (self.data_dir / PID_NAME).unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _set_existing_token(db: Path, token: str) -> bool:
    """Point the existing user's legacy token at `token`; False when the DB has no such user yet."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        try:
            row = con.execute("SELECT id FROM htx_user WHERE email = ?", (USERNAME,)).fetchone()
        except sqlite3.OperationalError:
            return False  # migrations never finished: let Label Studio create everything
        if row is None:
            return False
        con.execute("UPDATE authtoken_token SET key = ? WHERE user_id = ?", (token, row[0]))
        con.commit()
        return True


def server_env(data_dir: Path, token: str, password: str, document_root: Path | None = None) -> dict[str, str]:
    """The environment of the non-interactive start; the base env minus any caller LABEL_STUDIO_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=USERNAME,
        LABEL_STUDIO_PASSWORD=password,
        LABEL_STUDIO_USER_TOKEN=token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(document_root or data_dir),
        LATEST_VERSION_CHECK="false",
        # uploads of 100 images per request (the exporter's batch) must pass Django's count limit
        DATA_UPLOAD_MAX_NUMBER_FILES="200",
        PYTHONUNBUFFERED="1",
    )
    return env


def startup_phase(log_text: str) -> str:
    """What a starting server is doing, from its log so far (the last boot marker that appeared)."""
    phase = "launching the label-studio process"
    for marker, doing in START_PHASES:
        if marker in log_text:
            phase = doing
    applied = log_text.count("Applying ")
    return f"{phase} ({applied} applied)" if applied and "migrations" in phase else phase


def wait_healthy(
    url: str,
    process: subprocess.Popen,
    log_path: Path,
    timeout: float,
    on_status: Status | None = None,
    log_start: int = 0,
) -> None:
    """Poll `url`/health until 200; `on_status` hears what the server is doing (from its log after `log_start`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_status is not None:
            with contextlib.suppress(OSError):
                with open(log_path, "rb") as log:
                    log.seek(log_start)
                    on_status(startup_phase(log.read().decode(errors="replace")))
        if process.poll() is not None:
            raise ServerStartError(
                f"Label Studio exited with code {process.returncode} before {url}/health answered; "
                f"log tail ({log_path}):\n{_log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.5)
    stop_process(process, 10)
    raise ServerStartError(
        f"Label Studio did not answer {url}/health within {timeout:.0f} s; log tail ({log_path}):\n"
        f"{_log_tail(log_path)}"
    )


def start(
    data_dir: Path,
    port: int | None = None,
    exe: Path | None = None,
    timeout: float = 180.0,
    document_root: Path | None = None,
    on_status: Status | None = None,
) -> ServerHandle:
    """Start a server on 127.0.0.1 and block until `GET /health` is 200.

    `document_root`: the local-files document root (default: `data_dir`); created if missing.
    `on_status`: called about twice a second with what the start is waiting for.
    """
    exe = Path(exe or os.environ.get("ENDODS_LABEL_STUDIO_EXE", DEFAULT_EXE))
    if not exe.exists():
        raise ServerStartError(
            f"Label Studio server not installed at {exe}; run `make .venv-ls` (or set ENDODS_LABEL_STUDIO_EXE)"
        )
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    root = Path(document_root).resolve() if document_root else data_dir
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(20)
    db = data_dir / DB_NAME
    if db.exists():
        _set_existing_token(db, token)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / LOG_NAME
    log_start = log_path.stat().st_size if log_path.exists() else 0  # the log is appended across restarts
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            cmd,
            env=server_env(data_dir, token, secrets.token_urlsafe(16), root),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            start_new_session=True,  # own process group: stop() reaches uwsgi/django children too
        )
    (data_dir / PID_NAME).write_text(f"{process.pid}\n")
    wait_healthy(url, process, log_path, timeout, on_status, log_start)
    return ServerHandle(url, token, process, data_dir, log_path, root)


def stop(data_dir: Path, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop the server whose pid file is in `data_dir`; False when none is recorded."""
    pid_file = Path(data_dir) / PID_NAME
    if not pid_file.exists():
        return False
    stop_group(int(pid_file.read_text().strip()), timeout)
    pid_file.unlink(missing_ok=True)
    return True


def _start_with_progress(data_dir: Path, port: int | None, document_root: Path | None) -> ServerHandle:
    """`start` under a rich spinner that shows the elapsed time and what the start is waiting for."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("Label Studio: {task.description}"), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("launching the label-studio process", total=None)
        return start(data_dir, port, document_root=document_root, on_status=lambda s: bar.update(task, description=s))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".labelstudio")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--document-root", type=Path, default=None, help="local-files root (default: data dir)")
    parser.add_argument("--shell", action="store_true", help="open a shell with LABEL_STUDIO_* exported")
    args = parser.parse_args(argv)
    if args.action == "stop":
        print("stopped" if stop(args.data_dir) else f"no server recorded in {args.data_dir}")
        return 0
    t0 = time.monotonic()
    try:
        handle = _start_with_progress(args.data_dir, args.port, args.document_root)
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"Label Studio up at {handle.url} after {time.monotonic() - t0:.1f} s "
        f"(data: {handle.data_dir}, local-files root: {handle.document_root})"
    )
    try:
        if args.shell:
            env = dict(
                os.environ,
                LABEL_STUDIO_URL=handle.url,
                LABEL_STUDIO_API_KEY=handle.token,
                LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(handle.document_root),
            )
            subprocess.call([os.environ.get("SHELL", "/bin/bash")], env=env)
        else:
            print("Ctrl-C stops it. Use --shell for a shell with LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY set.")
            handle.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
