"""A sandbox for generated code: every check runs in a fresh, limited, killable process.

What it enforces (Linux):
- a separate process in its own session/process group, killed with its whole group at the
  wall-clock deadline; afterwards every process left behind is found and killed too, also ones
  that detached with setsid or a double fork (see `_sweep`);
- resource limits: CPU seconds, address space, processes, file size, open files, no core dumps;
- output captured to files capped by the file-size limit, and read back bounded;
- a check passes only if the program ran to its end: the harness appends a line that writes a
  random token to a private pipe, so `exit(0)` or `os._exit(0)` halfway is a failure;
- as root (as on CI and our machines): a private network namespace (no network, not even
  loopback), a private mount namespace whose world-writable directories (/tmp, /var/tmp,
  /dev/shm, /run/lock) are fresh tmpfs mounts, and a unique unprivileged uid, so nothing outside
  the sandbox's own temp dir is writable and the sweep can find every process by uid;
- without root: socket creation and writes outside the temp dir are refused by a Python audit
  hook and processes are swept by an environment marker. That is a guard against accidents, not
  against code that means harm (ctypes can bypass it) — README "Sandbox" says so.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import Verdict

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 0x4000, 0x40000
WRITABLE_DIRS = (b"/tmp", b"/var/tmp", b"/dev/shm", b"/run/lock")
UID_BASE = 61000  # unassigned uids; one per concurrent sandbox
_uids = itertools.cycle(range(UID_BASE, UID_BASE + 2000))
_uid_lock = threading.Lock()
_libc = ctypes.CDLL(None, use_errno=True)
IS_ROOT = os.geteuid() == 0
# The interpreter may live where the sandbox uid cannot read (/root/.pyenv); inside the private
# mount namespace the Python prefix is bind-mounted read-only here instead.
PY_MOUNT = "/tmp/.python"
PY_ISOLATED = f"{PY_MOUNT}/bin/python{sys.version_info.major}.{sys.version_info.minor}"

# Prepended to every program when not root: refuse sockets, signals to other processes and
# writes outside the cwd.
GUARD = r'''
import sys as _s, os as _o
def _tb_guard(event, args, _cwd=_o.getcwd(), _real=_o.path.realpath):
    if event.startswith("socket.") and event != "socket.getaddrinfo":
        raise PermissionError("sandbox: network is disabled")
    if event in ("os.kill", "os.killpg") and args[0] != _o.getpid():
        raise PermissionError("sandbox: signalling other processes is disabled")
    if event == "open" and isinstance(args[0], (str, bytes)) and args[1] and any(c in str(args[1]) for c in "wax+"):
        p = _real(args[0] if isinstance(args[0], str) else args[0].decode())
        if not p.startswith(_cwd):
            raise PermissionError("sandbox: writing outside the sandbox dir is disabled")
_s.addaudithook(_tb_guard)
del _tb_guard
'''


@dataclass(frozen=True)
class Limits:
    """Per-check limits."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 1024
    processes: int = 64
    file_mb: int = 16
    open_files: int = 64
    output_chars: int = 8_000


@dataclass(frozen=True)
class Outcome:
    """How one program ran."""

    passed: bool
    reason: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float


def _preexec(uid: int | None, limits: Limits, workdir: str) -> None:
    """Runs in the child between fork and exec: namespaces, limits, then drop privileges."""
    if uid is not None:
        if _libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
            os._exit(121)
        _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
        for d in WRITABLE_DIRS:
            if os.path.isdir(d):
                _libc.mount(b"tmpfs", d, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m,mode=1777")
        os.mkdir(PY_MOUNT)
        prefix = sys.base_prefix.encode()
        if (_libc.mount(prefix, PY_MOUNT.encode(), None, MS_BIND | MS_REC, None) != 0 or
                _libc.mount(None, PY_MOUNT.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None) != 0):
            os._exit(121)
        os.makedirs(workdir, mode=0o700)
        os.chown(workdir, uid, uid)
    os.chdir(workdir)
    mb = 1024 * 1024
    for what, value in ((resource.RLIMIT_CPU, limits.cpu_s), (resource.RLIMIT_AS, limits.memory_mb * mb),
                        (resource.RLIMIT_FSIZE, limits.file_mb * mb), (resource.RLIMIT_NOFILE, limits.open_files),
                        (resource.RLIMIT_NPROC, limits.processes), (resource.RLIMIT_CORE, 0)):
        # CPU: the soft limit sends SIGXCPU (reported as such) a second before the hard SIGKILL.
        resource.setrlimit(what, (value, value + 1 if what == resource.RLIMIT_CPU else value))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


def _status(pid: str) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)


def _pids_where(match) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if match(entry.name):
                    out.append(int(entry.name))
            except OSError:
                pass  # gone already
    return out


def _sweep(uid: int | None, marker: str) -> int:
    """Kill every process the check left behind, however it detached; returns how many."""
    if uid is not None:
        def match(pid: str) -> bool:
            status = _status(pid)
            return status.get("State", "Z")[0] != "Z" and int(status.get("Uid", "-1").split()[0]) == uid
    else:
        token = marker.encode()

        def match(pid: str) -> bool:
            if _status(pid).get("State", "Z")[0] == "Z":
                return False  # already dead, waiting for its parent to reap it
            with open(f"/proc/{pid}/environ", "rb") as fh:
                return token in fh.read()
    killed = 0
    for _ in range(100):  # a fork bomb may spawn while we kill: repeat until none is left
        pids = _pids_where(match)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    return killed


def _read(path: Path, limit: int) -> str:
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    text = data[:limit].decode("utf-8", "replace")
    return text + ("\n[... output truncated]" if len(data) > limit else "")


def run_program(program: str, limits: Limits = Limits(), *, isolate: bool | None = None) -> Outcome:
    """Run a Python program in the sandbox; it passes if it exits 0 after its last line."""
    isolate = IS_ROOT if isolate is None else isolate
    uid = None
    if isolate:
        with _uid_lock:
            uid = next(_uids)
    token = secrets.token_hex(16)
    marker = f"thinkbench-sandbox-{token[:12]}"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="thinkbench-sandbox-") as host_dir:
        host = Path(host_dir)
        # As root the program's cwd is made inside its private /tmp; else a dir of our own.
        workdir = f"/tmp/sandbox-{token[:8]}" if isolate else str(host / "work")
        if not isolate:
            os.mkdir(workdir)
        read_end, write_end = os.pipe()
        done_fd = 3  # the program writes the token here after its last line
        body = (GUARD if not isolate else "") + program + (
            f"\n\nimport os as _tb_os\n_tb_os.write({done_fd}, b'{token}')\n")
        out_path, err_path = host / "stdout", host / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            env = {"PATH": "/usr/bin:/bin", "THINKBENCH_SANDBOX": marker, "PYTHONHASHSEED": "0",
                   "HOME": workdir, "LANG": "C.UTF-8"}
            try:
                proc = subprocess.Popen(
                    [PY_ISOLATED if isolate else sys.executable, "-I", "-c", "import os,sys; os.dup2(int(sys.argv[1]), 3); "
                     "exec(compile(sys.stdin.read(), '<program>', 'exec'), {'__name__': '__main__'})",
                     str(write_end)],
                    stdin=subprocess.PIPE, stdout=out, stderr=err, env=env, pass_fds=(write_end,),
                    start_new_session=True, preexec_fn=lambda: _preexec(uid, limits, workdir))
            finally:
                os.close(write_end)
            timed_out = False
            try:
                proc.stdin.write(body.encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                proc.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            _sweep(uid, marker)
        os.set_blocking(read_end, False)
        try:
            done = os.read(read_end, 64) == token.encode()
        except BlockingIOError:
            done = False
        os.close(read_end)
        stdout, stderr = _read(out_path, limits.output_chars), _read(err_path, limits.output_chars)
    wall = time.perf_counter() - t0
    code = proc.returncode
    if timed_out:
        reason = f"timed out after {limits.wall_s:g} s"
    elif code == 0 and done:
        reason = "passed"
    elif code == 0:
        reason = "exited before the tests finished (status 0)"
    elif code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = {"SIGXCPU": " (CPU limit)", "SIGXFSZ": " (file size limit)", "SIGKILL": " (killed)"}.get(name, "")
        reason = f"killed by {name}{hint}"
    elif code == 121 and isolate:
        reason = "sandbox setup failed (namespaces unavailable)"
    else:
        last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
        reason = f"exit status {code}: {last[:300]}"
    return Outcome(reason == "passed", reason, code, stdout, stderr, wall)


def run_many(programs: Sequence[str], limits: Limits = Limits(), workers: int | None = None) -> list[Outcome]:
    """Run programs in parallel sandboxes (threads wait; the work happens in the children)."""
    workers = workers or max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: run_program(p, limits), programs))


def run_checks(programs: Sequence[str], timeout_s: float, workers: int) -> list[Verdict]:
    """Verdicts of test programs run in parallel sandboxes with one time limit (wall and CPU)."""
    outcomes = run_many(programs, Limits(wall_s=timeout_s, cpu_s=max(1, int(timeout_s))), workers)
    return [Verdict(o.passed, o.reason) for o in outcomes]
