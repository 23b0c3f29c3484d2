"""A sandbox for generated code: every check runs in a fresh, limited, killable process tree.

What it enforces (Linux):
- each check gets its own PID namespace whose init is our own small process (`_init`); the
  program runs under it. When the program ends, when the wall-clock deadline kills the init, or
  when thinkbench itself dies (the init has PR_SET_PDEATHSIG=SIGKILL), the init's death makes the
  kernel kill everything left in the namespace, also processes that detached with setsid or a
  double fork. Nothing a check starts can outlive the check or the process that ran it;
- resource limits: CPU seconds, address space, processes, file size, open files, no core dumps;
- output captured to files capped by the file-size limit, and read back bounded;
- a check passes only if the program ran to its end: the harness appends a line that writes a
  random token to a private pipe, so `exit(0)` or `os._exit(0)` halfway is a failure;
- as root (as on CI and our machines): a private network namespace (no network, not even
  loopback), a private mount namespace whose world-writable directories (/tmp, /var/tmp,
  /dev/shm, /run/lock) are fresh tmpfs mounts and whose /proc shows only the check's own
  processes, and an unprivileged uid that no other live sandbox on the machine has: uids are
  leased across processes with a lock file per uid (flock, held for the check's whole life, freed
  by the kernel if the holder dies), so two thinkbench processes never share one, and
  RLIMIT_NPROC is a budget per check;
- without root: a Python audit hook refuses sockets, signals to other processes and writes
  outside the temp dir, and where unprivileged user namespaces are allowed the check also gets
  its own user, PID and network namespaces (so the PID-namespace guarantees above hold). Where
  they are not, the program is the sandbox process itself (killed if we die), and what it left
  behind is swept by an environment marker while we live. That is a guard against accidents,
  not against code that means harm (ctypes can bypass the hook) — docs/tasks.md, "The code sandbox", says so.

Starting a check never raises for lack of resources (EAGAIN, ENOMEM from fork): it is retried,
and if the machine stays exhausted the check fails with that reason.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import secrets
import select
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import Verdict

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 0x4000, 0x40000)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NAME = 1, 4, 15
WRITABLE_DIRS = (b"/tmp", b"/var/tmp", b"/dev/shm", b"/run/lock")
UID_BASE, UID_COUNT = 61000, 2000  # unassigned uids, leased one per live sandbox on the machine
UID_LOCK_DIR = "/run/thinkbench-sandbox-uids"
SETUP_FAILED = 121  # exit status of a sandbox whose setup failed (the program never ran)
START_TRIES = 8  # tries to start a check while fork fails with EAGAIN/ENOMEM (~6 s of backoff)
USE_USER_NAMESPACES = True  # without root; tests turn it off to check the plain fallback
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

# The program's interpreter starts with this: limits, then (as root) the switch to the leased
# uid, then the program from stdin. Anything failing before the program runs exits 121.
BOOT = r'''
import os, sys, resource as _r
def _tb_boot(cpu, mem, fsize, nofile, nproc, uid):
    try:
        for what, lim in ((_r.RLIMIT_CPU, (cpu, cpu + 1)), (_r.RLIMIT_AS, (mem, mem)),
                          (_r.RLIMIT_FSIZE, (fsize, fsize)), (_r.RLIMIT_NOFILE, (nofile, nofile)),
                          (_r.RLIMIT_NPROC, (nproc, nproc)), (_r.RLIMIT_CORE, (0, 0))):
            _r.setrlimit(what, lim)  # CPU: the soft limit sends SIGXCPU a second before SIGKILL
        if uid >= 0:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            if os.getuid() != uid or os.geteuid() != uid:
                raise OSError("uid switch failed")
        return compile(sys.stdin.read(), "<program>", "exec")
    except BaseException:
        os._exit(121)
_tb_code = _tb_boot(*map(int, sys.argv[1:7]))
del _tb_boot, _r
exec(_tb_code, {"__name__": "__main__"})
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


# --- uids: leased across processes ---------------------------------------------------------------

class UidLease:
    """One sandbox uid that no other live sandbox on this machine has, until `release()`.

    The lease is an exclusive flock on `UID_LOCK_DIR/<uid>.lock`, so it is atomic across
    processes and the kernel frees it when the holder dies. The holder writes its pid into the
    file and empties it on a clean release (after every process of the uid is gone); a file found
    non-empty means its holder died holding it, so the uid is swept before it is used again."""

    def __init__(self) -> None:
        os.makedirs(UID_LOCK_DIR, mode=0o700, exist_ok=True)
        start = secrets.randbelow(UID_COUNT)
        while True:
            for i in range(UID_COUNT):
                uid = UID_BASE + (start + i) % UID_COUNT
                fd = os.open(f"{UID_LOCK_DIR}/{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self.uid, self.fd = uid, fd
                stale = os.pread(fd, 32, 0)
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                if stale:
                    _sweep(uid, None)
                return
            time.sleep(0.1)  # every uid is leased: wait for one

    def release(self, clean: bool = True) -> None:
        if clean:
            os.ftruncate(self.fd, 0)
        os.close(self.fd)


# --- the processes of one check --------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """What the forked child needs to start one check (read after fork, so plain values)."""

    parent: int        # our pid: the child checks it is still ours after setting its death signal
    uid: int | None    # leased uid when isolated (root), else None
    workdir: str
    argv: list[str]    # the program's interpreter and BOOT arguments
    env: dict[str, str]
    stdio: tuple[int, int, int]
    done_w: int        # the pipe for the program's token and our reports, fd 3 in the program
    secret: bytes      # prefixes our reports there, so the program cannot forge them


def _fail(plan: _Plan, what: str, exc: BaseException | None = None) -> None:
    """Setup failed before the program ran: say why on the done pipe and exit."""
    err = getattr(exc, "errno", None)
    kind = "transient" if err in (errno.EAGAIN, errno.ENOMEM) else "setup"
    try:
        os.write(plan.done_w, b"\n" + plan.secret + f"!{kind}:{what}: {exc or ''}".encode()[:200])
    finally:
        os._exit(SETUP_FAILED)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _parent_is(pid: int) -> bool:
    """Our parent by the host's pid numbers (getppid() is 0 inside a new PID namespace)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("PPid:")) == pid


def _close_fds_except(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _private_mounts(plan: _Plan) -> None:
    """Root: a private mount namespace with fresh tmpfs where others could write, our own /proc,
    and the Python prefix read-only where the sandbox uid can read it."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for d in WRITABLE_DIRS:
        if os.path.isdir(d):
            _check(_libc.mount(b"tmpfs", d, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m,mode=1777"), "mount tmpfs")
    # We are the PID namespace's init, so this /proc lists only the check's processes.
    _check(_libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    os.mkdir(PY_MOUNT)
    prefix, target = sys.base_prefix.encode(), PY_MOUNT.encode()
    _check(_libc.mount(prefix, target, None, MS_BIND | MS_REC, None), "bind-mount python")
    _check(_libc.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None), "remount python read-only")
    os.makedirs(plan.workdir, mode=0o700)
    os.chown(plan.workdir, plan.uid, plan.uid)


def _spawn_program(plan: _Plan) -> int:
    """The program's interpreter, without copying our address space (posix_spawn: vfork)."""
    return os.posix_spawn(
        plan.argv[0], plan.argv, plan.env, setsid=True, setsigmask=(),
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT),
        file_actions=[(os.POSIX_SPAWN_DUP2, plan.stdio[0], 0), (os.POSIX_SPAWN_DUP2, plan.stdio[1], 1),
                      (os.POSIX_SPAWN_DUP2, plan.stdio[2], 2), (os.POSIX_SPAWN_DUP2, plan.done_w, 3)])


def _init(plan: _Plan, creator: int) -> None:
    """PID 1 of the check's namespace: start the program, reap whatever is orphaned to us, and
    when the program ends write its wait status to the done pipe and exit — the kernel then kills
    everything still in the namespace. Dies with `creator` (PR_SET_PDEATHSIG)."""
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if not _parent_is(creator):
            os._exit(SETUP_FAILED)  # it died before our death signal was set: so do we
        creator_dir = os.open(f"/proc/{creator}", os.O_RDONLY | os.O_DIRECTORY)  # unusable once it dies
        _libc.prctl(PR_SET_NAME, b"tb-sandbox-init", 0, 0, 0)
        os.setsid()  # no terminal signals from the scorer's session
        # An init gets no signal from inside its namespace that it has no handler for.
        for sig in signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD}:
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        if plan.uid is not None:
            _private_mounts(plan)
        os.chdir(plan.workdir)
        _close_fds_except({*plan.stdio, plan.done_w, creator_dir})  # the program inherits no other fd of ours
        if plan.uid is not None:
            # Drop root before the program's interpreter starts (Python starts up twice as fast
            # as a plain user here). A uid change makes us non-dumpable (the program cannot
            # ptrace us or read our memory) and clears the death signal: set both again.
            os.setgroups([])
            os.setgid(plan.uid)
            os.setuid(plan.uid)
            _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getuid() != plan.uid or os.geteuid() != plan.uid:
                os._exit(SETUP_FAILED)
            os.stat("stat", dir_fd=creator_dir)  # raises if it died while our death signal was unset
        os.close(creator_dir)
        program = _spawn_program(plan)
    except BaseException as exc:  # noqa: BLE001 - nothing may escape into the forked scorer code
        _fail(plan, "start", exc)
    try:
        _close_fds_except({plan.done_w})
        while True:
            pid, status = os.wait()
            if pid == program:
                os.write(plan.done_w, b"\n" + plan.secret + f"={status}".encode())
                break
    finally:
        os._exit(0)


def _child(plan: _Plan, in_pid_namespace: bool) -> None:
    """Runs in the forked child; never returns. Root: we are the namespace's init already.
    Otherwise: a user+PID+network namespace if the kernel allows it (then we stay outside as the
    init's parent), else the program replaces us."""
    try:
        if in_pid_namespace:
            _init(plan, plan.parent)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != plan.parent:
            os._exit(SETUP_FAILED)
        os.setsid()
        if USE_USER_NAMESPACES and _libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET) == 0:
            _libc.prctl(PR_SET_NAME, b"tb-sandbox", 0, 0, 0)
            me = os.getpid()
            try:
                init = os.fork()
            except OSError as exc:
                _fail(plan, "fork", exc)
            if init == 0:
                _init(plan, me)
            _close_fds_except({plan.done_w})
            os.waitpid(init, 0)
            os._exit(0)
        os.chdir(plan.workdir)
        for src, dst in zip((*plan.stdio, plan.done_w), (0, 1, 2, 3)):
            if src == dst:
                os.set_inheritable(dst, True)
            else:
                os.dup2(src, dst)
        _close_fds_except({3})
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        os.execve(plan.argv[0], plan.argv, plan.env)
    except BaseException as exc:  # noqa: BLE001
        _fail(plan, "start", exc)
    finally:
        os._exit(SETUP_FAILED)


_OWN_PID_NS = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC) if IS_ROOT else -1


def _fork(plan: _Plan, isolate: bool) -> int:
    """Fork the check's first process; as root, it is PID 1 of a new PID namespace: unshare
    (CLONE_NEWPID) applies to this thread's next child only, and setns puts the thread back."""
    if not isolate:
        pid = os.fork()
        if pid == 0:
            _child(plan, False)
        return pid
    _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    try:
        pid = os.fork()
        if pid == 0:
            _child(plan, True)
    finally:
        if _libc.setns(_OWN_PID_NS, CLONE_NEWPID) != 0:  # a thread left like this could not fork
            raise SystemExit(f"sandbox: setns back to our PID namespace failed: {os.strerror(ctypes.get_errno())}")
    return pid


# --- finding what a check left behind ----------------------------------------------------------------

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


def _sweep(uid: int | None, marker: str | None) -> bool:
    """Kill every live process of `uid` (or with `marker` in its environment); True when none is
    left. Only needed where no PID namespace ended them: see `_run_once`."""
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
    for _ in range(200):  # a fork bomb may spawn while we kill: repeat until none is left
        pids = _pids_where(match)
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    return False


# --- running checks ---------------------------------------------------------------------------------

def _read(path: Path, limit: int) -> str:
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    text = data[:limit].decode("utf-8", "replace")
    return text + ("\n[... output truncated]" if len(data) > limit else "")


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    data = b""
    while len(data) < 4096:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    return data


def _wait(pid: int, timeout: float) -> tuple[int, bool]:
    """Wait for our child `pid` at most `timeout` s, then SIGKILL it; its wait status and whether
    the deadline killed it."""
    fd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while not poller.poll(max(0, deadline - time.monotonic()) * 1000):
            if time.monotonic() >= deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)  # the program itself, where it is the child
                except (ProcessLookupError, PermissionError):
                    pass
                os.kill(pid, signal.SIGKILL)  # not reaped yet, so still ours
                return os.waitpid(pid, 0)[1], True
        return os.waitpid(pid, 0)[1], False
    finally:
        os.close(fd)


def _run_once(program: str, limits: Limits, isolate: bool, uid: int | None) -> tuple[Outcome, bool]:
    """One try; the outcome, and whether it should be retried (it could not start for lack of
    processes or memory on the machine)."""
    token, secret = secrets.token_hex(16), secrets.token_hex(16).encode()
    # Names the scorer, so tests (and people) can find the processes of one scorer's checks.
    marker = f"thinkbench-sandbox-{os.getpid()}-{token[:12]}"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="thinkbench-sandbox-") as host_dir:
        host = Path(host_dir)
        # As root the program's cwd is made inside its private /tmp; else a dir of our own.
        workdir = f"/tmp/sandbox-{token[:8]}" if isolate else str(host / "work")
        if not isolate:
            os.mkdir(workdir)
        body = (GUARD if not isolate else "") + program + (
            f"\n\nimport os as _tb_os\n_tb_os.write(3, b'{token}')\n")
        (host / "program").write_text(body)
        mb = 1024 * 1024
        argv = [PY_ISOLATED if isolate else sys.executable, "-I", "-c", BOOT, str(limits.cpu_s),
                str(limits.memory_mb * mb), str(limits.file_mb * mb), str(limits.open_files),
                str(limits.processes + 1), "-1"]  # + 1: the init, which runs as the uid too
        env = {"PATH": "/usr/bin:/bin", "THINKBENCH_SANDBOX": marker, "PYTHONHASHSEED": "0",
               "HOME": workdir, "LANG": "C.UTF-8"}
        done_r, done_w = os.pipe()
        try:
            with open(host / "program", "rb") as stdin, open(host / "stdout", "wb") as out, \
                    open(host / "stderr", "wb") as err:
                plan = _Plan(os.getpid(), uid, workdir, argv, env, (stdin.fileno(), out.fileno(), err.fileno()),
                             done_w, secret)
                try:
                    pid = _fork(plan, isolate)
                except OSError as exc:  # fork, or unshare(CLONE_NEWPID) as root
                    transient = exc.errno in (errno.EAGAIN, errno.ENOMEM)
                    return Outcome(False, f"sandbox could not start ({exc})", None, "", "", 0.0), transient
                finally:
                    os.close(done_w)
                status, timed_out = _wait(pid, limits.wall_s)
            report = _drain(done_r)
        finally:
            os.close(done_r)
        done = report.startswith(token.encode())
        ours = report.rpartition(b"\n" + secret)[2] if b"\n" + secret in report else b""
        if ours[:1] == b"=":
            # The init's report of the program's wait status. The init exited after it, and the
            # kernel killed what was left in the namespace before the init's parent could reap it.
            status = int(ours[1:])
        elif not (uid is not None and _sweep(uid, None) or uid is None and _sweep(None, marker)):
            # Killed at the deadline, or the fallback without namespaces: kill what is left.
            raise RuntimeError(f"sandbox: could not kill every process of check {marker}")
        code = os.waitstatus_to_exitcode(status)
        stdout, stderr = _read(host / "stdout", limits.output_chars), _read(host / "stderr", limits.output_chars)
    wall = time.perf_counter() - t0
    if ours[:1] == b"!":
        why = ours[1:].decode(errors="replace")
        return Outcome(False, f"sandbox setup failed ({why.partition(':')[2].strip()})", code, stdout, stderr,
                       wall), why.startswith("transient")
    if timed_out:
        reason = f"timed out after {limits.wall_s:g} s"
    elif code == 0 and done:
        reason = "passed"
    elif code == 0:
        reason = "exited before the tests finished (status 0)"
    elif code < 0:
        name = signal.Signals(-code).name
        hint = {"SIGXCPU": " (CPU limit)", "SIGXFSZ": " (file size limit)", "SIGKILL": " (killed)"}.get(name, "")
        reason = f"killed by {name}{hint}"
    elif code == SETUP_FAILED and not stderr.strip():
        reason = "sandbox setup failed (limits or uid switch)"
    else:
        last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
        reason = f"exit status {code}: {last[:300]}"
    return Outcome(reason == "passed", reason, code, stdout, stderr, wall), False


def run_program(program: str, limits: Limits = Limits(), *, isolate: bool | None = None) -> Outcome:
    """Run a Python program in the sandbox; it passes if it exits 0 after its last line."""
    isolate = IS_ROOT if isolate is None else isolate
    if isolate and not IS_ROOT:
        return Outcome(False, "sandbox setup failed (isolation needs root)", None, "", "", 0.0)
    lease = UidLease() if isolate else None
    clean = False
    try:
        for attempt in range(START_TRIES):
            outcome, retry = _run_once(program, limits, isolate, lease.uid if lease else None)
            if not retry:
                break
            time.sleep(min(0.05 * 2 ** attempt, 2.0))  # another check exhausted the machine: wait
        clean = True
        return outcome
    finally:
        if lease:
            lease.release(clean)


def run_many(programs: Sequence[str], limits: Limits = Limits(), workers: int | None = None) -> list[Outcome]:
    """Run programs in parallel sandboxes (threads wait; the work happens in the children)."""
    workers = workers or max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: run_program(p, limits), programs))


def run_checks(programs: Sequence[str], timeout_s: float, workers: int) -> list[Verdict]:
    """Verdicts of test programs run in parallel sandboxes with one time limit (wall and CPU)."""
    outcomes = run_many(programs, Limits(wall_s=timeout_s, cpu_s=max(1, int(timeout_s))), workers)
    return [Verdict(o.passed, o.reason) for o in outcomes]
