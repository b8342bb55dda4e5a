"""A Debian system for testing systemd/install.sh: Bookworm (or Trixie) booted under systemd-nspawn, or an arm64 chroot.

    sudo python3 tests/system/debian.py image [--arch arm64] [--suite trixie]   build (or reuse) the root filesystem
    sudo python3 tests/system/debian.py shell [--suite trixie]   boot it, this checkout read-only at /src, a shell
    sudo python3 tests/system/debian.py install [--suite trixie] boot it and run systemd/install.sh --simulate

The root filesystem is debootstrapped once from the host's Debian mirror and
kept as a tarball under /var/cache/station-test (``$STATION_TEST_CACHE``),
named by a hash of the suite, architecture, mirror and package list: the
base system plus install.sh's own APT_PACKAGES, so the installer's
`apt-get install` finds them there. Each use unpacks a fresh copy into a
temporary directory and deletes it afterwards.

Inside, pip must reach the package registry as the host does: the host's
pip configuration files, its PIP_* variables and its extra CA certificates
(/usr/local/share/ca-certificates) are copied in.

Standard library only; needs root, debootstrap and systemd-nspawn
(apt-get install debootstrap systemd-container), and for arm64
qemu-user-static with binfmt_misc. ``why_not()`` says in one line what is
missing. tests/technician/test_booted_install.py drives it.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL_SH = REPO / "systemd" / "install.sh"
SUITE = "bookworm"  # Raspberry Pi OS Bookworm's base; "trixie" is Raspberry Pi OS Trixie's
CACHE_DIR = Path(os.environ.get("STATION_TEST_CACHE", "/var/cache/station-test"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"
#: what a booted system needs beyond debootstrap's minbase (install.sh's own packages are added)
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "ca-certificates", "procps", "python3")
#: inside the container: a clean environment, not the host's (its PATH may name a pyenv shim)
CONTAINER_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
PIP_CONFIG_FILES = ("/etc/pip.conf", "/etc/xdg/pip", "/root/.config/pip", "/root/.pip")
EXTRA_CA_DIR = "/usr/local/share/ca-certificates"
BOOT_TIMEOUT_S = 120


class Unavailable(Exception):
    """This machine cannot build or boot the test system (the message says why)."""

#: the environment variable that adds the Trixie and arm64 installs to a run
ALL_SYSTEM_TESTS_ENV = "STATION_ALL_SYSTEM_TESTS"
#: why they are left out by default: .ci/run must stay within minutes on a 2-core machine, and
#: these two cost 80 s (Trixie) and 400 s (arm64 under qemu-user) even with their images cached,
#: and 6 and 18 minutes to build those images the first time
ONLY_BOOKWORM = (f"the Trixie and arm64 installs run only with {ALL_SYSTEM_TESTS_ENV}=1 "
                 "(minutes each under emulation; the booted Bookworm test always runs)")


def all_system_tests() -> bool:
    """True when the slow system tests (Trixie, arm64) were asked for."""
    return os.environ.get(ALL_SYSTEM_TESTS_ENV) == "1"



def dpkg_arch() -> str:
    """The host's Debian architecture name (amd64, arm64...)."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def host_mirror() -> str:
    """The Debian mirror the host's apt uses (debootstrap must reach the same one)."""
    texts = []
    for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if p.suffix in (".list", ".sources") and p.is_file():
            texts.append(p.read_text(errors="replace"))
    return debian_mirror(texts)


def debian_mirror(texts: Sequence[str]) -> str:
    """The first Debian archive (…/debian, not …/debian-security) in apt source files' ``texts``."""
    for text in texts:
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            # one-line format ("deb URI suite ...") or deb822 ("URIs: URI")
            m = re.match(r"\s*(?:deb(?:\s+\[[^]]*\])?|URIs:)\s+(\S+)", line)
            if m and re.search(r"/debian/?$", m.group(1)):
                return m.group(1).rstrip("/")
    return DEFAULT_MIRROR


def installer_packages() -> list[str]:
    """install.sh's APT_PACKAGES, read from the script (sourcing it runs nothing)."""
    out = subprocess.run(["bash", "-c", 'source "$1"; printf "%s\\n" "${APT_PACKAGES[@]}"', "-", str(INSTALL_SH)],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def packages() -> list[str]:
    """Everything the image holds beyond minbase."""
    return sorted(set(BASE_PACKAGES) | set(installer_packages()))


def image_path(arch: str, suite: str = SUITE) -> Path:
    """The cached tarball for ``arch`` and ``suite``; its name changes when anything it is built from does."""
    key = "\n".join([suite, arch, host_mirror(), *packages()])
    return CACHE_DIR / f"{suite}-{arch}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.tar"


def why_not(arch: str | None = None, *, boot: bool = True) -> str | None:
    """Why this machine cannot run the test system, or None when it can."""
    arch = arch or dpkg_arch()
    if os.geteuid() != 0:
        return "needs root (debootstrap, systemd-nspawn)"
    for tool, pkg in (("debootstrap", "debootstrap"), ("systemd-nspawn", "systemd-container"),
                      ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {pkg})"
    if arch != dpkg_arch():
        qemu = {"arm64": "qemu-aarch64"}.get(arch, f"qemu-{arch}")
        if shutil.which(f"{qemu}-static") is None:
            return f"{qemu}-static is not installed (apt-get install qemu-user-static binfmt-support)"
        binfmt = Path("/proc/sys/fs/binfmt_misc")
        if not (binfmt / "status").exists():
            return "binfmt_misc is not mounted (mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)"
        entry = binfmt / qemu
        if not entry.exists() or "enabled" not in entry.read_text() or "F" not in _binfmt_flags(entry):
            return f"no binfmt_misc entry for {qemu} with the F flag (update-binfmts --enable {qemu})"
    if boot and not Path("/sys/fs/cgroup").is_dir():
        return "no /sys/fs/cgroup: systemd cannot boot in a container here"
    return None


def _binfmt_flags(entry: Path) -> str:
    for line in entry.read_text().splitlines():
        if line.startswith("flags:"):
            return line.split(":", 1)[1].strip()
    return ""


def _log(msg: str) -> None:
    print(f"[debian] {msg}", file=sys.stderr, flush=True)


def ensure_image(arch: str | None = None, suite: str = SUITE) -> Path:
    """The cached root filesystem tarball for ``arch``, debootstrapped first if it is not there."""
    arch = arch or dpkg_arch()
    tar = image_path(arch, suite)
    if tar.exists():
        return tar
    reason = why_not(arch, boot=False)
    if reason:
        raise Unavailable(reason)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with scratch_dir(f"station-{suite}-{arch}-", CACHE_DIR) as tmp:
        root = tmp / "root"
        cmd = ["debootstrap", "--variant=minbase", f"--arch={arch}", f"--include={','.join(packages())}",
               suite, str(root), host_mirror()]
        _log(f"building {tar.name}: {' '.join(cmd)}")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            log = root / "debootstrap" / "debootstrap.log"
            detail = log.read_text(errors="replace")[-3000:] if log.exists() else r.stdout[-3000:]
            # a failure, not a skip: a package name gone wrong in install.sh must not hide as "unavailable"
            raise RuntimeError(f"debootstrap failed ({r.returncode}): {r.stderr.strip()[-500:]}\n{detail}")
        # the package lists, so that install.sh's own `apt-get update` has little to fetch
        subprocess.run(["chroot", str(root), "apt-get", "update", "-qq"], env=CONTAINER_ENV, check=True)
        subprocess.run(["chroot", str(root), "apt-get", "clean"], env=CONTAINER_ENV, check=True)
        (root / "etc" / "hostname").write_text("station-test\n")
        part = tmp / "image.tar"  # beside the cache: the rename is atomic, a parallel build cannot clobber it
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(part), "."], check=True)
        part.replace(tar)
    _log(f"built {tar} in {time.monotonic() - t0:.0f} s")
    for old in CACHE_DIR.glob(f"{suite}-{arch}-*.tar"):  # built from an older package list
        if old != tar:
            old.unlink(missing_ok=True)
    return tar


@contextmanager
def unpacked(arch: str | None = None, suite: str = SUITE) -> Iterator[Path]:
    """A fresh copy of the root filesystem, with the host's pip configuration and CA certificates."""
    tar = ensure_image(arch, suite)
    with scratch_dir("station-root-", Path("/var/tmp")) as root:
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-xf", str(tar)], check=True)
        copy_host_pip_setup(root)
        yield root


@contextmanager
def scratch_dir(prefix: str, parent: Path) -> Iterator[Path]:
    """A new directory, deleted afterwards, but never through a mount still there (a bound
    /dev or checkout would be deleted with it): then it stays, and the error says where."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        left = mounts_under(path)
        if left:
            raise RuntimeError(f"not deleting {path}: still mounted there: {left}")
        shutil.rmtree(path)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` in this mount namespace."""
    prefix = str(root.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def copy_host_pip_setup(root: Path) -> None:
    """The host's pip configuration files and extra CA certificates, at the same paths inside ``root``."""
    for name in (*PIP_CONFIG_FILES, EXTRA_CA_DIR):
        src = Path(name)
        if not src.exists():
            continue
        dst = root / name.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)


def local_pip_sources() -> list[str]:
    """Directories on the host that its pip configuration names (find-links, a file:// index):
    bound read-only into the container so that pip there sees what it sees here."""
    texts = [v for k, v in os.environ.items() if k.startswith("PIP_")]
    for name in PIP_CONFIG_FILES:
        p = Path(name)
        files = sorted(p.rglob("*.conf")) if p.is_dir() else [p] if p.is_file() else []
        texts += [f.read_text(errors="replace") for f in files]
    found = set()
    for text in texts:
        for word in re.split(r"[\s=]+", text):
            path = word[len("file://"):] if word.startswith("file://") else word
            # an index URL names .../simple: bind its parent, where the files it links to lie
            if path.startswith("/") and Path(path).is_dir() and not path.startswith(("/etc", "/root")):
                found.add(str(Path(path).parent) if Path(path).name == "simple" else path.rstrip("/"))
    return sorted(found)


def host_pip_env() -> dict[str, str]:
    """The host's PIP_* variables (index, certificate, timeout...)."""
    return {k: v for k, v in os.environ.items() if k.startswith("PIP_")}


class Booted:
    """A root filesystem booted with systemd under systemd-nspawn; commands run in it with nsenter."""

    def __init__(self, root: Path, *, binds_ro: Sequence[tuple[str, str]] = (), log: Path | None = None) -> None:
        self.root = root
        self.binds_ro = binds_ro
        self.log_path = log or root / "nspawn-console.log"  # deleted with the root
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None  # the container's systemd, as the host sees it

    def __enter__(self) -> Booted:
        Path("/run/systemd/nspawn").mkdir(parents=True, exist_ok=True)
        cmd = ["systemd-nspawn", "--quiet", "-D", str(self.root), "--register=no", "--keep-unit", "-b",
               "--machine=station-test", "--console=pipe"]
        cmd += [f"--bind-ro={src}:{dst}" for src, dst in self.binds_ro]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.pid = self._find_init()
            # systemctl needs the manager's socket, which comes up a moment after PID 1 starts
            self._until(lambda: Path(f"/proc/{self.pid}/root/run/systemd/private").exists(), "systemd's socket")
            # blocks until boot is done ("running", or "degraded" when some unit failed)
            r = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=BOOT_TIMEOUT_S)
            if r.stdout.strip() not in ("running", "degraded"):
                raise Unavailable(f"the container did not finish booting ({r.stdout.strip()!r}); "
                                  f"console: {self.console()[-1500:]}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _find_init(self) -> int:
        """The container's PID 1 as a host PID: nspawn's child running systemd."""
        assert self.proc is not None
        found: list[int] = []

        def systemd_child() -> bool:
            for child in _children(self.proc.pid):
                try:
                    comm = Path(f"/proc/{child}/comm").read_text().strip()
                    own_pid_ns = os.readlink(f"/proc/{child}/ns/pid") != os.readlink("/proc/self/ns/pid")
                except OSError:
                    continue
                # nspawn's inner child becomes "systemd" when it executes the container's init
                if comm == "systemd" and own_pid_ns:
                    found.append(child)
                    return True
            return False

        self._until(systemd_child, "systemd to start in the container")
        return found[0]

    def _until(self, ready, what: str) -> None:
        """Return once ``ready()``; fail if nspawn exits or BOOT_TIMEOUT_S passes first."""
        assert self.proc is not None
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not ready():
            if self.proc.poll() is not None:
                raise Unavailable(f"systemd-nspawn exited ({self.proc.returncode}) before {what}: "
                                  f"{self.console()[-1500:]}")
            if time.monotonic() > deadline:
                raise Unavailable(f"no {what} after {BOOT_TIMEOUT_S} s: {self.console()[-1500:]}")
            try:  # nothing to block on but nspawn itself: returns at once should it exit
                self.proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass

    def console(self) -> str:
        """What the container printed on its console so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def run(self, cmd: Sequence[str], *, check: bool = True, timeout: float = 600, user: str | None = None,
            env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside the container (as ``user``, with its groups, when given)."""
        assert self.pid is not None
        full_env = {**CONTAINER_ENV, **(env or {})}
        inner = list(cmd)
        if user:
            inner = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *inner]
        argv = ["nsenter", "-t", str(self.pid), "-a", "env", "-i", *(f"{k}={v}" for k, v in full_env.items()),
                *inner]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM to nspawn: it asks the container's systemd to power off
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


@contextmanager
def booted_with_checkout(arch: str | None = None, suite: str = SUITE) -> Iterator[Booted]:
    """A fresh system booted, this checkout read-only at /src, pip set up as on the host."""
    binds = [(str(REPO), "/src"), *((d, d) for d in local_pip_sources())]
    with unpacked(arch, suite) as root, Booted(root, binds_ro=binds) as box:
        box.run(["update-ca-certificates"])
        yield box


def run_installer(box: Booted | Chroot, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """/src/systemd/install.sh ``args`` inside, with the host's PIP_* variables; never raises on failure."""
    return box.run(["/src/systemd/install.sh", *args], check=False, env={**host_pip_env(), **(env or {})})


class Chroot:
    """A root filesystem entered with chroot, no systemd running (an arm64 one runs under qemu-user).

    /proc, /sys and /dev are mounted in it, and ``binds_ro`` (host path, path inside) bound
    read-only, until the ``with`` block ends.
    """

    def __init__(self, root: Path, *, binds_ro: Sequence[tuple[str, str]] = ()) -> None:
        self.root = root
        self.binds_ro = binds_ro
        self._mounted: list[Path] = []

    def __enter__(self) -> Chroot:
        try:
            self._mount(["-t", "proc", "proc"], "proc")
            self._mount(["-t", "sysfs", "sysfs"], "sys")
            self._mount(["--rbind", "/dev"], "dev")
            for src, dst in self.binds_ro:
                self._mount(["--bind", "-o", "ro", src], dst)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _mount(self, what: list[str], where: str) -> None:
        target = self.root / where.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *what, str(target)], check=True)
        self._mounted.append(target)

    def run(self, cmd: Sequence[str], *, check: bool = True, timeout: float = 1800,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside (as root)."""
        r = subprocess.run(["chroot", str(self.root), *cmd], env={**CONTAINER_ENV, **(env or {})},
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return r

    def __exit__(self, *exc) -> None:
        for target in reversed(self._mounted):
            subprocess.run(["umount", "--recursive", "--lazy", str(target)], check=False)
        self._mounted.clear()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["image", "shell", "install"])
    ap.add_argument("--arch", default=dpkg_arch())
    ap.add_argument("--suite", default=SUITE, choices=["bookworm", "trixie"])
    args = ap.parse_args(argv)
    reason = why_not(args.arch, boot=args.action != "image")
    if reason:
        print(f"debian: {reason}", file=sys.stderr)
        return 2
    if args.action == "image":
        print(ensure_image(args.arch, args.suite))
        return 0
    with booted_with_checkout(args.arch, args.suite) as box:
        if args.action == "install":
            r = run_installer(box, "--simulate")
            print(r.stdout + r.stderr)
            return r.returncode
        return subprocess.call(["nsenter", "-t", str(box.pid), "-a", "env", "-i",
                                *(f"{k}={v}" for k, v in {**CONTAINER_ENV, **host_pip_env(),
                                                          "TERM": os.environ.get("TERM", "linux")}.items()),
                                "bash", "-l"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
