"""deploy/setup.sh's package step, with sudo, dpkg-query, apt-get and id stubbed on PATH: apt-get
must see DEBIAN_FRONTEND=noninteractive both through sudo (which resets the environment, as
the stub does) and run as root without sudo.

Run by CTest (tests/deploy/CMakeLists.txt): python3 tests/deploy/setup_test.py
Only the standard library is used; nothing is installed (the stub apt-get stops the script).
"""

import os
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STUBS = {
    # Every package is missing.
    "dpkg-query": "#!/bin/sh\nexit 1\n",
    # sudo's env_reset: the command runs with only a fixed PATH.
    "sudo": '#!/bin/sh\necho sudo >> "$LOG"\nexec env -i PATH="$PATH" LOG="$LOG" "$@"\n',
    # Records what install saw, then fails so that set -e ends the script there.
    "apt-get": '#!/bin/sh\n[ "$1" = update ] && exit 0\n'
               'echo "apt-get DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-unset}" >> "$LOG"\nexit 3\n',
}


def id_stub(uid):
    return f'#!/bin/sh\n[ "$1" = -u ] && echo {uid} && exit 0\nexec /usr/bin/id "$@"\n'


def write_stubs(bin_dir, stubs):
    for name, text in stubs.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


class SetupPackages(unittest.TestCase):
    def run_setup(self, uid):
        with tempfile.TemporaryDirectory() as d:
            bin_dir = Path(d) / "bin"
            bin_dir.mkdir()
            write_stubs(bin_dir, dict(STUBS, id=id_stub(uid)))
            log = Path(d) / "log"
            env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "LOG": str(log)}
            run = subprocess.run(["bash", str(ROOT / "deploy" / "setup.sh")], env=env, capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(run.returncode, 3, run.stderr)  # the stub apt-get's install
            return log.read_text().split("\n")

    def test_through_sudo(self):
        self.assertEqual(self.run_setup(1000)[:3], ["sudo", "sudo", "apt-get DEBIAN_FRONTEND=noninteractive"])

    def test_as_root(self):
        self.assertEqual(self.run_setup(0)[:1], ["apt-get DEBIAN_FRONTEND=noninteractive"])


class SetupNode(unittest.TestCase):
    """With a Node.js older than 20 (Debian 12's 18), setup.sh --test installs Node.js 20 from the
    npm registry's binary package, through sudo, into /usr/local."""

    def test_an_older_node_is_replaced_from_the_npm_registry(self):
        arch = {"x86_64": "x64", "aarch64": "arm64"}.get(os.uname().machine)
        if arch is None:
            raise unittest.SkipTest("no Node.js package for this machine")
        with tempfile.TemporaryDirectory() as d:
            bin_dir = Path(d) / "bin"
            bin_dir.mkdir()
            write_stubs(bin_dir, {
                "dpkg-query": '#!/bin/sh\necho "install ok installed"\n',  # every package is there
                "id": id_stub(1000),
                "sudo": STUBS["sudo"],
                "node": "#!/bin/sh\necho 18\n",  # node -p 'process.versions.node...'
                "npm": '#!/bin/sh\necho "npm $*" >> "$LOG"\nexit 3\n',
            })
            log = Path(d) / "log"
            env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "LOG": str(log)}
            run = subprocess.run(["bash", str(ROOT / "deploy" / "setup.sh"), "--test"], env=env, capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(run.returncode, 3, run.stderr)  # the stub npm
            self.assertEqual(log.read_text().split("\n")[:2], [
                "sudo", f"npm install -g --prefix /usr/local --no-audit --no-fund node-linux-{arch}@20.19.6"])


if __name__ == "__main__":
    unittest.main()
