"""
The warm runner of `pipelines run`: a process that imported Prefect and the libraries the flows
use once (1.6 s for Prefect alone, pandas 0.5 s) and forks a child per run, so a run pays neither.

The child is the command itself: it takes the caller's stdin, stdout and stderr (passed over a Unix
socket), working folder, environment and import path, imports the projects' modules afresh (an
edited flow or helper is what runs; installed libraries and the platform's own modules are kept
warm, the latter only while none of their files has changed), and runs `pipelines run` as the caller
would have; its exit status becomes the caller's. Ctrl-C, SIGTERM and SIGHUP are passed on to the
child; a caller that dies (SIGKILL) takes its child with it, so its run stays Running until the next
command marks it Crashed, as an in-process run does.

One runner serves one interpreter, import path, version of this file and set of the variables
libraries read at import (`PREFECT_*`, `PYTHON*`, locale); it learns which installed libraries (and
platform modules) its runs imported and has them imported for the next runs by a successor, a fork
of itself that takes over the socket once it has them (meanwhile the runner serves callers at once);
it exits after `IDLE_SECONDS` without a run or once its socket is removed (`stop_runners`). Where it
cannot be used (no fd passing, a socket path too long, a runner that does not start) the command
runs in its own process.
"""

import atexit
import copy
import fcntl
import gc
import hashlib
import importlib
import io
import json
import mmap
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, Literal

IDLE_SECONDS = 600
START_TIMEOUT = 120.0
"""How long a caller waits for a new runner to import its libraries before running in-process."""
PRELOAD = (
    "prefect",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.client.orchestration",
    "prefect.logging.handlers",
    "fastapi.encoders",  # Prefect's serialize_parameters imports it in every run
    "httpx",
    "pydantic_settings",
    "typer",
    "rich.console",
)
_KEY_VARIABLES = ("PREFECT_", "PYTHON", "LANG", "LC_", "TZ")
"""Variables that libraries read when imported: a runner serves callers that agree on them."""
CONSOLE_SCRIPT = "pipelines"
_MAX_SOCKET_PATH = 100  # sockaddr_un holds 108 bytes
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HAND_OVER_WAIT = 2.0
"""How long a caller may wait for a successor's import under way (`_Runner`)."""
READY = b"ready"

INSIDE = False
"""True in a runner's child: its `pipelines run` runs there instead of handing over again."""
CALLER_PID: int | None = None
"""In a runner's child, the pid of the `pipelines run` process it runs for (its run records
name that process: when it dies, its runs are orphans)."""


def hand_over(args: list[str], starting: Callable[[], None]) -> int | None:
    """Run `pipelines ARGS` in the warm runner (started if need be, after `starting()`: what
    may go on while it imports); its exit code, or None when no runner can take it (the caller
    then runs the command itself). Only the console script's commands are handed over: a program
    that calls the app itself (a test that patched the CLI first) runs it in its own process."""
    if INSIDE or Path(sys.argv[0]).name != CONSOLE_SCRIPT:
        return None
    if not hasattr(socket, "send_fds") or not hasattr(os, "pidfd_open"):
        return None
    path = socket_path()
    if path is None:
        return None
    connection = _connect(path) or _start(path, starting)
    if connection is None:
        return None
    with connection:
        try:
            _send_request(connection, args)
        except OSError:  # a closed stdin, say: the runner drops a request without descriptors
            return None
        return _wait(connection)


def socket_path() -> Path | None:
    """This caller's runner socket, under the state folder; None when the path is too long."""
    from pipelines.framework import config

    key = hashlib.sha256(json.dumps(_key_material(), sort_keys=True).encode()).hexdigest()
    home = config.state_home()
    path = home / "runner" / f"{key[:16]}.sock"
    return path if len(str(path)) <= _MAX_SOCKET_PATH else None


def stop_runners(home: Path) -> None:
    """Stop the runners of a state folder: each exits once its socket is gone (within 5 s)."""
    for path in (home / "runner").glob("*.sock"):
        path.unlink(missing_ok=True)


def _key_material() -> dict[str, Any]:
    """What a runner's imports depend on: whoever differs in any of it gets a runner of its own."""
    installed = sorted({sysconfig.get_paths()[name] for name in ("purelib", "platlib")})
    return {
        "python": sys.executable,
        "path": sys.path,
        "installed": [os.stat(folder).st_mtime_ns for folder in installed],  # pip install
        "runner": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(_KEY_VARIABLES)},
    }


def _connect(path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:  # no runner yet, or a dead one's socket
        connection.close()
        return None
    return connection


def _start(path: Path, starting: Callable[[], None]) -> socket.socket | None:
    """Start a runner for `path` (one caller at a time) and wait until it answers."""
    starting()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # whoever can connect runs code as this user
    with open(path.with_suffix(".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        connection = _connect(path)  # another caller may have started it meanwhile
        if connection is not None:
            return connection
        process = _spawn(path)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            connection = _connect(path)
            if connection is not None:
                return connection
            time.sleep(0.05)
    return None


def _spawn(path: Path) -> subprocess.Popen:
    """The runner, in a session of its own (a Ctrl-C in this terminal is not its concern)."""
    from pipelines.framework.config import get_settings

    logs = get_settings().logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    code = (
        "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
        "from pipelines.framework.cli.runner import serve; serve(*sys.argv[2:])"
    )
    with open(logs / "runner.log", "ab") as log:
        return subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-c", code, json.dumps(sys.path), str(path), os.getcwd()],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _send_request(connection: socket.socket, args: list[str]) -> None:
    """The command, this process's context, and its stdin, stdout and stderr."""
    request = {
        "argv": ["pipelines", *args],
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "path": sys.path,
        "pid": os.getpid(),
    }
    payload = json.dumps(request).encode() + b"\n"
    sent = socket.send_fds(connection, [payload], [0, 1, 2])
    connection.sendall(payload[sent:])


def _wait(connection: socket.socket) -> int:
    """Pass signals on to the child until the runner reports how it ended; end the same way."""

    def forward(signum: int, _frame: Any) -> None:
        with suppress(OSError):
            connection.sendall(f"{signum}\n".encode())

    previous = {signum: signal.signal(signum, forward) for signum in _SIGNALS}
    try:
        answer = _read_line(connection)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    kind, _, value = answer.partition(" ")
    if kind == "signal":
        signum = int(value)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # ends here as the child did
        return 128 + signum
    if kind == "exit":
        return int(value)
    sys.stderr.write("error: the warm runner stopped during the run\n")
    return 1


def _read_line(connection: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def serve(path: str, cwd: str = "/") -> None:
    """The runner's loop: fork a child per request until idle. The libraries earlier runs
    needed are imported by a successor, a fork that takes over the socket once it has them: a
    caller never waits for an import (one of dbt's takes seconds). Prefect's settings are read
    as in `cwd`, the first caller's working folder, where the next callers most likely are."""
    for name in PRELOAD:
        importlib.import_module(name)
    _complete_models()
    _rehearse()
    with suppress(Exception):  # a folder gone, or settings that do not load: children read theirs
        _read_prefect_state(cwd)
    _freeze()
    _Runner(Path(path), _listen(Path(path)), _Learned(Path(path))).serve()


def _complete_models() -> None:
    """Build the pydantic models the imports left incomplete (Prefect's client schemas wait for
    their first use): once here, not in every run (0.1 s of a warm run's first requests)."""
    pydantic = sys.modules.get("pydantic")
    pending = [pydantic.BaseModel] if pydantic else []
    while pending:
        for model in pending.pop().__subclasses__():
            pending.append(model)
            if not getattr(model, "__pydantic_complete__", True):
                with suppress(Exception):  # a model that cannot be built yet is built later
                    model.model_rebuild()


def _rehearse() -> None:
    """Pay here, once, what Prefect pays on first use in every run's process: pydantic's
    validators and JSON schemas of a flow's parameters (a flow's decorator builds them), their
    validation and serialization at the run's start, a task's decorator (40 ms of each run)."""
    import prefect  # pylint: disable=import-outside-toplevel

    def rehearsal(  # pylint: disable=too-many-arguments,unused-argument
        text: str,
        number: int = 1,
        ratio: float = 1.0,
        flag: bool = False,
        choice: Literal["a", "b"] = "a",
        names: list[str] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """A flow no one runs.

        Args:
            text: A text.
            number: A number.
        """

    with suppress(Exception):  # a rehearsal that fails leaves the first use to the runs
        rehearsed = prefect.flow(name="rehearsal")(rehearsal)
        rehearsed.serialize_parameters(rehearsed.validate_parameters({"text": "x"}))
        prefect.task(rehearsal)


def _freeze() -> None:
    """Keep the objects the imports made out of every later collection: a child's first one
    scanned them all, touching every page it shares with the runner (0.8 s of each run). The
    repository's modules are stamped here: the children keep them while they are unchanged."""
    _stamp_repository_modules()
    gc.collect()
    gc.freeze()


class _Runner:
    """One generation of the runner: the children it forked and the successor it may have.

    A successor writes a byte on its pipe before each import and `READY` once it serves. A
    caller that comes meanwhile is the successor's at its next import (it has the libraries
    imported so far), unless it has been in one import for `HAND_OVER_WAIT` seconds: then it is
    served here at once. Both may then reach for it: the listener does not block, and the one
    that does not get it goes on."""

    def __init__(self, path: Path, listener: socket.socket, learned: "_Learned") -> None:
        self.path, self.listener, self.learned = path, listener, learned
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ)
        self.children: dict[int, tuple[int, socket.socket]] = {}
        self.successor: tuple[int, int] | None = None
        """A successor's pid and the read end of its pipe."""
        self.progress = 0.0
        """When the successor last started an import."""
        self.running = mmap.mmap(-1, 1)
        """One byte shared with a successor: 1 while a child runs here (the successor waits
        meanwhile: its imports would slow the run down)."""
        self.handed_over = False
        self.owner, self.inode = os.getpid(), os.stat(path).st_ino
        self.idle_since = time.monotonic()

    def serve(self) -> None:
        try:
            while self.children or (
                not self.handed_over
                and time.monotonic() - self.idle_since < IDLE_SECONDS
                and _still_ours(str(self.path), self.inode)
            ):
                for key, _ in self.selector.select(timeout=5):
                    if key.fileobj is self.listener:
                        self._caller_waits()
                    elif self.successor and key.fd == self.successor[1]:
                        self._successor_wrote()
                    else:
                        _reap(key.fd, self.selector, self.children)
                        self.idle_since = time.monotonic()
                    self.running[0] = 1 if self.children else 0
                if self._idle_and_alone() and self.learned.pending():
                    self._become_successor()
        finally:
            if self._idle_and_alone() and _still_ours(str(self.path), self.inode):
                self.path.unlink(missing_ok=True)

    def _idle_and_alone(self) -> bool:
        """This process serves the socket, alone and idle."""
        return (
            os.getpid() == self.owner
            and not (self.children or self.handed_over)
            and self.successor is None
        )

    def _caller_waits(self) -> None:
        """Serve the caller, unless a successor busy importing takes it in a moment."""
        if self.successor and time.monotonic() - self.progress < HAND_OVER_WAIT:
            time.sleep(0.01)  # the listener stays readable: no busy loop meanwhile
            return
        _accept(self.listener, self.selector, self.children, self.learned)

    def _become_successor(self) -> None:
        """Fork a successor, which imports what the runs needed and serves from then on; this
        process goes on serving meanwhile."""
        ready, tell = os.pipe()
        pid = os.fork()
        if pid:
            os.close(tell)
            self.successor, self.progress = (pid, ready), time.monotonic()
            self.selector.register(ready, selectors.EVENT_READ)
            return
        os.close(ready)
        parent, running = os.getppid(), self.running
        self.running = mmap.mmap(-1, 1)  # its own, for its successor

        def between_imports() -> bool:
            while running[0] and os.getppid() == parent and not self._caller():
                time.sleep(0.05)  # a run is under way there
            if self._caller():
                return True
            os.write(tell, b".")
            return False

        if not self.learned.import_all(between_imports):
            os._exit(1)  # the socket stays the runner's
        _complete_models()
        _freeze()
        self.owner = os.getpid()
        self.selector.close()  # an epoll descriptor is shared across a fork: a new one
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        os.write(tell, READY)
        os.close(tell)

    def _caller(self) -> bool:
        """A caller waits on the socket."""
        return bool(select.select([self.listener], [], [], 0)[0])

    def _successor_wrote(self) -> None:
        """The successor started an import, or serves from now on (this process then only
        sees its children out), or ended without serving (an import started a thread)."""
        pid, fd = self.successor
        written = os.read(fd, 4096)
        if written and READY not in written:
            self.progress = time.monotonic()
            return
        self.successor = None
        self.selector.unregister(fd)
        os.close(fd)
        if written:
            self.selector.unregister(self.listener)
            self.listener.close()
            self.handed_over = True
        else:
            os.waitpid(pid, 0)
            self.learned.skip_pending()


def _listen(path: Path) -> socket.socket:
    """Listen on `path`, replacing a dead runner's socket in one step."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    temporary = f"{path}.{os.getpid()}"
    listener.bind(temporary)
    os.chmod(temporary, 0o600)
    listener.listen(16)
    listener.setblocking(False)  # a successor may take a caller first (`_Runner`)
    os.replace(temporary, path)
    return listener


def _still_ours(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _accept(
    listener: socket.socket,
    selector: selectors.BaseSelector,
    children: dict[int, tuple[int, socket.socket]],
    learned: "_Learned",
) -> None:
    """Take one caller's request and fork the child that runs it."""
    try:
        connection, _ = listener.accept()
    except BlockingIOError:  # the successor took it
        return
    connection.settimeout(10)
    try:
        _, uid, _ = struct.unpack("3i", connection.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
        ))  # fmt: skip
        request, fds = _receive(connection) if uid == os.getuid() else (None, [])
    except (OSError, ValueError):
        request, fds = None, []
    if request is None or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        connection.close()
        return
    pid = os.fork()
    if pid == 0:
        for pidfd in children:
            os.close(pidfd)
        others = [conn for _, conn in children.values()]
        _become_command(connection, request, fds, [listener, selector, *others], learned)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    children[pidfd] = (pid, connection)
    selector.register(pidfd, selectors.EVENT_READ)


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    while data and not data.endswith(b"\n"):
        chunk = connection.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return json.loads(data), fds


def _reap(
    pidfd: int, selector: selectors.BaseSelector, children: dict[int, tuple[int, socket.socket]]
) -> None:
    """A child ended: tell its caller how, as `exit N` or `signal N` (a child that exits has
    told it first; a killed one cannot)."""
    selector.unregister(pidfd)
    pid, connection = children.pop(pidfd)
    os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with suppress(OSError), connection:
        connection.sendall((f"exit {code}" if code >= 0 else f"signal {-code}").encode() + b"\n")


def _become_command(
    connection: socket.socket,
    request: dict[str, Any],
    fds: list[int],
    inherited: list[Any],
    learned: "_Learned",
) -> None:
    """In the child: take the caller's place and run its command; never returns."""
    for item in inherited:
        item.close()
    connection.settimeout(None)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv, sys.path[:] = request["argv"], request["path"]
    _fresh_standard_streams()
    learned.forked()
    _forget_repository_modules(keep_platform=_fresh_library_state())
    atexit.register(learned.remember)  # runs last: after Prefect's handlers
    threading.Thread(target=_watch_caller, args=(connection,), daemon=True).start()
    fresh = importlib.import_module(__name__)
    fresh.INSIDE, fresh.CALLER_PID = True, request["pid"]
    from pipelines.framework.cli import app  # pylint: disable=import-outside-toplevel

    try:
        app(request["argv"][1:], prog_name="pipelines")
    except SystemExit as exc:
        _exit(exc.code, connection)
    _exit(0, connection)


def _exit(code: object, connection: socket.socket) -> None:
    """End as the interpreter would (non-daemon threads joined, exit handlers run: Prefect's ship
    the last logs and events), but without tearing down every module the runner had imported,
    which took seconds. The caller hears the exit code from here, once all is written: the
    kernel's teardown of the child's memory, and the runner's reaping, took 25 ms more."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # pylint: disable=protected-access
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    with suppress(OSError):
        connection.sendall(f"exit {code or 0}\n".encode())
    os._exit(code or 0)


def _fresh_standard_streams() -> None:
    """sys.std* for the caller's descriptors: line-buffered on a terminal, as Python makes them."""
    encoding = sys.stdout.encoding
    sys.stdin = _stream(0, "r", encoding)
    sys.stdout = _stream(1, "w", encoding, buffering=1 if os.isatty(1) else -1)
    sys.stderr = _stream(2, "w", encoding, buffering=1, errors="backslashreplace")
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _stream(fd: int, mode: str, encoding: str, **options: Any) -> io.TextIOWrapper:
    """A text stream on `fd` that stays open for the process's life, as sys.std* do."""
    return open(fd, mode, encoding=encoding, closefd=False, **options)  # pylint: disable=consider-using-with


PLATFORM = ("pipelines.framework", "pipelines.utils")
"""The repository's own platform: modules whose import reads nothing of its caller's context (no
variable, folder or setting; the flows and tasks they declare are made under Prefect's settings),
which a runner may therefore import for its runs, as it does the installed libraries."""
_STAMPS: dict[str, tuple[str | None, tuple[int, int] | None]] = {}
"""In a runner: each repository module it has, with its file and that file's time and size then
(None for a namespace package)."""


def _is_platform(name: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in PLATFORM)


def _repository_modules() -> list[str]:
    return [name for name in sys.modules if name.partition(".")[0] == "pipelines"]


def _stamp_repository_modules() -> None:
    """Note the file of every repository module this process has, as it is now."""
    _STAMPS.clear()
    for name in _repository_modules():
        file = getattr(sys.modules[name], "__file__", None)
        _STAMPS[name] = (file, _file_stamp(file))


def _file_stamp(file: str | None) -> tuple[int, int] | None:
    try:
        stat = os.stat(file) if file else None
    except OSError:
        return None
    return None if stat is None else (stat.st_mtime_ns, stat.st_size)


def _forget_repository_modules(keep_platform: bool) -> None:
    """Drop the repository's modules: the child imports the code as it is now. Those the runner
    imported stay when `keep_platform` (Prefect's settings are the runner's) and not one of
    their files has changed since: they are the platform's (`PLATFORM`), or the repository's
    that the platform imports; a project's flows are imported afresh by every run."""
    unchanged = keep_platform and all(
        _file_stamp(file) == stamp for file, stamp in _STAMPS.values()
    )
    for name in _repository_modules():
        if not (unchanged and name in _STAMPS):
            del sys.modules[name]
    importlib.invalidate_caches()


def _fresh_library_state() -> bool:
    """What the libraries read at import from the runner's context, read again from the
    caller's: Prefect's settings (its `.env`, `prefect.toml`) and logging (a terminal now).
    Where Prefect's settings sources say what they said to the runner, its settings and logging
    configuration are kept (reading them again was a fifth of a warm run's fixed cost): only
    the logging handlers are new. Returns whether they were kept."""
    # pylint: disable=import-outside-toplevel  # loaded already: the runner imported them
    import prefect.context
    from prefect.logging import configuration

    sources, config = _PREFECT_STATE or (None, {})
    kept = _prefect_settings_sources() == sources
    if not kept:
        prefect.context.refresh_global_settings_context()
        configuration.setup_logging(incremental=False)  # the runner's write to its log
    else:
        load = configuration.load_logging_config
        configuration.load_logging_config = lambda _path: copy.deepcopy(config)
        try:
            configuration.setup_logging(incremental=False)
        finally:
            configuration.load_logging_config = load
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()  # each run its own draws (`random` reseeds itself after a fork)
    return kept


_PREFECT_FILES = ((".env", "prefect_"), ("prefect.toml", ""), ("pyproject.toml", "tool.prefect"))
"""The working folder's files Prefect reads settings from, each with what marks one that sets some
(in lower case)."""
_PREFECT_STATE: tuple[tuple[Any, ...], dict[str, Any]] | None = None
"""In a runner: Prefect's settings sources as it read them, and the logging configuration they
gave (`_fresh_library_state`)."""


def _read_prefect_state(cwd: str) -> None:
    """Prefect's settings and logging configuration as a caller in `cwd` has them, kept for the
    children (`_fresh_library_state`); the runner stays in `/`."""
    global _PREFECT_STATE  # pylint: disable=global-statement
    import prefect.context  # pylint: disable=import-outside-toplevel

    os.chdir(cwd)
    try:
        prefect.context.refresh_global_settings_context()
        _PREFECT_STATE = (_prefect_settings_sources(), _prefect_logging_config())
    finally:
        os.chdir("/")


def _prefect_settings_sources() -> tuple[Any, ...]:
    """What Prefect's settings and logging read besides the variables (which a runner's callers
    share): the working folder's `.env`, `prefect.toml` and `pyproject.toml` where they speak
    of Prefect, and the profiles and logging files as they are now."""
    from prefect.settings import (  # pylint: disable=import-outside-toplevel
        PREFECT_LOGGING_SETTINGS_PATH,
        PREFECT_PROFILES_PATH,
    )

    found: list[Any] = []
    for name, mark in _PREFECT_FILES:
        try:
            text = Path(name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = None
        found.append(text if text is not None and mark in text.lower() else None)
    for path in (PREFECT_PROFILES_PATH.value(), PREFECT_LOGGING_SETTINGS_PATH.value()):
        try:
            stat = os.stat(path)
        except OSError:
            found.append(None)
        else:
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def _prefect_logging_config() -> dict[str, Any]:
    """The logging configuration Prefect's `setup_logging` reads under the current settings."""
    # pylint: disable=import-outside-toplevel
    from prefect.logging import configuration
    from prefect.settings import PREFECT_LOGGING_SETTINGS_PATH

    path = PREFECT_LOGGING_SETTINGS_PATH.value()
    return configuration.load_logging_config(
        path if path.exists() else configuration.DEFAULT_LOGGING_SETTINGS_PATH
    )


def _watch_caller(connection: socket.socket) -> None:
    """Signals the caller passes on are raised here; a caller gone (killed) ends the child."""
    data = b""
    while True:
        try:
            chunk = connection.recv(64)
        except OSError:
            chunk = b""
        if not chunk:
            os.kill(os.getpid(), signal.SIGKILL)
        data += chunk
        while b"\n" in data:
            line, data = data.split(b"\n", 1)
            os.kill(os.getpid(), int(line))


class _Learned:
    """The installed modules the runs imported, kept beside the socket: a successor imports
    them for the next runs. One that starts a thread when imported is never imported again
    (forking a process with threads is unsafe): that successor stops, and the runner that
    forked it goes on serving without it."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_suffix(".modules.json")
        self.roots = {sysconfig.get_paths()[name] for name in ("purelib", "platlib")}
        self.tried: set[str] = set()
        self.known: set[str] = set()
        """The modules the runner had when it forked this child: those need no remembering."""

    def _read(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"modules": [], "unsafe": []}
        return data if isinstance(data, dict) else {"modules": [], "unsafe": []}

    def _write(self, data: dict[str, list[str]]) -> None:
        temporary = self.path.with_suffix(f".{os.getpid()}")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, self.path)

    def forked(self) -> None:
        """In a child, first: note the runner's modules, which `remember` then skips (looking
        at each of the thousands a run has cost 0.1 s at every exit)."""
        self.known = set(sys.modules)

    def remember(self) -> None:
        """In a child, at its exit: the installed modules it imported."""
        found = set(self._installed())
        if not found:
            return
        with suppress(OSError):
            data = self._read()
            found -= set(data["unsafe"])
            if not found <= set(data["modules"]):
                data["modules"] = sorted(found | set(data["modules"]))
                self._write(data)

    def _installed(self) -> Iterator[str]:
        """The installed modules and the platform's (`PLATFORM`) imported since the fork."""
        for name, module in list(sys.modules.items()):
            if name in self.known:
                continue
            origin = getattr(module, "__file__", None) or ""
            if _is_platform(name) or any(origin.startswith(root) for root in self.roots):
                yield name

    def pending(self) -> bool:
        """Whether the runs needed a module this process has not imported (nor tried to)."""
        data = self._read()
        skipped = self.tried | set(data["unsafe"])
        return any(name not in sys.modules and name not in skipped for name in data["modules"])

    def skip_pending(self) -> None:
        """Give up the modules not imported yet (a successor that tried them stopped)."""
        self.tried.update(self._read()["modules"])

    def import_all(self, between: Callable[[], bool]) -> bool:
        """In a successor: import what the runs needed, stopping early when `between` two
        imports says so; False, and no more imports, once one starts a thread."""
        data = self._read()
        for name in data["modules"]:
            if name in sys.modules or name in data["unsafe"] or name in self.tried:
                continue
            if between():
                return True
            self.tried.add(name)
            with suppress(Exception):
                importlib.import_module(name)
            if threading.active_count() > 1:
                data["unsafe"].append(name)
                self._write(data)
                print(f"runner: importing {name!r} started a thread; skipped", file=sys.stderr)
                return False
        return True
