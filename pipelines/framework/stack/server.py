"""
The local Prefect server: started once in the background, found again by every later command.

`pipelines run` and `pipelines up` share it through a state file, so only the first command of a
session pays the server's start-up; a server named by `PREFECT_API_URL` is used as it is.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from pipelines.framework import config
from pipelines.framework.stack import database
from pipelines.framework.stack.security import (
    ENCRYPTION_KEY_VARIABLE,
    client_environment,
    exposure_refusal,
    new_encryption_key,
    security_environment,
)
from pipelines.framework.storage import atomic_write

if TYPE_CHECKING:  # pydantic-settings (0.1 s): `pipelines status` reads the state folder without it
    from pipelines.framework.config import Settings

POLL_SECONDS = 0.05
"""Between two health checks of a starting server: a check costs ~1 ms, a late answer up to this."""
UNUSED_SERVICES = {"PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false"}
"""Server services the platform has no use for: no flow pauses or suspends itself. The others
stay: the scheduler, late runs, triggers and actions (the crash automation of
`services.ensure_zombie_automation`), the event persister and task-run recorder (what the UI and
`pipelines run` read of a run), the repossessor and cancellation cleanup (deployment concurrency
limits), the foreman (workers' status), the DB vacuum (retention) and the cleanup reconciler."""


PREFECT_SERVER = [
    sys.executable,
    "-m",
    "pipelines.framework.stack.prefect_server",
    "server",
    "start",
]
"""`prefect server start`, its SQLite writes taking the write lock at BEGIN (prefect_server.py)."""


class ServerError(RuntimeError):
    """The server could not be started or reached."""


@dataclass(frozen=True)
class ServerState:
    """What the state file remembers of a server this platform started."""

    url: str
    pid: int
    log: str


def api_url(host: str, port: int) -> str:
    return f"http://{host}:{port}/api"


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when the Prefect API at `url` answers its health check (the standard library's
    client: `pipelines status` then answers without importing httpx, 50 ms)."""
    import urllib.request  # 30 ms, paid only where a server is recorded as running

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):  # refused, timed out, an HTTP error status, a malformed URL
        return False


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on `host:port` yet."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def prefect_home(settings: Settings) -> Path:
    """The server's PREFECT_HOME: its SQLite database, unless a PostgreSQL one is named."""
    return settings.home / "prefect"


def uses_local_sqlite(settings: Settings) -> bool:
    """True when the server keeps its database in the state folder (no PostgreSQL URL given)."""
    return not settings.database_url and "PREFECT_API_DATABASE_CONNECTION_URL" not in os.environ


def server_environment(settings: Settings) -> dict[str, str]:
    """Environment of the server process: state under the home folder, telemetry off, secured."""
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        PREFECT_HOME=str(prefect_home(settings)),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="true",
        # relative, so the UI calls the server that served it, whatever address the browser used
        PREFECT_UI_API_URL="/api",
        **UNUSED_SERVICES,
    )
    if settings.database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = settings.database_url
    if settings.redis_url:
        env.update(redis_environment(settings.redis_url))
    env.update(security_environment(settings))  # key file, basic auth, run retention
    return env


def redis_environment(redis_url: str) -> dict[str, str]:
    """Prefect's variables for Redis messaging (prefect-redis), as its scaling guide sets them for
    servers that share one database: events, their ordering, concurrency leases and the
    background services' coordination (Docket) go through `redis_url`, not one process's memory."""
    return {
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_URL": redis_url,
        "PREFECT_SERVER_DOCKET_URL": redis_url,
    }


def read_state(home: Path) -> ServerState | None:
    """The server the state folder `home` records, running or not."""
    try:
        return ServerState(**json.loads(config.server_state_file(home).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def running_server(home: Path, boot_timeout: float | None = None) -> ServerState | None:
    """The server recorded in the state folder `home`, if it is alive and healthy. With a
    `boot_timeout`, one still booting (the command that started it was interrupted) is waited
    for that long: under the state lock, so that a second server never starts beside it."""
    state = read_state(home)
    booting = boot_timeout is not None
    deadline = time.monotonic() + (boot_timeout or 0)
    while state and pid_alive(state.pid):
        if is_healthy(state.url, timeout=1.0 if booting else 2.0):
            return state
        if not booting or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    return None


OUR_PROCESSES = (b"prefect", b"pipelines.framework.stack.worker")
"""What the command line of a process the stack starts names: Prefect's server and flow runs, the
platform's worker (`services.start_worker`)."""


def pid_alive(pid: int) -> bool:
    """True while `pid` is a live process of the stack: a pid reused by another program is not
    ours."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(name in command for name in OUR_PROCESSES)


@contextmanager
def state_lock(settings: Settings) -> Iterator[None]:
    """Serialise start/stop so two commands never start two servers."""
    with _lock_file(settings) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _lock_file(settings: Settings) -> TextIO:
    settings.home.mkdir(parents=True, exist_ok=True)
    return open(settings.home / "server.lock", "w", encoding="utf-8")  # pylint: disable=consider-using-with


def start_in_background(settings: Settings | None = None) -> None:
    """Start the local server now, on a thread, when a command will need it and none is running
    or starting: `pipelines run` imports Prefect and its flow while the server boots, and its
    `ensure_server`, waiting on the state lock meanwhile, finds it healthy. A boot that fails is
    left to that `ensure_server`, which starts it again and says why. The thread is no daemon:
    a command that ends first (a usage error) still leaves the server recorded for the next."""
    settings = settings or config.get_settings()
    if os.environ.get("PREFECT_API_URL"):
        return
    lock = _lock_file(settings)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another command is starting or stopping it
        lock.close()
        return
    state = read_state(settings.home)
    if state and pid_alive(state.pid):  # running or booting: `ensure_server` waits for it
        lock.close()
        return
    threading.Thread(target=_boot_holding, args=(settings, lock), name="server-start").start()


def _boot_holding(settings: Settings, lock: TextIO) -> None:
    """Start the server as `ensure_server` would, then release the state lock."""
    with lock, suppress(Exception):
        port = settings.port if port_is_free(settings.host, settings.port) else None
        start_server(settings, settings.host, port or free_port(settings.host))


def start_server(settings: Settings, host: str, port: int) -> ServerState:
    """Start `prefect server start` in its own session and wait until it is healthy."""
    return launch_server(settings, host, port).wait()


def launch_server(settings: Settings, host: str, port: int) -> Launch:
    """Start the server in the background (refusing a bad address at once): the caller does its
    own work while the server boots, then `wait()`s for it."""
    if refusal := exposure_refusal(settings, host):
        raise ServerError(refusal)
    if not port_is_free(host, port):
        raise ServerError(f"port {port} on {host} is in use; choose another with --port")
    return Launch.start(settings, host, port)


class Launch:
    """A server starting on a thread of its own (the template database built if this
    installation has none yet, copied into a new state folder, the server started and polled
    until healthy), or one already running; `wait()` returns it healthy."""

    def __init__(self, running: ServerState | None = None) -> None:
        self._outcome: ServerState | BaseException = running or ServerError("not started")
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, settings: Settings, host: str, port: int) -> Launch:
        launch = cls()
        launch._thread = threading.Thread(
            target=launch._run, args=(settings, host, port), name="server-launch", daemon=True
        )
        launch._thread.start()
        return launch

    def _run(self, settings: Settings, host: str, port: int) -> None:
        try:
            self._outcome = _boot(settings, host, port)
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            self._outcome = exc  # raised again by wait(), in the caller's thread

    def wait(self) -> ServerState:
        if self._thread is not None:
            self._thread.join()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome


@contextmanager
def server_starting(settings: Settings, host: str, port: int) -> Iterator[Launch]:
    """Under the state lock: the running server, or one launched now that boots while the block
    does its own work (importing Prefect and the flows); the block `wait()`s for it."""
    with state_lock(settings):
        running = running_server(settings.home, settings.server_start_timeout)
        launch = Launch(running) if running else launch_server(settings, host, port)
        try:
            yield launch
        finally:
            with suppress(BaseException):  # the block's own error, if any, is the one to show
                launch.wait()  # never leave a thread writing the state file after the lock


def _boot(settings: Settings, host: str, port: int) -> ServerState:
    """The state folder's database from the template, then the server, healthy."""
    home = prefect_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    key = database.build_key() if uses_local_sqlite(settings) else None
    if key and not (home / database.DATABASE_FILE).exists():
        _ensure_template(settings, key)
        database.seed(settings, home, key)
    env = server_environment(settings)  # after the copy: it adopts a key found in the database
    up_to_date = bool(key) and database.is_up_to_date(home, key)
    if up_to_date:
        env.update(database.UP_TO_DATE)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs_dir / "server.log"
    process = _spawn([*PREFECT_SERVER, "--host", host, "--port", str(port)], env, log_path)
    state = ServerState(url=api_url(host, port), pid=process.pid, log=str(log_path))
    # recorded at once: a command interrupted while it boots leaves it to the next one (`down`)
    settings.server_state_file.write_text(json.dumps(asdict(state)))
    try:
        _wait_healthy(process, state.url, settings.server_start_timeout, log_path)
    except ServerError:
        settings.server_state_file.unlink(missing_ok=True)
        raise
    if key and not up_to_date:  # healthy: Prefect migrated it and registered the block types
        database.mark_up_to_date(home, key)
    return state


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """A server process in its own session (stopped as a group), its output in `log_path`."""
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(  # pylint: disable=consider-using-with
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def _wait_healthy(process: subprocess.Popen, url: str, timeout: float, log_path: Path) -> None:
    """Return once `url` answers its health check; stop the process if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"the Prefect server exited ({process.returncode}); see {log_path}")
        if is_healthy(url, timeout=1.0):
            return
        time.sleep(POLL_SECONDS)
    stop_process_group(process.pid)
    raise ServerError(
        f"the Prefect server did not become healthy in {timeout:.0f} s; see {log_path}"
    )


def prepare_template(settings: Settings | None = None) -> None:
    """Build the template database now (`make install` does), so that the first `pipelines up`
    or `pipelines run` of an installation copies it instead of building it."""
    settings = settings or config.get_settings()
    if uses_local_sqlite(settings):
        _ensure_template(settings, database.build_key())


def _ensure_template(settings: Settings, key: str) -> None:
    """Build the template database of `key` once: Prefect's own first start (migrations, block
    types) on a scratch folder, with no services, a throwaway key and no client. Where the
    cache cannot be written, the server migrates its own database as Prefect does."""
    try:
        with database.building(settings, key) as scratch:
            if scratch is not None:
                _first_start(settings, scratch)
    except database.TemplateError as exc:
        raise ServerError(f"the template database is not a pristine one: {exc}") from exc
    except OSError:
        return


def _first_start(settings: Settings, scratch: Path) -> None:
    """Start and stop a server on `scratch`: what it leaves is the template."""
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(scratch),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_DATABASE_MIGRATE_ON_START="true",
        PREFECT_SERVER_REGISTER_BLOCKS_ON_START="true",
        **{ENCRYPTION_KEY_VARIABLE: new_encryption_key()},  # discarded: none stored
    )
    log_path = scratch / "server.log"
    port = free_port()
    process = _spawn(
        [*PREFECT_SERVER, "--no-services", "--host", "127.0.0.1", "--port", str(port)],
        env,
        log_path,
    )
    try:
        _wait_healthy(process, api_url("127.0.0.1", port), settings.server_start_timeout, log_path)
    except ServerError as exc:
        raise ServerError(f"{exc}: {log_path.read_text(errors='replace')[-2000:]}") from None
    finally:
        stop_process_group(process.pid)


def ensure_server(settings: Settings | None = None) -> str:
    """The API URL to use: `PREFECT_API_URL`, the running local server, or a new one."""
    for name, value in client_environment(settings or config.get_settings()).items():
        os.environ.setdefault(name, value)  # the basic-auth credential for this process's clients
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    settings = settings or config.get_settings()
    with state_lock(settings):
        state = running_server(settings.home, settings.server_start_timeout)
        if state:
            return state.url
        port = (
            settings.port
            if port_is_free(settings.host, settings.port)
            else free_port(settings.host)
        )
        return start_server(settings, settings.host, port).url


@contextmanager
def api_settings(url: str) -> Iterator[None]:
    """Point this process's Prefect clients at `url`, with the server's credential if it has one."""
    with _pointed_at(url), _cheap_tls_context(url):
        try:
            yield
        except Exception as exc:
            if refusal := _unreachable(exc, url):
                raise ServerError(refusal) from exc
            raise


@contextmanager
def _pointed_at(url: str) -> Iterator[None]:
    """Prefect's settings with `url` and the credential, validated again only when they differ
    from this process's: a `pipelines run` with `PREFECT_API_URL` set (a warm runner's child
    reads it when it starts) skips the 0.08-0.15 s of validating every setting again."""
    # Prefect's settings import Prefect (1.2 s): `pipelines status` reads this module without it
    from prefect.settings import (
        PREFECT_API_AUTH_STRING,
        PREFECT_API_URL,
        get_current_settings,
        temporary_settings,
    )

    current = get_current_settings().api
    updates: dict = {} if current.url == url else {PREFECT_API_URL: url}
    credential = client_environment(config.get_settings()).get("PREFECT_API_AUTH_STRING")
    given = current.auth_string.get_secret_value() if current.auth_string else None
    if credential and credential != given:
        updates[PREFECT_API_AUTH_STRING] = credential
    if not updates:
        yield
        return
    with temporary_settings(updates=updates):
        yield


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@contextmanager
def _cheap_tls_context(url: str) -> Iterator[None]:
    """For a plain-HTTP server on this machine, Prefect's CA file is one certificate.

    Prefect builds a verified TLS context for every client, even one that speaks plain HTTP,
    from certifi's bundle of ~140 certificates: 20 ms each on a quiet machine, up to 90 ms on a
    busy one, four times in a run (its client, the log and event workers', the version check).
    A loopback `http://` API never uses it (nor redirects to HTTPS), so a one-certificate file
    makes that context cheap, whatever CA file `SSL_CERT_FILE` or the user named."""
    from prefect.context import SettingsContext  # loaded already: the settings above

    parsed = urlsplit(url)
    context = SettingsContext.get()
    api = context.settings.api
    if parsed.scheme != "http" or parsed.hostname not in _LOOPBACK or api.tls_insecure_skip_verify:
        yield
        return
    unused = api.model_copy(update={"ssl_cert_file": str(_one_certificate())})
    settings = context.settings.model_copy(update={"api": unused})
    with SettingsContext(profile=context.profile, settings=settings):
        yield


def _one_certificate() -> Path:
    """A CA file of one certificate (certifi's first), written once in the state folder."""
    path = config.get_settings().home / "plain-http-ca.pem"
    if not path.is_file():
        import certifi  # pylint: disable=import-outside-toplevel

        bundle = Path(certifi.where()).read_text(encoding="ascii")
        end = "-----END CERTIFICATE-----"
        first = bundle[bundle.index("-----BEGIN CERTIFICATE-----") : bundle.index(end) + len(end)]
        with atomic_write(path, encoding="ascii") as out:
            out.write(first + "\n")
    return path


def _unreachable(exc: BaseException, url: str) -> str | None:
    """One line for an exception that means the server at `url` cannot be talked to: no answer
    (Prefect wraps it in a RuntimeError and a 138-line traceback) or a refused credential."""
    import httpx  # loaded already: Prefect's client raised what is read here

    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, httpx.TransportError):
            return (
                f"cannot reach the Prefect server at {url} ({type(error).__name__}: {error}); "
                "`pipelines up` starts the local one, PREFECT_API_URL names another"
            )
        response = getattr(error, "response", None)
        if isinstance(response, httpx.Response) and response.status_code == 401:
            return (
                f"the Prefect server at {url} refused the credential (401): set "
                "PREFECT_API_AUTH_STRING (or PIPELINES_AUTH_STRING) to its user:password"
            )
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def local_api(settings: Settings | None = None) -> Iterator[str]:
    """This process's Prefect clients on the platform's API for runs started here: the server
    `PREFECT_API_URL` names, else the local one (started once, then reused), never the temporary
    server Prefect starts (and stops) for each process; yields its URL."""
    url = ensure_server(settings)
    with api_settings(url):
        yield url


def stop_server(settings: Settings | None = None) -> ServerState | None:
    """Stop the server recorded in the state file; returns what was stopped."""
    settings = settings or config.get_settings()
    with state_lock(settings):
        state = read_state(settings.home)
        if state and pid_alive(state.pid):
            stop_process_group(state.pid)
        settings.server_state_file.unlink(missing_ok=True)
        return state


def stop_process_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM a process group, then SIGKILL whatever is left after `timeout` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):  # an exited child (zombie) has no command line left
            return
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
