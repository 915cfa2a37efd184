#!/usr/bin/env bash
# packaging/kubernetes/daemonset.yaml is valid and says what the daemon needs: parsed as YAML (python3-yaml),
# with the fields a DaemonSet needs, the same capabilities as enospcd.service (and no privileged mode, no
# SYS_ADMIN), host PID, the host paths, probes on /healthz at the metrics port, resources, tolerations for
# every node, and the port and annotations the scrape job of packaging/prometheus/scrape.yaml relies on;
# every daemon option it passes exists. Where kubectl is installed, its client-side decoding must accept the
# objects and keep every field (a misspelt field would be dropped silently).
# Usage: kubernetes_manifest.sh ENOSPCD
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 1)) || die "usage: $prog ENOSPCD"
daemon=$1
[[ -x $daemon ]] || die "$daemon is not built"
need_cmd python3 python3-minimal
python3 -c 'import yaml' 2>/dev/null || die "python3 cannot import yaml; install python3-yaml"

manifest=$packaging_src/kubernetes/daemonset.yaml
make_scratch
"$daemon" --help >"$scratch/help.txt"
unit_capabilities >"$scratch/caps.txt"

python3 - "$manifest" "$packaging_src/prometheus/scrape.yaml" "$scratch/caps.txt" "$scratch/help.txt" <<'EOF'
import re, sys, yaml

manifest, scrape, caps_file, help_file = sys.argv[1:]
problems = []
def check(ok, what):
    if not ok:
        problems.append(what)

with open(manifest) as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
by_kind = {}
for d in docs:
    for key in ("apiVersion", "kind", "metadata"):
        check(key in d, f"a document lacks {key}")
    by_kind.setdefault(d.get("kind"), []).append(d)
for kind in ("Namespace", "ServiceAccount", "DaemonSet"):
    check(len(by_kind.get(kind, [])) == 1, f"expected exactly one {kind}")
if problems:
    sys.exit("\n".join(problems))

ns = by_kind["Namespace"][0]["metadata"]["name"]
sa = by_kind["ServiceAccount"][0]
ds = by_kind["DaemonSet"][0]
check(ds["apiVersion"] == "apps/v1", "DaemonSet apiVersion is not apps/v1")
check(sa["metadata"].get("namespace") == ns and ds["metadata"].get("namespace") == ns,
      f"ServiceAccount and DaemonSet must be in namespace {ns}")
spec = ds["spec"]
tmpl = spec["template"]
pod = tmpl["spec"]
selector = spec.get("selector", {}).get("matchLabels", {})
check(selector and all(tmpl["metadata"].get("labels", {}).get(k) == v for k, v in selector.items()),
      "spec.selector.matchLabels does not match the pod template's labels")
check(pod.get("serviceAccountName") == sa["metadata"]["name"], "the pod does not use the ServiceAccount")
check(pod.get("hostPID") is True, "hostPID must be true (every process must be visible in /proc)")
check(any(t.get("operator") == "Exists" and "key" not in t and "effect" not in t for t in pod.get("tolerations", [])),
      "no toleration for every taint (operator: Exists without key): the daemon would skip tainted nodes")

containers = pod.get("containers", [])
check(len(containers) == 1, "expected one container")
c = containers[0]
check(bool(c.get("image")) and not c["image"].endswith(":latest"), "the image needs a fixed tag")
sc = c.get("securityContext", {})
check(sc.get("privileged") in (None, False), "the container must not be privileged")
want = sorted(l.strip().upper() for l in open(caps_file) if l.strip())
add = sorted(sc.get("capabilities", {}).get("add", []))
check(add == want, f"capabilities.add is {add}, enospcd.service has {want}")
check("SYS_ADMIN" not in add, "capabilities.add has SYS_ADMIN")
check(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities.drop must be [ALL]")
check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false (NoNewPrivileges)")

res = c.get("resources", {})
for part in ("requests", "limits"):
    for r in ("cpu", "memory"):
        check(r in res.get(part, {}), f"resources.{part}.{r} is missing")

ports = {p.get("name"): p for p in c.get("ports", [])}
check(ports.get("metrics", {}).get("containerPort") == 9633, "no container port 'metrics' 9633")
for probe in ("readinessProbe", "livenessProbe"):
    get = c.get(probe, {}).get("httpGet", {})
    check(get.get("path") == "/healthz" and get.get("port") in ("metrics", 9633),
          f"{probe} must GET /healthz on the metrics port")

# Daemon options: each exists, and the metrics listener is on port 9633.
help_text = open(help_file).read()
known = set(re.findall(r"--[a-z][a-z-]*", help_text))
args = c.get("args", [])
for a in args:
    if a.startswith("--"):
        check(a.split("=", 1)[0] in known, f"enospcd has no option {a.split('=', 1)[0]}")
listen = [a.split("=", 1)[1] for a in args if a.startswith("--metrics-listen=")]
check(len(listen) == 1 and listen[0].endswith(":9633"), "args need --metrics-listen=...:9633")
env = {e["name"] for e in c.get("env", [])}
for ref in re.findall(r"\$\(([A-Z_]+)\)", " ".join(args)):
    check(ref in env, f"args use $({ref}), which env does not define")

annotations = tmpl["metadata"].get("annotations", {})
check(annotations.get("prometheus.io/scrape") == "true", "pod annotation prometheus.io/scrape: \"true\" missing")
check(annotations.get("prometheus.io/port") == "9633", "pod annotation prometheus.io/port: \"9633\" missing")
with open(scrape) as f:
    job = [j for j in yaml.safe_load(f)["scrape_configs"] if j["job_name"] == "enospcd"][0]
kept_ports = [r.get("regex") for r in job.get("relabel_configs", [])
              if r.get("action") == "keep" and "__meta_kubernetes_pod_container_port_name" in r.get("source_labels", [])]
check(kept_ports in ([], ["metrics"]), f"the scrape job keeps port {kept_ports}, the pod names it 'metrics'")
sd_ns = [n for s in job.get("kubernetes_sd_configs", []) for n in s.get("namespaces", {}).get("names", [])]
check(not sd_ns or ns in sd_ns, f"the scrape job looks in namespaces {sd_ns}, the DaemonSet is in {ns}")

# Volumes: declared and mounted one to one; the host paths the daemon reads and writes.
volumes = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
check(set(volumes) == set(mounts), f"volumes {sorted(volumes)} and volumeMounts {sorted(mounts)} differ")
host = {v.get("hostPath", {}).get("path"): mounts.get(n, {}) for n, v in volumes.items()}
for path, ro in (("/sys/kernel/btf", True), ("/sys/kernel/tracing", True), ("/sys/fs/cgroup", True),
                 ("/run/enospcd", False), ("/var/lib/enospcd", False)):
    check(path in host, f"no hostPath volume for {path}")
    if path in host:
        check(host[path].get("mountPath") == path, f"{path} is not mounted at the same path")
        check(bool(host[path].get("readOnly")) == ro, f"{path} must be mounted {'read-only' if ro else 'read-write'}")

if problems:
    sys.exit("daemonset.yaml:\n  " + "\n  ".join(problems))
EOF

if command -v kubectl >/dev/null 2>&1; then
  # Client-side decoding into the API types, offline: "set image --local" decodes the DaemonSet into apps/v1
  # types and prints it back (with a changed image; it prints nothing when nothing changed). Fields unknown
  # to the types are dropped, so every field of the manifest must come back.
  python3 - "$manifest" "$scratch/daemonset-only.yaml" <<'EOF'
import sys, yaml
ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "DaemonSet"][0]
with open(sys.argv[2], "w") as f:
    yaml.safe_dump(ds, f)
print(ds["spec"]["template"]["spec"]["containers"][0]["image"], file=open(sys.argv[2] + ".image", "w"))
EOF
  kubectl set image --local -o json -f "$scratch/daemonset-only.yaml" \
    "enospcd=$(cat "$scratch/daemonset-only.yaml.image")-decoded" >"$scratch/decoded.json" 2>"$scratch/kubectl.err" ||
    die "kubectl cannot decode the DaemonSet: $(cat "$scratch/kubectl.err")"
  python3 - "$scratch/daemonset-only.yaml" "$scratch/decoded.json" <<'EOF' || die "kubectl dropped fields of the DaemonSet"
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
decoded = json.load(open(sys.argv[2]))
c = decoded["spec"]["template"]["spec"]["containers"][0]
c["image"] = c["image"][: -len("-decoded")]
lost = []
def walk(a, b, path):
    if isinstance(a, dict):
        if not isinstance(b, dict):
            lost.append(path)
            return
        for k, v in a.items():
            if k not in b:
                lost.append(f"{path}.{k}")
            else:
                walk(v, b[k], f"{path}.{k}")
    elif isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            lost.append(path)
            return
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, f"{path}[{i}]")
walk(doc, decoded, "DaemonSet")
if lost:
    sys.exit("unknown or misplaced fields: " + ", ".join(lost))
EOF
  say "ok: manifest consistent with the unit and the scrape job; kubectl's API types keep every field"
else
  say "ok: manifest consistent with the unit and the scrape job (kubectl not installed: no API-type decoding)"
fi
