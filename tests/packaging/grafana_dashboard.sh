#!/usr/bin/env bash
# packaging/grafana/enospcd-dashboard.json is a dashboard Grafana loads: the fields of its dashboard model
# (uid, title, schemaVersion, panels with id, type, gridPos and targets, templating), no two panels in one place,
# every query valid PromQL (promtool parses each, with Grafana's variables replaced by values), on metrics and
# labels the daemon serves (enospcd(8), METRICS), and panels for failures by cause, by namespace and pod, and
# lost events.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_cmd promtool prometheus
need_cmd python3 python3-minimal
python3 -c 'import yaml' 2>/dev/null || die "python3 cannot import yaml; install python3-yaml"
dashboard=$packaging_src/grafana/enospcd-dashboard.json
make_scratch
python3 - "$dashboard" "$packaging_src/man/enospcd.8" "$scratch/rules.yaml" <<'PY' || die "the dashboard is wrong (above)"
import json, re, sys, yaml
path, man, rules_out = sys.argv[1:]
d = json.load(open(path))
problems = []
def need(ok, what):
    if not ok:
        problems.append(what)
for key, kind in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list), ("templating", dict),
                  ("time", dict)):
    need(isinstance(d.get(key), kind), f"dashboard.{key} missing or not a {kind.__name__}")
variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
need(variables.get("datasource", {}).get("type") == "datasource", "no datasource variable of type datasource")
documented = dict(re.findall(r"^\.B (enospcd_[a-z_]+)(?:\{([a-z_,]*)\})?$", open(man).read(), re.M))
labels_of = {m: set(l.split(",")) - {""} for m, l in documented.items()}
builtin = {"node", "instance", "job", "enospcd_pod"}  # the scrape job's
ids, cells, rules = set(), set(), []
for p in d.get("panels", []):
    pid = p.get("id")
    need(isinstance(pid, int) and pid not in ids, f"panel {pid}: id missing or repeated")
    ids.add(pid)
    need(isinstance(p.get("type"), str) and isinstance(p.get("title"), str), f"panel {pid}: no type or title")
    g = p.get("gridPos", {})
    need(all(isinstance(g.get(k), int) for k in "xywh") and g.get("x", 0) + g.get("w", 0) <= 24,
         f"panel {pid}: gridPos {g} is not within the 24 columns")
    for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
        for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
            need((x, y) not in cells, f"panel {pid} overlaps another at {x},{y}")
            cells.add((x, y))
    need(p.get("datasource", {}).get("uid") == "${datasource}", f"panel {pid}: datasource is not ${{datasource}}")
    targets = p.get("targets", [])
    need(len(targets) >= 1, f"panel {pid}: no query")
    for t in targets:
        expr = t.get("expr", "")
        need(t.get("refId"), f"panel {pid}: a target without refId")
        for var in re.findall(r"\$(\w+)", expr):
            need(var in variables or var in ("__range", "__rate_interval", "__interval"), f"panel {pid}: unknown ${var}")
        for m in re.findall(r"\benospcd_[a-z_]+", expr):
            need(m in documented, f"panel {pid}: {m} is no metric enospcd(8) lists")
        for m, sel in re.findall(r"\b(enospcd_[a-z_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)", sel):
                need(label in labels_of.get(m, set()) | builtin, f"panel {pid}: {m} has no label {label}")
        for label in re.findall(r"by \(([^)]*)\)", expr):
            for l in label.split(","):
                l = l.strip()
                need(l in builtin or any(l in s for s in labels_of.values()), f"panel {pid}: no metric has label {l}")
        concrete = expr.replace("$__range", "1h").replace("$__rate_interval", "2m").replace("$__interval", "1m")
        concrete = re.sub(r"\$\w+", ".*", concrete)
        rules.append({"record": f"panel_{pid}_{t.get('refId')}", "expr": concrete})
titles = " ".join(p.get("title", "").lower() for p in d.get("panels", []))
for what in ("cause", "namespace and pod", "lost"):
    need(what in titles, f"no panel about {what}")
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(rules_out, "w"))
if problems:
    sys.exit("\n".join(problems))
PY
promtool check rules "$scratch/rules.yaml" >&2 || die "a dashboard query is not valid PromQL (above)"
say "ok: dashboard model valid, $(grep -c 'record:' "$scratch/rules.yaml") queries parse as PromQL on documented metrics and labels"
