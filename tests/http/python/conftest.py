"""Starts the real daemon with the mock provider and an HTTP front on a free port."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from upstream_daemon import await_logged_address  # noqa: E402

BIN = os.environ.get("OUTRIGGER_BIN", "")
PLUGINS = os.environ.get("OUTRIGGER_PLUGIN_DIR", "")

CONFIG = """
[server]
socket = "{dir}/o.sock"
workers = 2
drain_grace_ms = 2000
[http]
listen = "127.0.0.1:0"
abort_check_ms = 50
{http_extra}
[admin]
listen = "127.0.0.1:0"
[plugins]
dirs = ["{plugins}"]
[instances.mock]
type = "provider.mock"
[instances.mock.config]
mode = "echo"
allow_request_overrides = true
[instances.input_rules]
type = "guardrail.rules"
[instances.input_rules.config]
deny_patterns = ['(?i)forbidden phrase']
[routes.default]
guardrails = ["input_rules"]
provider = "mock"
[routes.other]
provider = "mock"
"""


class Daemon:
    def __init__(self, http_extra=""):
        if not BIN or not PLUGINS:
            pytest.skip("OUTRIGGER_BIN and OUTRIGGER_PLUGIN_DIR are needed")
        self.dir = tempfile.mkdtemp(prefix="outrigger-http-")
        path = os.path.join(self.dir, "o.toml")
        with open(path, "w") as f:
            f.write(CONFIG.format(dir=self.dir, plugins=PLUGINS, http_extra=http_extra))
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "serve", "--config", path], stdout=self.log, stderr=subprocess.STDOUT)
        self.http = self._await_address(r"API listening on (\S+)")
        self.admin = self._await_address(r"admin endpoints listening on (\S+)")
        self.base_url = "http://%s/v1" % self.http

    def _await_address(self, pattern):
        return await_logged_address(self.proc, self.log_path, pattern)

    def metrics(self):
        if self.proc.poll() is not None:
            raise RuntimeError("daemon exited with %s:\n%s" % (self.proc.returncode, open(self.log_path).read()))
        with urllib.request.urlopen("http://%s/metrics" % self.admin, timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """Sum of every series of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("#") or not (line.startswith(name + " ") or line.startswith(name + "{")):
                continue
            head, value = line.rsplit(" ", 1)
            if all('%s="%s"' % (k, v) in head for k, v in labels.items()):
                total += float(value)
        return total

    def wait_metric(self, name, want, timeout=5.0, **labels):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.metric(name, **labels) == want:
                return True
            time.sleep(0.02)
        return self.metric(name, **labels) == want

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon():
    d = Daemon()
    yield d
    d.stop()


@pytest.fixture
def make_daemon():
    started = []

    def make(http_extra=""):
        d = Daemon(http_extra)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()
