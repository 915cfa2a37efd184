#!/usr/bin/env bash
# The Prometheus examples are valid for the real tools: promtool checks the alert rules and runs their unit
# tests (rules_test.yaml: each alert fires when it should and only then), and checks the scrape job. Every
# metric the rules use is one the daemon documents.
# Debian's Prometheus is built without Kubernetes service discovery, so the scrape job is checked with its
# kubernetes_sd_configs swapped for an equivalent file_sd_configs (everything else unchanged); the relabelling
# itself is exercised against a live daemon by prometheus_live.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_cmd promtool prometheus
need_cmd python3 python3-minimal
python3 -c 'import yaml' 2>/dev/null || die "python3 cannot import yaml; install python3-yaml"

rules=$packaging_src/prometheus/rules.yaml
scrape=$packaging_src/prometheus/scrape.yaml
make_scratch

promtool check rules "$rules" >&2 || die "promtool check rules failed for $rules"
(cd "$tests_src" && promtool test rules rules_test.yaml) >&2 || die "the alert rules' unit tests failed"

# The prometheus-operator objects: the PrometheusRule carries exactly the groups of rules.yaml, and neither the
# PodMonitor nor the scrape job gives the scraped pod the labels that name the failing workload.
python3 - "$packaging_src/kubernetes/prometheus-operator.yaml" "$rules" "$scrape" <<'EOF' ||
import re, sys, yaml
operator, rules, scrape = sys.argv[1:]
docs = {d["kind"]: d for d in yaml.safe_load_all(open(operator)) if d}
problems = []
if set(docs) != {"PodMonitor", "PrometheusRule"}:
    problems.append(f"expected a PodMonitor and a PrometheusRule, found {sorted(docs)}")
else:
    if docs["PrometheusRule"]["spec"]["groups"] != yaml.safe_load(open(rules))["groups"]:
        problems.append("the PrometheusRule's groups differ from rules.yaml's")
    ep = docs["PodMonitor"]["spec"]["podMetricsEndpoints"]
    if [e.get("port") for e in ep] != ["metrics"]:
        problems.append("the PodMonitor must scrape the port named metrics")
    relabel = ep[0].get("relabelings", []) if ep else []
    dropped = [r.get("regex", "") for r in relabel if r.get("action") == "labeldrop"]
    for label in ("namespace", "pod", "container"):
        if not any(re.fullmatch(d, label) for d in dropped):
            problems.append(f"the PodMonitor keeps the operator's target label {label}, which enospcd's own would lose to")
        if any(r.get("targetLabel") == label for r in relabel):
            problems.append(f"the PodMonitor sets {label}, which names the failing workload")
for j in yaml.safe_load(open(scrape))["scrape_configs"]:
    for r in j.get("relabel_configs", []):
        if r.get("target_label") in ("namespace", "pod", "container"):
            problems.append(f"scrape.yaml sets {r['target_label']}, which names the failing workload")
if problems:
    sys.exit("\n".join(problems))
EOF
  die "prometheus-operator.yaml is wrong (above)"

python3 - "$scrape" "$rules" "$scratch" <<'EOF' || die "scrape.yaml is not what the DaemonSet needs (above)"
import os, sys, yaml
scrape, rules, out = sys.argv[1:]
with open(scrape) as f:
    cfg = yaml.safe_load(f)
jobs = {j["job_name"]: j for j in cfg.get("scrape_configs", [])}
job = jobs.get("enospcd")
if job is None:
    sys.exit("no scrape job named enospcd (the alert EnospcdDown matches up{job=\"enospcd\"})")
sd = job.get("kubernetes_sd_configs") or []
if not any(c.get("role") == "pod" for c in sd):
    sys.exit("the enospcd job does not discover pods (kubernetes_sd_configs role: pod)")
keeps = [r for r in job.get("relabel_configs", []) if r.get("action") == "keep"]
if not any("__meta_kubernetes_pod_annotation_prometheus_io_scrape" in r.get("source_labels", []) for r in keeps):
    sys.exit("the enospcd job does not keep pods by their prometheus.io/scrape annotation")
for j in cfg["scrape_configs"]:
    if "kubernetes_sd_configs" in j:
        del j["kubernetes_sd_configs"]
        j["file_sd_configs"] = [{"files": [os.path.join(out, "targets.json")]}]
cfg["rule_files"] = [rules]
with open(os.path.join(out, "targets.json"), "w") as f:
    f.write("[]")
with open(os.path.join(out, "prometheus.yml"), "w") as f:
    yaml.safe_dump(cfg, f)
EOF
promtool check config "$scratch/prometheus.yml" >&2 || die "promtool check config failed for scrape.yaml"

# Metric names in the rules' expressions (enospcd_*), each documented in enospcd(8).
used=$(python3 - "$rules" <<'EOF'
import re, sys, yaml
with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
names = set()
for g in doc["groups"]:
    for r in g["rules"]:
        names.update(re.findall(r"\benospcd_[a-z_]+", r["expr"]))
print("\n".join(sorted(names)))
EOF
)
[[ -n $used ]] || die "the rules use no enospcd_* metric"
for m in $used; do
  grep -qE "^\.B ${m}(\{|$)" "$packaging_src/man/enospcd.8" ||
    die "the rules use $m, which enospcd(8) does not list under METRICS"
done
say "ok: rules valid, their unit tests pass, scrape job valid; metrics used: ${used//$'\n'/ }"
