#!/usr/bin/env bash
# Checks the operators' examples against each other and against the metric
# catalog:
#   1. promtool check config examples/prometheus/prometheus.yml
#   2. promtool check rules examples/prometheus/alerts.yml
#   3. promtool test rules examples/prometheus/alerts_test.yml
#   4. every alert is really tested: with its expression replaced by one that
#      never fires, and by one that fires on every channel, the tests fail;
#   5. examples/grafana/grpc-resilience.json: valid JSON, unique panel ids,
#      a gridPos on every panel, the ${DS_PROMETHEUS} data source, the
#      channel and method variables, every query parses as PromQL;
#   6. every metric name in alerts.yml, in alerts_test.yml (input series and
#      expressions) and in the dashboard is a family of the catalog in
#      src/metrics.c (a histogram X also provides X_bucket, X_sum, X_count),
#      or a recording rule of alerts.yml. Unknown names are listed.
# Exits 0 only when every check passes. Needs bash, python3 and promtool
# (PROMTOOL=/path/to/promtool to use another one).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null 2>&1; then
  echo "check_observability: promtool not found (apt-get install prometheus, or set PROMTOOL)" >&2
  exit 2
fi
command -v python3 >/dev/null 2>&1 || { echo "check_observability: python3 not found" >&2; exit 2; }

config=examples/prometheus/prometheus.yml
rules=examples/prometheus/alerts.yml
tests=examples/prometheus/alerts_test.yml
dashboard=examples/grafana/grpc-resilience.json
catalog=src/metrics.c

failures=()
step() { printf '==== %s\n' "$*"; }
run() {
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAILED: $what"
    failures+=("$what")
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step "promtool check config $config"
run "promtool check config" "$promtool" check config "$config"

step "promtool check rules $rules"
run "promtool check rules" "$promtool" check rules "$rules"

step "promtool test rules $tests"
run "promtool test rules" "$promtool" test rules "$tests"

# The Python half: the line-level YAML reading (no PyYAML needed: the files
# use plain "key: value" and "key: |" block scalars), the mutations, the
# dashboard and the catalog.
cat >"$tmp/lib.py" <<'PY'
import re

KEY = re.compile(r'^(\s*)(?:-\s+)?([A-Za-z_][\w]*):\s*(.*?)\s*$')


def unquote(v):
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        inner = v[1:-1]
        return inner.replace("''", "'") if v[0] == "'" else inner
    return v


def yaml_values(path, key):
    """(line number, value) of every `key:` in a YAML file, block scalars
    (| or >, with any chomping indicator) joined with newlines."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = KEY.match(lines[i])
        if m and m.group(2) == key:
            indent = len(m.group(1))
            v = m.group(3)
            if re.fullmatch(r'[|>][+-]?', v):
                body = []
                j = i + 1
                while j < len(lines) and (lines[j].strip() == "" or
                                          len(lines[j]) - len(lines[j].lstrip()) > indent):
                    body.append(lines[j].strip())
                    j += 1
                out.append((i + 1, "\n".join(b for b in body if b)))
                i = j
                continue
            out.append((i + 1, unquote(v)))
        i += 1
    return out


def alert_blocks(path):
    """[(name, first line index, end line index)] of each rule in a rules
    file: from its `- alert:` or `- record:` line to the next rule or the
    end of its list."""
    lines = open(path, encoding="utf-8").read().split("\n")
    starts = []
    for i, l in enumerate(lines):
        m = re.match(r'^(\s*)-\s+(alert|record):\s*(\S+)', l)
        if m:
            starts.append((i, len(m.group(1)), m.group(2), m.group(3)))
    blocks = []
    for k, (i, ind, kind, name) in enumerate(starts):
        end = i + 1
        while end < len(lines):
            l = lines[end]
            if l.strip() and not l.lstrip().startswith("#"):
                if len(l) - len(l.lstrip()) <= ind:
                    break
            end += 1
        blocks.append((kind, name, i, end))
    return lines, blocks


def mutate(path, alert, new_expr, out):
    """Writes path to out with alert's expr replaced by new_expr."""
    lines, blocks = alert_blocks(path)
    for kind, name, i, end in blocks:
        if kind != "alert" or name != alert:
            continue
        j = i
        while j < end:
            m = KEY.match(lines[j])
            if m and m.group(2) == "expr":
                indent = len(m.group(1))
                k = j + 1
                if re.fullmatch(r'[|>][+-]?', m.group(3)):
                    while k < end and (lines[k].strip() == "" or
                                       len(lines[k]) - len(lines[k].lstrip()) > indent):
                        k += 1
                prefix = lines[j][:lines[j].index("expr:")]
                lines[j:k] = [prefix + "expr: " + new_expr]
                open(out, "w", encoding="utf-8").write("\n".join(lines))
                return True
            j += 1
    return False


# PromQL: what is not a metric name.
KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring",
            "group_left", "group_right", "offset", "inf", "nan", "atan2",
            "start", "end"}


def metric_names(expr):
    """The metric names a PromQL expression selects (Grafana variables
    such as $channel or ${DS_PROMETHEUS} allowed)."""
    names = set(re.findall(r'__name__\s*=~?\s*"([A-Za-z_:][\w:]*)"', expr))
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r'\{[^{}]*\}', ' ', e)
    e = re.sub(r'\[[^\]]*\]', ' ', e)
    e = re.sub(r'\$\{[^}]*\}|\$\w+', ' ', e)
    e = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', e)
    for m in re.finditer(r'(?<![\w.:])[A-Za-z_:][\w:]*', e):
        tok = m.group(0)
        if tok.lower() in KEYWORDS:
            continue
        if re.match(r'\s*\(', e[m.end():]):
            continue  # a function
        names.add(tok)
    return names


def label_values_selector(q):
    """The metric selector of a Grafana label_values(selector, label)
    query; None for label_values(label) or other query kinds."""
    m = re.fullmatch(r'\s*label_values\((.*)\)\s*', q, re.S)
    if not m:
        return None
    inner = m.group(1)
    depth = 0
    cut = None
    in_str = False
    for i, c in enumerate(inner):
        if c == '"' and (i == 0 or inner[i - 1] != "\\"):
            in_str = not in_str
        elif not in_str:
            if c in "({[":
                depth += 1
            elif c in ")}]":
                depth -= 1
            elif c == "," and depth == 0:
                cut = i
    return inner[:cut].strip() if cut is not None else None


GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def as_promql(q):
    """A dashboard query with its Grafana variables replaced by values that
    promtool can parse."""
    for k, v in GRAFANA_VARS.items():
        q = q.replace(k, v)
    q = re.sub(r'\$\{[^}]*\}|\$\w+', '.*', q)
    return q


def dashboard_queries(d):
    """[(where, expr)]: every panel target's expr and every query
    variable's selector."""
    out = []
    def walk(panels):
        for p in panels:
            for t in p.get("targets", []) or []:
                if t.get("expr"):
                    out.append(("panel %s %r %s" % (p.get("id"), p.get("title"), t.get("refId")),
                                t["expr"]))
            walk(p.get("panels", []) or [])
    walk(d.get("panels", []))
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query", "")
        sel = label_values_selector(q or "")
        if sel:
            out.append(("variable %s" % v.get("name"), sel))
        elif q and not q.strip().startswith("label_values("):
            out.append(("variable %s" % v.get("name"), q))
    return out


def catalog(path):
    """Every name the catalog provides: the families of kFamilies, with a
    histogram's _bucket, _sum and _count."""
    src = open(path, encoding="utf-8").read()
    fams = re.findall(r'\{\s*\{\s*"([A-Za-z_:][\w:]*)"\s*,\s*GRPCR_METRIC_(COUNTER|GAUGE|HISTOGRAM)\b', src)
    names = set()
    for name, typ in fams:
        names.add(name)
        if typ == "HISTOGRAM":
            names.update(name + s for s in ("_bucket", "_sum", "_count"))
    return fams, names
PY

step "every alert has a test that fails when it is broken"
# Meaningful only once the tests pass as they are.
mutations_ok=0
for f in "${failures[@]}"; do [ "$f" = "promtool test rules" ] && mutations_ok=1; done
cat >"$tmp/mutate.py" <<'PY'
import os, shutil, subprocess, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
import lib
promtool, rules, tests, tmp = sys.argv[1:5]
d = os.path.join(tmp, "mut")
os.makedirs(d, exist_ok=True)
shutil.copy(tests, os.path.join(d, os.path.basename(tests)))
_, blocks = lib.alert_blocks(rules)
alerts = [name for kind, name, _, _ in blocks if kind == "alert"]
if not alerts:
    print("no alerts found in %s" % rules)
    sys.exit(1)
# Never fires / fires on every channel (every channel has grpcr_requests_total).
mutants = [("never fires", "vector(1) < 0"), ("always fires", "grpcr_requests_total")]
bad = []
for a in alerts:
    for what, expr in mutants:
        out = os.path.join(d, os.path.basename(rules))
        if not lib.mutate(rules, a, expr, out):
            print("  %s: no expr found" % a)
            bad.append(a)
            continue
        r = subprocess.run([promtool, "test", "rules", os.path.join(d, os.path.basename(tests))],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        caught = r.returncode != 0
        print("  %-34s %-13s %s" % (a, what + ":", "caught" if caught else "NOT CAUGHT: no test fails"))
        if not caught:
            bad.append(a)
sys.exit(1 if bad else 0)
PY
if [ "$mutations_ok" = 0 ]; then
  run "alert mutations" python3 "$tmp/mutate.py" "$promtool" "$rules" "$tests" "$tmp"
else
  echo "skipped: the tests fail as they are"
  failures+=("alert mutations (skipped)")
fi

step "dashboard $dashboard"
cat >"$tmp/dashboard.py" <<'PY'
import json, os, re, subprocess, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
import lib
promtool, path, tmp = sys.argv[1:4]
errors = []
try:
    d = json.load(open(path, encoding="utf-8"))
except (OSError, ValueError) as e:
    print("  not valid JSON: %s" % e)
    sys.exit(1)
ids = {}
count = 0
def walk(panels):
    global count
    for p in panels:
        count += 1
        pid = p.get("id")
        title = p.get("title")
        if not isinstance(pid, int):
            errors.append("panel %r has no integer id" % title)
        elif pid in ids:
            errors.append("panel id %d used by %r and %r" % (pid, ids[pid], title))
        else:
            ids[pid] = title
        g = p.get("gridPos")
        if not isinstance(g, dict) or not all(isinstance(g.get(k), int) for k in "hwxy"):
            errors.append("panel %r has no gridPos with integer h, w, x, y" % title)
        elif g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
            errors.append("panel %r is outside the 24-column grid: %r" % (title, g))
        if p.get("type") != "row":
            ds = p.get("datasource") or {}
            if not (isinstance(ds, dict) and ds.get("uid") == "${DS_PROMETHEUS}"):
                errors.append("panel %r does not use the ${DS_PROMETHEUS} data source" % title)
            for t in p.get("targets", []) or []:
                tds = t.get("datasource")
                if tds is not None and tds.get("uid") != "${DS_PROMETHEUS}":
                    errors.append("panel %r target %s uses another data source" % (title, t.get("refId")))
            if not p.get("targets"):
                errors.append("panel %r has no query" % title)
        walk(p.get("panels", []) or [])
walk(d.get("panels", []))
vars_ = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
ds = vars_.get("DS_PROMETHEUS")
if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
    errors.append("no DS_PROMETHEUS variable of type datasource (prometheus)")
for name in ("channel", "method"):
    v = vars_.get(name)
    q = (v or {}).get("query")
    if isinstance(q, dict):
        q = q.get("query")
    if not v or v.get("type") != "query" or not (q or "").startswith("label_values("):
        errors.append("no %s variable from label_values" % name)
# Every query must parse: as recording rules for promtool check rules.
queries = lib.dashboard_queries(d)
rf = os.path.join(tmp, "dashboard_rules.yml")
with open(rf, "w", encoding="utf-8") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (where, q) in enumerate(queries):
        f.write("      - record: dashboard_query_%d\n        expr: %s\n"
                % (i, json.dumps(lib.as_promql(q))))
r = subprocess.run([promtool, "check", "rules", rf], capture_output=True, text=True)
if r.returncode != 0:
    out = r.stdout + r.stderr
    bad = sorted({int(n) for n in re.findall(r'dashboard_query_(\d+)', out)})
    for n in bad:
        errors.append("%s does not parse as PromQL: %s" % (queries[n][0], queries[n][1]))
    if not bad:
        errors.append("a query does not parse as PromQL:\n" + out)
print("  %d panels, %d queries, schemaVersion %s" % (count, len(queries), d.get("schemaVersion")))
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
PY
run "dashboard JSON" python3 "$tmp/dashboard.py" "$promtool" "$dashboard" "$tmp"

step "metric names against the catalog in $catalog"
cat >"$tmp/names.py" <<'PY'
import json, os, re, sys
sys.path.insert(0, os.path.dirname(sys.argv[0]))
import lib
catalog_path, rules, tests, dashboard = sys.argv[1:5]
fams, known = lib.catalog(catalog_path)
if not fams:
    print("  no families found in %s (the kFamilies table moved?)" % catalog_path)
    sys.exit(1)
print("  %d families in the catalog (%d names with histogram series)" % (len(fams), len(known)))
recorded = {v for _, v in lib.yaml_values(rules, "record")}
used = {}  # name -> [where]
def add(names, where):
    for n in names:
        used.setdefault(n, []).append(where)
for line, e in lib.yaml_values(rules, "expr"):
    add(lib.metric_names(e), "%s:%d" % (rules, line))
for line, s in lib.yaml_values(tests, "series"):
    m = re.match(r'\s*([A-Za-z_:][\w:]*)', s)
    if m:
        add({m.group(1)}, "%s:%d (input series)" % (tests, line))
for line, e in lib.yaml_values(tests, "expr"):
    add(lib.metric_names(e), "%s:%d" % (tests, line))
try:
    d = json.load(open(dashboard, encoding="utf-8"))
    for where, q in lib.dashboard_queries(d):
        add(lib.metric_names(q), "%s %s" % (dashboard, where))
except (OSError, ValueError) as e:
    print("  cannot read %s: %s" % (dashboard, e))
unknown = sorted(n for n in used if n not in known and n not in recorded)
print("  %d metric names used, %d unknown" % (len(used), len(unknown)))
if unknown:
    print("  not in the catalog (%s):" % catalog_path)
    for n in unknown:
        files = sorted({w.split(" ")[0].split(":")[0] for w in used[n]})
        print("    %-48s used in %s" % (n, ", ".join(files)))
sys.exit(1 if unknown else 0)
PY
run "metric names in the catalog" python3 "$tmp/names.py" "$catalog" "$rules" "$tests" "$dashboard"

echo
if [ ${#failures[@]} -eq 0 ]; then
  echo "check_observability: all checks passed"
  exit 0
fi
echo "check_observability: ${#failures[@]} check(s) failed: $(IFS=,; echo "${failures[*]}" | sed 's/,/, /g')"
exit 1
