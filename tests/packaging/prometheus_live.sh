#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes the daemon's loopback metrics listener while real ENOSPC failures
# happen, with the scrape job of packaging/prometheus/scrape.yaml (its relabelling fed by file_sd with the
# labels Kubernetes pod discovery would give: the annotated pod's "metrics" port is kept, its other port and
# an unannotated pod are dropped) and the rules of packaging/prometheus/rules.yaml loaded. Then, through
# Prometheus's HTTP API: the failure counter with its labels, up == 1, every rule healthy, and the alert
# EnospcFailures firing for the rising counter. promtool check metrics lints the daemon's own output.
# Usage: prometheus_live.sh ENOSPCD
set -euo pipefail
. "$(dirname "$0")/lib.sh"

(($# == 1)) || die "usage: $prog ENOSPCD"
daemon=$1
[[ -x $daemon ]] || die "$daemon is not built"
need_root "loads BPF programs and mounts a tmpfs"
need_cmd prometheus prometheus
need_cmd promtool prometheus
need_cmd curl
need_cmd python3 python3-minimal
python3 -c 'import yaml' 2>/dev/null || die "python3 cannot import yaml; install python3-yaml"

make_scratch
stop() { # pid
  kill -TERM "$1" 2>/dev/null || return 0
  local i
  for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The daemon, metrics on loopback.
metrics_port=$(free_port)
"$daemon" --socket "$scratch/run/enospcd.sock" --state-dir "$scratch/state" \
  --metrics-listen "127.0.0.1:$metrics_port" >"$scratch/daemon.log" 2>&1 &
daemon_pid=$!
on_exit "stop $daemon_pid"
wait_for 30 curl -fsS "http://127.0.0.1:$metrics_port/healthz" ||
  die "the daemon does not answer /healthz on 127.0.0.1:$metrics_port: $(tail -n 5 "$scratch/daemon.log")"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >"$scratch/metrics.txt"
lint=$(promtool check metrics <"$scratch/metrics.txt" 2>&1) || die "promtool check metrics: $lint"
[[ -z $lint ]] || die "promtool check metrics has complaints: $lint"
for m in enospcd_failures_total enospcd_events_lost_total enospcd_degraded enospcd_origin_probes enospcd_build_info; do
  grep -q "^# TYPE $m " "$scratch/metrics.txt" || die "the daemon does not export $m"
done

# Prometheus with the packaged job and rules; pod discovery replaced by file_sd carrying the same meta labels.
prom_port=$(free_port)
python3 - "$packaging_src/prometheus/scrape.yaml" "$packaging_src/prometheus/rules.yaml" "$scratch" "$metrics_port" <<'EOF'
import json, os, sys, yaml
scrape, rules, out, port = sys.argv[1:]
cfg = yaml.safe_load(open(scrape))
cfg["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
cfg["rule_files"] = [rules]
job = [j for j in cfg["scrape_configs"] if j["job_name"] == "enospcd"][0]
del job["kubernetes_sd_configs"]
job["scrape_interval"] = "1s"
job["file_sd_configs"] = [{"files": [os.path.join(out, "pods.json")], "refresh_interval": "1s"}]
pod = {"__meta_kubernetes_namespace": "enospcd", "__meta_kubernetes_pod_name": "enospcd-x7k2p",
       "__meta_kubernetes_pod_node_name": "node-a", "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
       "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics"}
targets = [
    {"targets": [f"127.0.0.1:{port}"], "labels": {**pod, "__meta_kubernetes_pod_container_port_name": "metrics"}},
    {"targets": ["127.0.0.1:1"], "labels": {**pod, "__meta_kubernetes_pod_container_port_name": "debug"}},
    {"targets": ["127.0.0.1:2"], "labels": {"__meta_kubernetes_pod_name": "other", "__meta_kubernetes_pod_container_port_name": "metrics"}},
]
json.dump(targets, open(os.path.join(out, "pods.json"), "w"))
yaml.safe_dump(cfg, open(os.path.join(out, "prometheus.yml"), "w"))
EOF
promtool check config "$scratch/prometheus.yml" >/dev/null 2>&1 || die "$(promtool check config "$scratch/prometheus.yml" 2>&1)"
prometheus --config.file="$scratch/prometheus.yml" --storage.tsdb.path="$scratch/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$scratch/prometheus.log" 2>&1 &
prom_pid=$!
on_exit "stop $prom_pid"
api=http://127.0.0.1:$prom_port/api/v1
wait_for 60 curl -fsS "http://127.0.0.1:$prom_port/-/ready" || die "Prometheus is not ready: $(tail -n 5 "$scratch/prometheus.log")"

query() { # promql -> first value, or nothing
  curl -fsS --get --data-urlencode "query=$1" "$api/query" |
    python3 -c 'import json,sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
wait_value() { # seconds promql minimum
  local deadline=$((SECONDS + $1)) v
  while ((SECONDS < deadline)); do
    v=$(query "$2")
    [[ -n $v ]] && python3 -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]))' "$v" "$3" && { echo "$v"; return 0; }
    sleep 0.5
  done
  echo "${v:-none}"
  return 1
}

up=$(wait_value 30 'up{job="enospcd",enospcd_pod="enospcd-x7k2p",node="node-a"}' 1) ||
  die "Prometheus does not scrape the daemon with the job's labels (up: $up); targets: $(curl -fsS "$api/targets")"

# Real failures, in two rounds, so that the counter rises while Prometheus watches it. mkfifo (mknodat) on a
# tmpfs without free inodes: a syscall that other tests' storms of open/write failures do not use.
series='enospcd_failures_total{job="enospcd",node="node-a",syscall="mknodat",errno="ENOSPC",cause="tmpfs_inodes"}'
mount_small_tmpfs "$scratch/t" 4
fill_inodes_until_enospc "$scratch/t"
fifo_fails() { # n
  local i
  for ((i = 0; i < $1; i++)); do
    ! mkfifo "$scratch/t/fifo$i" 2>/dev/null || die "mkfifo did not fail on the full tmpfs"
  done
}
fifo_fails 1
first=$(wait_value 30 "sum($series)" 1) || die "Prometheus never saw the first failure ($series: $first)"
fifo_fails 3
second=$(wait_value 30 "sum($series)" "$((${first%.*} + 3))") ||
  die "the counter did not rise by 3 after three more failures ($first -> $second)"
wait_value 30 'count(ALERTS{alertname="EnospcFailures",alertstate="firing",syscall="mknodat",node="node-a"})' 1 >/dev/null ||
  die "the alert EnospcFailures does not fire: $(curl -fsS "$api/alerts")"

curl -fsS "$api/targets?state=any" >"$scratch/targets.json"
curl -fsS "$api/rules" >"$scratch/rules.json"
python3 - "$scratch/targets.json" "$scratch/rules.json" <<'EOF' || die "targets or rules wrong (above)"
import json, sys
t = json.load(open(sys.argv[1]))["data"]
r = json.load(open(sys.argv[2]))["data"]["groups"]
problems = []
active = [x for x in t["activeTargets"] if x["labels"].get("job") == "enospcd"]
if len(active) != 1 or active[0]["health"] != "up":
    problems.append(f"expected one healthy enospcd target, got {[(x['scrapeUrl'], x['health']) for x in active]}")
if len(t["droppedTargets"]) != 2:
    problems.append(f"expected the relabelling to drop 2 targets, it dropped {len(t['droppedTargets'])}")
rules = [x for g in r for x in g["rules"]]
if len(rules) != 6 or any(x["health"] != "ok" for x in rules):
    problems.append(f"rules not all healthy: {[(x['name'], x['health'], x.get('lastError')) for x in rules]}")
if problems:
    sys.exit("\n".join(problems))
EOF
say "ok: promtool check metrics clean; Prometheus scraped the relabelled target, saw the counter go $first -> $second," \
  "all 5 rules healthy, EnospcFailures firing"
