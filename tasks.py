#!/usr/bin/env python3
"""Set up and run Infusion Monitor with nothing but Python 3.11+.

    python3 tasks.py run  [--] [app options] create .venv if needed, check the system libraries the window
                                            needs (printing the apt command for any missing), open the window
                                            (simulated monitor); `python3 tasks.py run -- --help` lists options
    python3 tasks.py test [pytest options]  create .venv if needed, run the whole test suite headless on two
                                            workers (-n 0: one test after another)
                                            (as root, installs Debian's postgresql for the TLS tests if missing)
    python3 tasks.py bench [--only NAME ...] performance benchmarks: a table of medians against their targets
    python3 tasks.py faults [pytest options] fault injection: kill -9, disk full, unplugged and noisy devices
    python3 tasks.py signals [pytest options] noisy and late signals in real time, judged by the clinical rules
    python3 tasks.py fuzz [pytest options]   every decoder and importer of outside input under hypothesis
                                            (at least 10,000 examples per target)
    python3 tasks.py soak [pytest options]   every simulator scenario as one 90-minute session, window open

The virtual environment is rebuilt only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _say(text: str) -> None:
    print(f"tasks.py: {text}", flush=True)


def ensure_environment(extras: tuple[str, ...] = ("dev",)) -> None:
    """Create the virtual environment and install the app with its test tools (and ``extras``) when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs under whatever python3 the user has
        sys.exit(f"Infusion Monitor needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    # The stamp holds the pyproject hash and, on a second line, the extras installed with it.
    stamp = STAMP.read_text().split("\n") if STAMP.exists() else []
    installed = set(stamp[1].split(",")) - {""} if len(stamp) > 1 else {"dev"}
    if PYTHON.exists() and stamp and stamp[0].strip() == wanted and set(extras) <= installed:
        return
    if not PYTHON.exists():
        _say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    everything = sorted(installed | set(extras))
    _say(f"installing Infusion Monitor with {', '.join(everything)} tools (first run takes a minute)")
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[{','.join(everything)}]"], check=True)
    STAMP.write_text(wanted + "\n" + ",".join(everything) + "\n")


# Shared libraries Qt's window system (xcb) and sound (PulseAudio) load at run time, and the Debian/Ubuntu
# package of each. Qt names only the last one it missed; this list lets `run` name them all at once.
SYSTEM_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libpulse.so.0": "libpulse0",
}
#: Needed for alarm sound, not to open the window: missing, the window says NO SOUND.
SOUND_LIBRARIES = ("libpulse.so.0",)


def package_of(soname: str) -> str:
    """The Debian package that ships a shared library (by the usual naming rule when not in the table)."""
    if soname in SYSTEM_PACKAGES:
        return SYSTEM_PACKAGES[soname]
    stem, _, version = soname.partition(".so.")
    version = version.split(".")[0]
    return (stem + ("-" if stem[-1:].isdigit() else "") + version).lower()


def missing_from_ldd(ldd_output: str) -> list[str]:
    """Library names ldd reports as "not found", in order, once each."""
    names: list[str] = []
    for line in ldd_output.splitlines():
        if "=> not found" in line:
            name = line.split("=>")[0].strip()
            if name not in names:
                names.append(name)
    return names


def install_command(sonames: list[str]) -> str:
    """The one command that installs every library named."""
    packages = sorted({package_of(n) for n in sonames})
    return "sudo apt-get update && sudo apt-get install -y " + " ".join(packages)


def missing_system_libraries(platform: str | None = None) -> list[str]:
    """Shared libraries the window (Qt xcb, unless ``platform`` or QT_QPA_PLATFORM names another) and its alarm
    sound need and this machine lacks (Linux only)."""
    if not sys.platform.startswith("linux"):
        return []
    platform = platform or os.environ.get("QT_QPA_PLATFORM", "xcb")
    probe = (
        "import os, PySide6; d = os.path.dirname(PySide6.__file__); "
        "print(os.path.join(d, 'Qt', 'plugins', 'platforms', 'libqxcb.so')); "
        "print(os.path.join(d, 'Qt', 'lib', 'libQt6XcbQpa.so.6'))"
    )
    found = subprocess.run([str(PYTHON), "-c", probe], capture_output=True, text=True, check=False)
    missing: list[str] = []
    if platform.startswith("xcb"):
        for library in found.stdout.split():
            if Path(library).exists():
                ldd = subprocess.run(["ldd", library], capture_output=True, text=True, check=False)
                missing += [n for n in missing_from_ldd(ldd.stdout) if n not in missing]
    missing += missing_libraries(SOUND_LIBRARIES)
    return missing


def missing_libraries(sonames: tuple[str, ...]) -> list[str]:
    """Those of ``sonames`` the dynamic loader cannot find."""
    import ctypes.util

    return [n for n in sonames if ctypes.util.find_library(n.removeprefix("lib").split(".so")[0]) is None]


NODE_TOOLS = ROOT / "tests" / "node"


def ensure_node_tools() -> None:
    """Install the npm packages some tests use as independent implementations (tests/node, from its lock file).

    Without node and npm, or when the install fails, those tests skip and say why.
    """
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        _say("node/npm not found: tests against independent Node implementations will be skipped")
        return
    wanted = hashlib.sha256((NODE_TOOLS / "package-lock.json").read_bytes()).hexdigest()
    stamp = NODE_TOOLS / "node_modules" / ".installed"
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    _say("installing the npm packages the tests use (tests/node)")
    code = subprocess.call([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_TOOLS)
    if code == 0:
        stamp.write_text(wanted + "\n")
    else:
        _say("npm ci failed: tests against independent Node implementations will be skipped")


#: The TLS tests read the PostgreSQL folder from here; set by ``test`` once such a server is installed.
TLS_POSTGRES_ENV = "INFUSION_MONITOR_TLS_POSTGRES"
#: The distribution's PostgreSQL server (Debian's is built with OpenSSL; pgserver's binaries are not).
TLS_POSTGRES_PACKAGE = "postgresql"


def system_postgres(root: Path = Path("/usr/lib/postgresql")) -> Path | None:
    """The newest distribution PostgreSQL server's program folder (Debian/Ubuntu: /usr/lib/postgresql/N/bin)."""
    found = [
        (int(folder.parent.name), folder)
        for folder in root.glob("*/bin")
        if folder.parent.name.isdigit() and (folder / "postgres").exists() and (folder / "initdb").exists()
    ]
    return max(found)[1] if found else None


def ensure_tls_postgres(root: Path = Path("/usr/lib/postgresql")) -> Path | None:
    """Make sure a PostgreSQL server built with OpenSSL is installed for the TLS tests; returns its folder.

    Installs Debian's ``postgresql`` with apt-get when missing (as root). Where that is impossible the
    TLS tests skip and say why; under CI (``CI`` set) a failed install stops the run instead, so the
    tests cannot be skipped unnoticed.
    """
    found = system_postgres(root)
    if found is not None:
        return found
    reason = apt_install([TLS_POSTGRES_PACKAGE], "the distribution's PostgreSQL server for the TLS tests")
    found = system_postgres(root)
    if found is None:
        _not_installed(f"no PostgreSQL server with TLS found ({reason or 'not installed'})", "the TLS tests")
        return None
    return found


def apt_install(packages: list[str], what: str) -> str | None:
    """Install Debian packages with apt-get (Linux, as root); None when apt-get installed them, else why not."""
    apt = shutil.which("apt-get")
    if not sys.platform.startswith("linux") or apt is None or os.geteuid() != 0:
        return f"installing needs apt-get as root: `sudo apt-get install {' '.join(packages)}`"
    _say(f"installing {what} (apt-get install {' '.join(packages)})")
    started = time.monotonic()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    updated = subprocess.run([apt, "update", "-qq"], stdout=subprocess.DEVNULL, env=env, check=False)
    installed = subprocess.run([apt, "install", "-y", "-qq", "--no-install-recommends", *packages],
                               stdout=subprocess.DEVNULL, env=env, check=False)
    if installed.returncode != 0:
        return f"apt-get update exited {updated.returncode}, apt-get install exited {installed.returncode}"
    _say(f"installed in {time.monotonic() - started:.1f} s")
    return None


def _not_installed(said: str, tests: str) -> None:
    """Under CI a missing requirement stops the run (tests skipped unnoticed prove nothing); elsewhere those tests
    skip, saying why."""
    if os.environ.get("CI"):
        sys.exit(f"tasks.py: {said}: {tests} cannot run")
    _say(f"{said}: {tests} will be skipped")


def ensure_sound_library() -> None:
    """The alarm-sound tests open a real audio output (QtMultimedia), which loads PulseAudio's client library:
    installed with apt-get when missing (as root)."""
    missing = missing_libraries(SOUND_LIBRARIES)
    if not missing:
        return
    reason = apt_install(sorted({package_of(n) for n in missing}), "the sound library the alarm-sound tests load")
    still = missing_libraries(SOUND_LIBRARIES)
    if still:
        _not_installed(f"{', '.join(still)} not found ({reason or 'not installed'})", "the alarm-sound tests")


#: What the fault test of a window destroyed from outside needs: a real X server and a tool that acts on its
#: windows (the offscreen platform has no window to destroy).
X_PROGRAMS: dict[str, str] = {"Xvfb": "xvfb", "xdotool": "xdotool"}


def ensure_x_server() -> None:
    """Install Xvfb, xdotool and the libraries Qt's xcb platform loads, with apt-get when missing (as root)."""
    missing = [n for n in missing_system_libraries("xcb") if n not in SOUND_LIBRARIES]
    packages = sorted({package_of(n) for n in missing} | {p for n, p in X_PROGRAMS.items() if not shutil.which(n)})
    if not packages:
        return
    reason = apt_install(packages, "an X server for the window's fault tests")
    still = [n for n in X_PROGRAMS if not shutil.which(n)] + [
        n for n in missing_system_libraries("xcb") if n not in SOUND_LIBRARIES]
    if still:
        _not_installed(f"{', '.join(still)} not found ({reason or 'not installed'})", "the window's fault tests")


def run(args: list[str]) -> int:
    """Open the window with the simulated monitor (options pass through, also after `--`)."""
    ensure_environment()
    if args[:1] == ["--"]:
        args = args[1:]
    missing = missing_system_libraries()
    if missing and apt_install(sorted({package_of(n) for n in missing}),
                               "the system libraries the window and its alarm sound need") is None:
        missing = missing_system_libraries()  # as root: installed, as for the tests
    window_missing = [n for n in missing if n not in SOUND_LIBRARIES]
    if missing:
        what = "the window cannot open" if window_missing else "alarm sounds cannot play (the window says NO SOUND)"
        _say(f"missing system libraries: {', '.join(missing)} — {what}. Install them with:\n\n"
             f"    {install_command(missing)}\n")
        if window_missing:
            return 1
    if not any(a == "--driver" or a.startswith("--driver=") for a in args):
        args = ["--driver", "simulated", *args]
    return subprocess.call([str(PYTHON), "-m", "monitor.cli", "gui", *args], cwd=ROOT)


#: Workers for the unit tests. Many of them wait on real time (windows, ptys, child processes), so more workers
#: than cores keep two cores busier: three took 287 s against 398 s for two (1,800 tests, at 126 % of one core);
#: four took 476 s against 540 s for three (2,688 tests, on a quiet machine), all passing.
TEST_WORKERS = 4


def _workers(args: list[str], count: int) -> list[str]:
    """pytest-xdist's option for ``count`` workers, unless ``args`` names its own (``-n 0``: one after another)."""
    return [] if any(a == "-n" or a.startswith("-n") for a in args) else ["-n", str(count)]


def test(args: list[str]) -> int:
    """Run every test headless, then check the import contract (only ui/ imports Qt)."""
    ensure_environment()
    ensure_node_tools()
    ensure_sound_library()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    tls_postgres = ensure_tls_postgres()
    if tls_postgres is not None:
        env[TLS_POSTGRES_ENV] = str(tls_postgres)
    code = subprocess.call([str(PYTHON), "-m", "pytest", *_workers(args, TEST_WORKERS), *args], cwd=ROOT, env=env)
    if code != 0:
        return code
    return subprocess.call([str(BIN / "lint-imports")], cwd=ROOT, env=env)


def _suite(folder: str, extra: list[str], args: list[str]) -> int:
    """Run one of the suites kept out of the unit tests (see ``addopts`` in pyproject.toml)."""
    ensure_environment()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    # The unit-test run ignores these folders; naming one on the command line collects it.
    command = [str(PYTHON), "-m", "pytest", folder, *extra, *args]
    return subprocess.call(command, cwd=ROOT, env=env)


#: Workers for the fault-injection suite. Its tests mostly wait on real time, not on the processor (162 s of
#: processor time in a 227 s run on six workers, with other work on the machine): six workers, 227 s against 300 s
#: with four, 333 s with three and 400 s with two; eight, 186 s against 218 s with six (81 tests, 2026-12-07), the
#: longest file (serial faults, 154 s) now nearly the whole run.
FAULT_WORKERS = 8


def faults(args: list[str]) -> int:
    """Fault injection: kill -9 during recording, disk full, unplugged and misbehaving devices.

    Files run side by side on eight workers (a file's tests stay on one, with its server or devices), the longest
    files first (tests/faults/conftest.py); ``-n 0`` runs them one after another.
    """
    workers = _workers(args, FAULT_WORKERS)
    ensure_x_server()
    return _suite("tests/faults", [*workers, "--dist", "loadfile", "--no-loadscope-reorder"] if workers else [], args)


#: Workers for the signal suite: each test plays a device in real time (a value a second for up to 90 s), so
#: they wait far more than they compute (68 s of processor time in all). One worker per test: 114 s for the 19 tests,
#: against 148 s on ten workers (the longest test alone takes 95 s).
SIGNAL_WORKERS = 20


def signals(args: list[str]) -> int:
    """Noisy, flickering, drifting and late signals through the real listener and serial path in real time,
    the alarms judged against an oracle written from the clinical rules."""
    return _suite("tests/signals", _workers(args, SIGNAL_WORKERS), args)


def fuzz(args: list[str]) -> int:
    """Decoders and importers of outside input under hypothesis, 10,000 examples per target."""
    return _suite("tests/fuzz", ["--hypothesis-profile=fuzz", "--hypothesis-show-statistics"], args)


def soak(args: list[str]) -> int:
    """Every simulator scenario back to back as one 90-minute session with the live window open."""
    return _suite("tests/soak", [], args)


def bench(args: list[str]) -> int:
    """Performance benchmarks (not unit tests): prints medians against their targets."""
    ensure_environment(("dev", "bench"))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.call([str(PYTHON), "-m", "benchmarks.run", *args], cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    """Dispatch a command."""
    commands = {"run": run, "test": test, "bench": bench, "faults": faults, "signals": signals, "fuzz": fuzz,
                "soak": soak}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
