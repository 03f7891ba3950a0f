"""The deployment artefacts: the Helm chart, its plain rendering, the image and the systemd unit.

Run by CTest (tests/deploy/CMakeLists.txt), one test class per CTest test:
    python3 tests/deploy/deploy_test.py ChartRenders
Environment: OUTRIGGER_BIN (the built daemon), OUTRIGGER_TOOLS (where deploy/setup.sh --test put
helm, manifestcheck and kubernetes-api/). A class whose tool is absent exits 77 (skipped) and
says which tool and how to get it. Only the standard library is used.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
import time
import unittest
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "outrigger"
TOOLS = Path(os.environ.get("OUTRIGGER_TOOLS", ROOT / "build" / "tools"))
HELM = TOOLS / "helm"
MANIFESTCHECK = TOOLS / "manifestcheck"
KUBE_API = TOOLS / "kubernetes-api"
OUTRIGGER = Path(os.environ.get("OUTRIGGER_BIN", ROOT / "build" / "debug" / "bin" / "outrigger"))
VALUES = {
    "default": [],
    "production": ["-f", str(CHART / "ci" / "production-values.yaml")],
    "sidecar-only": ["-f", str(CHART / "ci" / "sidecar-only-values.yaml")],
}
SKIP = 77


def pinned_kube_versions():
    lines = (ROOT / "tests" / "tools" / "helm" / "kubernetes-api.txt").read_text().splitlines()
    return [l.split()[0] for l in lines if l.strip() and not l.startswith("#")]


def missing_chart_tools():
    dirs = [KUBE_API / v for v in pinned_kube_versions()]
    absent = [str(p) for p in [HELM, MANIFESTCHECK] + dirs if not p.exists()]
    return absent


def run(args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


def render(values="default", extra=(), show_only=None):
    """helm template with a values set; returns the objects as JSON (through manifestcheck,
    which also validates them against every pinned Kubernetes version)."""
    args = [HELM, "template", "example", CHART, "--kube-version", pinned_kube_versions()[0].lstrip("v")]
    args += VALUES[values] + list(extra)
    if show_only:
        args += ["--show-only", show_only]
    out = run(args)
    if out.returncode != 0:
        raise AssertionError(f"helm template failed: {out.stderr}")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "out.yaml"
        manifest.write_text(out.stdout)
        as_json = Path(tmp) / "out.json"
        check = validate(manifest, as_json)
        if check.returncode != 0:
            raise AssertionError(f"rendered objects are invalid:\n{check.stdout}{check.stderr}")
        return json.loads(as_json.read_text())


def validate(manifest, as_json=None):
    args = [MANIFESTCHECK]
    for v in pinned_kube_versions():
        args += ["-schemas", KUBE_API / v]
    if as_json:
        args += ["-json", as_json]
    return run(args + [manifest])


def by_kind(objects, kind):
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def pod_spec(objects):
    return by_kind(objects, "Deployment")["spec"]["template"]["spec"]


def sidecar_of(pod):
    sidecars = [c for c in pod.get("initContainers", []) if c["name"] == "outrigger"]
    assert len(sidecars) == 1, "the pod has no init container named outrigger"
    return sidecars[0]


def config_text(objects):
    return by_kind(objects, "ConfigMap")["data"]["outrigger.toml"]


def toml_value(text, table, key):
    """The raw value of key in [table] of the rendered TOML (enough for the chart's own keys)."""
    current = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == table and line.startswith(key + " ="):
            return json.loads(line.split("=", 1)[1].strip())
    raise AssertionError(f"[{table}] {key} is not in the rendered config")


class ChartRenders(unittest.TestCase):
    """helm lint and helm template for every values set; every object valid for every pinned
    Kubernetes version; and the validator catching what the API server would refuse."""

    def test_lint_is_clean_for_every_values_set(self):
        for name, args in VALUES.items():
            with self.subTest(values=name):
                out = run([HELM, "lint", "--strict", CHART, "--kube-version", "1.29.0"] + args)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                self.assertIn("0 chart(s) failed", out.stdout)

    def test_every_object_is_valid_for_every_pinned_kubernetes_version(self):
        kinds = {"default": ["ConfigMap", "Deployment"],
                 "production": ["ConfigMap", "Deployment", "Secret"],
                 "sidecar-only": ["ConfigMap", "Secret"]}
        for name in VALUES:
            with self.subTest(values=name):
                objects = render(name)
                self.assertEqual(sorted(o["kind"] for o in objects), kinds[name])

    def test_older_kubernetes_is_refused(self):
        out = run([HELM, "template", "example", CHART, "--kube-version", "1.28.9"])
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("kubeVersion", out.stderr)

    def test_values_of_a_wrong_type_or_name_are_refused(self):
        refusals = {
            "sidecar.admin.port=admin": "at '/sidecar/admin/port': got string, want integer",
            "sidecr.name=x": "additional properties 'sidecr' not allowed",
            "config.admin.listen=0.0.0.0:1": "config.admin: the chart writes [admin] from sidecar.admin",
            "config.server.socket=/tmp/o.sock": "config.server.socket: the chart writes it",
            "apiKeys.openai.secretKey=api-key": "apiKeys.openai: set existingSecret",
        }
        for value, message in refusals.items():
            with self.subTest(value=value):
                out = run([HELM, "template", "example", CHART, "--kube-version", "1.29.0", "--set", value])
                self.assertNotEqual(out.returncode, 0)
                self.assertIn(message, out.stderr)

    def test_the_validator_refuses_what_the_api_server_would(self):
        deployment = by_kind(render(), "Deployment")
        spec = lambda d: d["spec"]["template"]["spec"]
        breakages = {
            "unknown field": (lambda d: sidecar_of(spec(d)).update({"readinesProbe": {}}), "additional properties 'readinesProbe' not allowed"),
            "wrong type": (lambda d: spec(d).update({"terminationGracePeriodSeconds": "30"}), "terminationGracePeriodSeconds: got string, want integer"),
            "missing required field": (lambda d: spec(d)["containers"][0].pop("name"), "missing property 'name'"),
            "init container restart policy": (lambda d: sidecar_of(spec(d)).update({"restartPolicy": "OnFailure"}), "restartPolicy OnFailure (only Always is allowed)"),
            "probes on a plain init container": (lambda d: sidecar_of(spec(d)).pop("restartPolicy"), "need restartPolicy Always"),
            "duplicate env": (lambda d: sidecar_of(spec(d))["env"].append(dict(sidecar_of(spec(d))["env"][0])), "duplicate entry name=OUTRIGGER_SOCKET"),
            "mount of a missing volume": (lambda d: spec(d).update({"volumes": spec(d)["volumes"][1:]}), "mounts volume outrigger-socket, which the pod does not have"),
            "unknown kind": (lambda d: d.update({"kind": "Deploymen"}), 'serves no kind "Deploymen" in apiVersion "apps/v1"'),
            "unknown apiVersion": (lambda d: d.update({"apiVersion": "apps/v2"}), 'serves no apiVersion "apps/v2"'),
        }
        for name, (breakage, expected) in breakages.items():
            with self.subTest(breakage=name), tempfile.TemporaryDirectory() as tmp:
                broken = json.loads(json.dumps(deployment))
                breakage(broken)
                manifest = Path(tmp) / "broken.yaml"
                manifest.write_text(json.dumps(broken))
                out = validate(manifest)
                self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
                self.assertIn(expected, out.stdout)


class ChartShape(unittest.TestCase):
    """What the rendered objects promise: a native sidecar, probes on the admin port, the
    hardening, the socket shared through an emptyDir, keys as files, config checksums."""

    @classmethod
    def setUpClass(cls):
        cls.default = render()
        cls.production = render("production")

    def test_the_sidecar_is_a_native_sidecar_before_the_app(self):
        pod = pod_spec(self.default)
        self.assertEqual(pod["initContainers"][0]["name"], "outrigger")
        self.assertEqual(pod["initContainers"][0]["restartPolicy"], "Always")
        self.assertEqual([c["name"] for c in pod["containers"]], ["app"])
        self.assertEqual([c["name"] for c in pod_spec(self.production)["containers"]], ["checkout"])
        self.assertEqual(pod_spec(self.production)["containers"][0]["image"], "registry.example.com/checkout:2.4.1")

    def test_probes_use_the_admin_port_the_config_listens_on(self):
        for objects in (self.default, self.production):
            sidecar = sidecar_of(pod_spec(objects))
            ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
            listen = toml_value(config_text(objects), "admin", "listen")
            self.assertEqual(listen, f"0.0.0.0:{ports['admin']}")
            paths = {probe: sidecar[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
            self.assertEqual(paths, {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"})
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                self.assertIn(sidecar[probe]["httpGet"]["port"], ("admin", ports["admin"]))

    def test_containers_are_hardened(self):
        pod = pod_spec(self.default)
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        self.assertFalse(pod["automountServiceAccountToken"])
        for container in pod["initContainers"] + pod["containers"]:
            with self.subTest(container=container["name"]):
                sc = container["securityContext"]
                self.assertTrue(sc["readOnlyRootFilesystem"])
                self.assertFalse(sc["allowPrivilegeEscalation"])
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                self.assertTrue(sc["runAsNonRoot"])
        sidecar = sidecar_of(pod)
        self.assertEqual(sidecar["securityContext"]["runAsUser"], dockerfile()["uid"])
        self.assertIn("memory", sidecar["resources"]["limits"])
        self.assertEqual(set(sidecar["resources"]["requests"]), {"cpu", "memory"})

    def test_config_strings_are_templates_whatever_quotes_they_hold(self):
        # tpl ran over the whole TOML after every string was JSON-escaped: a template with a
        # quoted argument met its quotes escaped and failed, and tpl's output went in unescaped.
        with tempfile.TemporaryDirectory() as tmp:
            values = Path(tmp) / "values.yaml"
            values.write_text(
                "config:\n  instances:\n    traces:\n      config:\n"
                "        path: '{{ printf \"%s/t.db\" .Values.sidecar.dataDir }}'\n"
                "    quoted:\n      type: exporter.jsonl\n      config:\n"
                "        path: 'a\"b\\c'\n"
                "        names: ['{{ .Values.sidecar.dataDir | trimSuffix \"/\" }}/x', 'plain']\n")
            config = tomllib.loads(config_text(render("default", ["-f", values])))
        self.assertEqual(config["instances"]["traces"]["config"]["path"], "/var/lib/outrigger/t.db")
        self.assertEqual(config["instances"]["quoted"]["config"]["path"], 'a"b\\c')
        self.assertEqual(config["instances"]["quoted"]["config"]["names"], ["/var/lib/outrigger/x", "plain"])

    def test_every_folder_the_sidecar_writes_is_an_empty_dir(self):
        pod = pod_spec(self.default)
        volumes = {v["name"]: v for v in pod["volumes"]}
        sidecar = sidecar_of(pod)
        mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
        config = config_text(self.default)
        socket = toml_value(config, "server", "socket")
        store = toml_value(config, "instances.traces.config", "path")
        for path in (os.path.dirname(socket), os.path.dirname(store), "/tmp"):
            with self.subTest(path=path):
                self.assertIn("emptyDir", volumes[mounts[path]["name"]])
                self.assertFalse(mounts[path].get("readOnly", False))
        config_mount = mounts["/etc/outrigger"]
        self.assertTrue(config_mount["readOnly"])
        self.assertNotIn("subPath", config_mount, "a subPath mount never sees ConfigMap updates")
        self.assertEqual(sidecar["args"], ["serve", "--config", "/etc/outrigger/outrigger.toml"])

    def test_app_and_sidecar_share_the_socket(self):
        pod = pod_spec(self.default)
        socket = toml_value(config_text(self.default), "server", "socket")
        self.assertEqual(toml_value(config_text(self.default), "server", "socket_mode"), "0660")
        self.assertIn("fsGroup", pod["securityContext"])
        app, sidecar = pod["containers"][0], sidecar_of(pod)
        for container in (app, sidecar):
            env = {e["name"]: e.get("value") for e in container["env"]}
            self.assertEqual(env["OUTRIGGER_SOCKET"], socket)
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            self.assertEqual(mounts["outrigger-socket"], os.path.dirname(socket))
        self.assertEqual(os.path.dirname(socket), dockerfile()["socket_dir"])

    def test_peer_rules_come_from_values(self):
        config = config_text(self.production)
        self.assertEqual(config.count("[[server.peers]]"), 2)
        self.assertIn('tenants = ["checkout","checkout-batch"]', config)
        self.assertIn("gid = 3000", config)
        app_uid = pod_spec(self.default)["containers"][0]["securityContext"]["runAsUser"]
        self.assertIn(f"uid = {app_uid}", config_text(self.default))

    def test_api_keys_are_files_from_secrets_named_by_file_references(self):
        pod = pod_spec(self.production)
        sidecar = sidecar_of(pod)
        keys_dir = {m["name"]: m for m in sidecar["volumeMounts"]}["outrigger-keys"]
        self.assertTrue(keys_dir["readOnly"])
        sources = {v["name"]: v for v in pod["volumes"]}["outrigger-keys"]["projected"]["sources"]
        files = {item["path"]: (s["secret"]["name"], item["key"]) for s in sources for item in s["secret"]["items"]}
        self.assertEqual(files, {"openai": ("openai-credentials", "api-key"), "anthropic": ("checkout-keys", "anthropic")})
        config = config_text(self.production)
        for name in files:
            self.assertIn(f'api_key = "file:{keys_dir["mountPath"]}/{name}"', config)
        secret = by_kind(self.production, "Secret")
        self.assertEqual(list(secret["data"]), ["anthropic"], "a key in an existing Secret must not be copied")
        self.assertNotIn("sk-ant-example", json.dumps(by_kind(self.production, "ConfigMap")))
        token = {e["name"]: e for e in sidecar["env"]}["OUTRIGGER_ADMIN_TOKEN"]
        self.assertEqual(token["valueFrom"]["secretKeyRef"], {"name": "outrigger-admin", "key": "token"})
        self.assertEqual(toml_value(config, "admin", "token"), "${OUTRIGGER_ADMIN_TOKEN}")

    def test_checksum_follows_the_config_and_only_the_config(self):
        def annotations(*extra):
            return by_kind(render("default", extra), "Deployment")["spec"]["template"]["metadata"].get("annotations", {})
        base = annotations()["checksum/config"]
        self.assertEqual(base, hashlib.sha256(config_text(self.default).encode()).hexdigest())
        self.assertNotEqual(annotations("--set", "config.server.workers=3")["checksum/config"], base)
        self.assertNotEqual(annotations("--set", "sidecar.admin.port=9500")["checksum/config"], base)
        self.assertEqual(annotations("--set", "workload.replicas=4")["checksum/config"], base)
        self.assertNotIn("checksum/config", annotations("--set", "rollOnConfigChange=false"))
        keys = lambda v: by_kind(render("production", ["--set", f"apiKeys.anthropic.value={v}"]), "Deployment")[
            "spec"]["template"]["metadata"]["annotations"]["checksum/keys"]
        self.assertNotEqual(keys("one"), keys("two"))

    def test_the_daemon_watches_its_config_only_when_the_pods_do_not_roll(self):
        watch = lambda *extra: toml_value(config_text(render("default", extra)), "server", "watch_config")
        self.assertIs(watch(), False)  # a rollout replaces the pods; old ones keep the old config
        self.assertIs(watch("--set", "rollOnConfigChange=false"), True)
        self.assertIs(watch("--set", "config.server.watch_config=true"), True)  # set explicitly, it stands
        self.assertIs(watch("--set", "rollOnConfigChange=false", "--set", "config.server.watch_config=false"), False)

    def test_admin_allowed_hosts_come_from_values(self):
        config = config_text(render("default", ["--set", "sidecar.admin.allowedHosts={outrigger.shop.svc.cluster.local}"]))
        self.assertEqual(toml_value(config, "admin", "allowed_hosts"), ["outrigger.shop.svc.cluster.local"])
        with self.assertRaises(AssertionError):
            toml_value(config_text(self.default), "admin", "allowed_hosts")

    def test_an_ipv6_admin_address_is_written_in_brackets(self):
        for address in ("::", "[::]"):
            with self.subTest(address=address):
                config = config_text(render("default", ["--set-string", f"sidecar.admin.address={address}"]))
                self.assertEqual(toml_value(config, "admin", "listen"), "[::]:9464")

    def test_a_parent_chart_includes_the_sidecar_in_its_own_deployment(self):
        with tempfile.TemporaryDirectory() as tmp:
            parent = Path(tmp) / "myapp"
            shutil.copytree(Path(__file__).parent / "fixtures" / "parent-chart", parent)
            chart_yaml = parent / "Chart.yaml"
            chart_yaml.write_text(chart_yaml.read_text().replace("OUTRIGGER_CHART", str(CHART)))
            env = dict(os.environ, **{k: str(Path(tmp) / k) for k in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")})
            out = run([HELM, "dependency", "build", parent], env=env)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            out = run([HELM, "template", "release", parent, "--kube-version", "1.29.0"], env=env)
            self.assertEqual(out.returncode, 0, out.stderr)
            manifest, as_json = Path(tmp) / "out.yaml", Path(tmp) / "out.json"
            manifest.write_text(out.stdout)
            check = validate(manifest, as_json)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            objects = json.loads(as_json.read_text())
        self.assertEqual(sorted(o["kind"] for o in objects), ["ConfigMap", "Deployment"])
        template = by_kind(objects, "Deployment")["spec"]["template"]
        self.assertEqual(sidecar_of(template["spec"])["restartPolicy"], "Always")
        config_map = by_kind(objects, "ConfigMap")
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        self.assertEqual(volumes["outrigger-config"]["configMap"]["name"], config_map["metadata"]["name"])
        self.assertEqual(template["metadata"]["annotations"]["checksum/config"],
                         hashlib.sha256(config_map["data"]["outrigger.toml"].encode()).hexdigest())

    def test_sidecar_only_renders_no_workload(self):
        objects = render("sidecar-only")
        self.assertEqual(sorted(o["kind"] for o in objects), ["ConfigMap", "Secret"])


class RenderedConfigServes(unittest.TestCase):
    """The chart's config is one the daemon accepts, and the daemon started on it answers the
    paths the rendered probes ask for."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="outrigger-chart-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # The pod's folders, moved under a temp dir; everything else as rendered.
        self.local = ["--set", f"sidecar.socketDir={self.tmp}/run", "--set", f"sidecar.dataDir={self.tmp}/data",
                      "--set", f"sidecar.keysDir={self.tmp}/keys", "--set", "sidecar.admin.address=127.0.0.1",
                      "--set", "sidecar.admin.port=0"]
        for d in ("run", "data", "keys"):
            (self.tmp / d).mkdir(mode=0o750)

    def write_config(self, objects):
        path = self.tmp / "outrigger.toml"
        path.write_text(config_text(objects))
        return path

    def test_outrigger_check_accepts_every_rendered_config(self):
        (self.tmp / "keys" / "openai").write_text("sk-test-openai\n")
        (self.tmp / "keys" / "anthropic").write_text("sk-test-anthropic\n")
        env = dict(os.environ, OUTRIGGER_ADMIN_TOKEN="test-token")
        for name in VALUES:
            with self.subTest(values=name):
                config = self.write_config(render(name, self.local))
                out = run([OUTRIGGER, "check", "-c", config], env=env)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                self.assertIn("is valid", out.stdout)
                self.assertNotIn("sk-test", out.stdout + out.stderr)

    def test_the_daemon_answers_the_probe_paths(self):
        objects = render("default", self.local)
        config = self.write_config(objects)
        log = open(self.tmp / "daemon.log", "w+")
        daemon = subprocess.Popen([str(OUTRIGGER), "serve", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: daemon.poll() is None and daemon.kill())
        address = self.wait_for_admin(daemon, log)
        socket = Path(toml_value(config_text(objects), "server", "socket"))
        self.assertTrue(socket.is_socket())
        self.assertEqual(oct(socket.stat().st_mode & 0o777), "0o660")
        sidecar = sidecar_of(pod_spec(objects))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            with self.subTest(probe=probe):
                path = sidecar[probe]["httpGet"]["path"]
                with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as reply:
                    self.assertEqual(reply.status, 200)
        self.assertTrue((self.tmp / "data" / "traces.db").exists(), "the trace store is not in the data folder")
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=30), 0)

    def wait_for_admin(self, daemon, log):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            log.seek(0)
            found = re.search(r"admin endpoints listening on (\S+)", log.read())
            if found:
                return found.group(1)
            self.assertIsNone(daemon.poll(), "the daemon exited: " + (self.tmp / "daemon.log").read_text())
            time.sleep(0.05)
        self.fail("the daemon never logged its admin address: " + (self.tmp / "daemon.log").read_text())


class PlainManifestsAreCurrent(unittest.TestCase):
    """deploy/kubernetes holds helm template's output for the default values, byte for byte."""

    def test_committed_rendering_equals_a_fresh_one(self):
        out = run(["bash", ROOT / "deploy" / "helm" / "render.sh", "--check"], env=dict(os.environ, HELM=str(HELM)))
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_committed_rendering_is_valid(self):
        for manifest in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
            with self.subTest(manifest=manifest.name):
                out = validate(manifest)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


def dockerfile():
    """What the tests need from deploy/Dockerfile's runtime stage."""
    text = (ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.M)
    runtime = stages[-1]
    install = re.search(r"apt-get install ([^&]*)", runtime).group(1).split()
    user = re.search(r"^USER (\S+)", runtime, re.M).group(1)
    socket_dir = re.search(r"install -d [^&]*?(/run/\S+)", runtime).group(1)
    return {
        "build": stages[-2], "runtime": runtime, "user": user, "uid": int(user.split(":")[0]),
        "packages": [p for p in install if not p.startswith("-")],
        "socket_dir": socket_dir,
        "env_socket": re.search(r"OUTRIGGER_SOCKET=(\S+)", runtime).group(1),
    }


class ImageRuntime(unittest.TestCase):
    """deploy/Dockerfile: the runtime stage installs a package for every shared library the
    binary and its plugins need, and its user owns the socket folder."""

    # In debian:12-slim already: the C library, which every essential package needs.
    BASE = {"libc6"}

    def needed_packages(self):
        """Debian packages providing every library the binary and the plugins link directly
        (what those libraries need in turn comes with the package's own dependencies)."""
        plugin_dir = OUTRIGGER.parent.parent / "lib" / "outrigger" / "plugins"
        files = [OUTRIGGER] + sorted(plugin_dir.glob("*.so"))
        self.assertGreater(len(files), 5, f"no plugins in {plugin_dir}")
        packages = {}
        for f in files:
            needed = re.findall(r"NEEDED\s+(\S+)", run(["objdump", "-p", f]).stdout)
            paths = dict(re.findall(r"^\s*(\S+) => (\S+)", run(["ldd", f]).stdout, re.M))
            for soname in needed:
                if soname.startswith("ld-linux"):
                    continue
                self.assertIn(soname, paths, f"{f.name}: ldd does not resolve {soname}")
                packages.setdefault(self.package_of(paths[soname]), set()).add(f"{f.name}: {soname}")
        return packages

    def package_of(self, path, cache={}):
        if path not in cache:
            cache[path] = self.find_package(path)
        return cache[path]

    def find_package(self, path):
        real = os.path.realpath(path)
        for candidate in (path, "/usr" + path, real, "/usr" + real, real.replace("/usr/lib/", "/lib/", 1)):
            out = run(["dpkg", "-S", candidate])
            if out.returncode == 0:
                return out.stdout.split(":")[0]
        self.fail(f"no Debian package owns {path}")

    def test_runtime_packages_cover_every_linked_library(self):
        if not shutil.which("dpkg") or not shutil.which("objdump"):
            raise unittest.SkipTest("dpkg and objdump are needed to map libraries to packages")
        listed = set(dockerfile()["packages"])
        self.maxDiff = None
        missing = {p: sorted(users) for p, users in self.needed_packages().items() if p not in listed | self.BASE}
        self.assertEqual(missing, {}, "the runtime stage lacks these packages (needed by)")

    def test_runtime_user_owns_the_socket_folder(self):
        d = dockerfile()
        self.assertRegex(d["user"], r"^\d+(:\d+)?$", "USER must be numeric for runAsNonRoot")
        self.assertNotEqual(d["uid"], 0)
        self.assertRegex(d["runtime"], rf"useradd [^&]*--uid {d['uid']}\b")
        self.assertRegex(d["runtime"], rf"install -d [^&]*-o {d['uid']}\b[^&]*{re.escape(d['socket_dir'])}")
        self.assertEqual(os.path.dirname(d["env_socket"]), d["socket_dir"])
        self.assertIn("ca-certificates", d["packages"])

    def test_build_stage_uses_the_setup_script(self):
        build = dockerfile()["build"]
        self.assertIn("bash deploy/setup.sh", build)
        self.assertRegex(build, r"cmake --preset release")
        ignore = (ROOT / ".dockerignore").read_text().split()
        for entry in ("build", ".git", "node_modules"):
            self.assertTrue(any(line.removeprefix("**/").strip("/") == entry for line in ignore), f".dockerignore lacks {entry}")

    def test_entrypoint_takes_the_subcommand_the_chart_passes(self):
        runtime = dockerfile()["runtime"]
        entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])", runtime, re.M).group(1))
        self.assertEqual(entry, ["/opt/outrigger/bin/outrigger"])
        self.assertEqual(sidecar_of(pod_spec(render()))["args"][0], "serve")


class SystemdUnit(unittest.TestCase):
    """deploy/systemd/outrigger.service: systemd-analyze verify accepts it, and it keeps the
    socket folder, hardening and reload the daemon relies on."""

    UNIT = ROOT / "deploy" / "systemd" / "outrigger.service"

    def test_unit_keeps_socket_folder_hardening_and_reload(self):
        unit = self.UNIT.read_text()
        # The state folder (the trace store, with every tenant's traces) is not the socket group's.
        self.assertIn("StateDirectoryMode=0700", unit.splitlines())
        for line in ("RuntimeDirectory=outrigger", "StateDirectory=outrigger", "ExecReload=/bin/kill -HUP $MAINPID",
                     "NoNewPrivileges=true", "ProtectSystem=strict", "ProtectHome=true", "PrivateTmp=true",
                     "User=outrigger"):
            self.assertIn(line, unit.splitlines())
        self.assertIn("--socket /run/outrigger/outrigger.sock", unit)

    def test_systemd_analyze_verifies_the_unit(self):
        if not shutil.which("systemd-analyze"):
            raise unittest.SkipTest("systemd-analyze is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            # verify checks that ExecStart's binary exists: point it at the built one.
            unit = Path(tmp) / "outrigger.service"
            unit.write_text(self.UNIT.read_text().replace("/opt/outrigger/bin/outrigger", str(OUTRIGGER)))
            out = run(["systemd-analyze", "verify", "--man=no", unit])
            problems = [l for l in (out.stdout + out.stderr).splitlines() if "outrigger.service" in l]
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertEqual(problems, [])


if __name__ == "__main__":
    needs_chart = {"ChartRenders", "ChartShape", "RenderedConfigServes", "PlainManifestsAreCurrent"}
    selected = set(sys.argv[1:])
    if selected & needs_chart | ({"ImageRuntime"} & selected):
        absent = missing_chart_tools()
        if absent:
            print("SKIP: the chart's test tools are missing (" + ", ".join(absent) +
                  "): run deploy/setup.sh --test")
            sys.exit(SKIP)
    if (selected & {"RenderedConfigServes", "ImageRuntime", "SystemdUnit"}) and not OUTRIGGER.exists():
        print(f"FAIL: the daemon binary {OUTRIGGER} is missing: build first")
        sys.exit(1)
    unittest.main(verbosity=2)
