"""The scripted upstream (tests/upstream/upstream.py) on a free port and the real daemon in front
of it, with an OpenAI and an Anthropic route: tests script the upstream's answers and read back
the exact request bodies it received. Shared by the client matrix and the official-SDK suite."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ.get("OUTRIGGER_BIN", "")
PLUGINS = os.environ.get("OUTRIGGER_PLUGIN_DIR", "")
UPSTREAM_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "upstream", "upstream.py")


def await_logged_address(proc, log_path, pattern):
    """The address a starting daemon logs (the group of `pattern`), or RuntimeError with its log."""
    deadline = time.time() + 10
    while time.time() < deadline:
        with open(log_path) as f:
            m = re.search(pattern, f.read())
        if m:
            return m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError("daemon did not start:\n" + open(log_path).read())

# The model "claude-sonnet-4-5" names the Anthropic route; every other model takes the OpenAI one.
# Neither route sets a model, so the caller's goes upstream unchanged.
CONFIG = """
default_route = "openai"
[server]
socket = "{dir}/o.sock"
workers = 2
drain_grace_ms = 1000
[http]
listen = "127.0.0.1:0"
abort_check_ms = 50
[admin]
listen = "127.0.0.1:0"
[plugins]
dirs = ["{plugins}"]
[instances.openai]
type = "provider.openai"
[instances.openai.config]
base_url = "{upstream}/v1"
api_key = "${{MATRIX_UPSTREAM_KEY}}"
[instances.claude]
type = "provider.anthropic"
[instances.claude.config]
base_url = "{upstream}"
api_key = "${{MATRIX_UPSTREAM_KEY}}"
[routes.openai]
provider = "openai"
[routes.claude-sonnet-4-5]
provider = "claude"
"""


class Upstream:
    """tests/upstream/upstream.py as a child process."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, UPSTREAM_SCRIPT, "--port", "0"], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"PORT (\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("upstream did not start: %r" % line)
        self.url = "http://127.0.0.1:%s" % m.group(1)

    def _call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def reset(self):
        self._call("/_control/reset", {})

    def script(self, *steps):
        self._call("/_control/script", {"steps": list(steps)})

    def requests(self):
        return self._call("/_control/log")

    def bodies(self):
        return [entry["body"] for entry in self.requests()]

    def only_body(self):
        """The body of the one request the upstream received."""
        log = self.requests()
        assert len(log) == 1, "expected one upstream request, got %d: %s" % (len(log), json.dumps(log)[:2000])
        return log[0]["body"]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Daemon:
    def __init__(self, upstream_url):
        self.dir = tempfile.mkdtemp(prefix="outrigger-matrix-")
        path = os.path.join(self.dir, "o.toml")
        with open(path, "w") as f:
            f.write(CONFIG.format(dir=self.dir, plugins=PLUGINS, upstream=upstream_url))
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.log = open(self.log_path, "w")
        env = dict(os.environ, MATRIX_UPSTREAM_KEY="sk-upstream")
        self.proc = subprocess.Popen([BIN, "serve", "--config", path], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        self.http = self._await_address(r"API listening on (\S+)")
        self.base_url = "http://%s/v1" % self.http

    def _await_address(self, pattern):
        return await_logged_address(self.proc, self.log_path, pattern)

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


def running_rig():
    """A generator for a pytest fixture: (daemon, upstream) until the fixture's scope ends."""
    if not BIN or not PLUGINS:
        import pytest
        pytest.skip("OUTRIGGER_BIN and OUTRIGGER_PLUGIN_DIR are needed")
    upstream = Upstream()
    daemon = Daemon(upstream.url)
    yield daemon, upstream
    daemon.stop()
    upstream.stop()
