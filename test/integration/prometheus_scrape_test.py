#!/usr/bin/env python3
"""A real Prometheus scrapes the /metrics endpoint of two unmodified clients
under the preload (GRPCR_METRICS_ADDR), and its HTTP API must return the
series with the values the endpoint itself serves:

  a: calls to examples/flaky_server (half of the attempts fail) with a retry
     policy and a breaker that stays closed: grpcr_circuit_breaker_state 0,
     grpc_client_call_retries_count > 0;
  b: calls to a closed port with a breaker that opens after 3 calls:
     grpcr_circuit_breaker_state 1.

  prometheus_scrape_test.py BUILD_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

build = os.path.abspath(sys.argv[1])
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
procs = []
failures = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def scrape_value(port, series):
    """The value of one series line in the endpoint's own exposition."""
    for line in get(f"http://127.0.0.1:{port}/metrics").splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def query(prom, expr):
    url = f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    data = json.loads(get(url))
    if data.get("status") != "success":
        return None
    return [(r["metric"], float(r["value"][1])) for r in data["data"]["result"]]


def wait_for(fn, timeout_s, what):
    deadline = time.time() + timeout_s
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError):
            pass
        time.sleep(0.25)
    check(False, f"{what} (last: {last!r})")
    return None


def main():
    tmp = tempfile.mkdtemp(prefix="grpcr-prom-")
    try:
        server_port, port_a, port_b, prom = free_port(), free_port(), free_port(), free_port()
        closed = free_port()
        procs.append(subprocess.Popen(
            [os.path.join(build, "flaky_server"), "--port", str(server_port), "--mode", "fail",
             "--fail-rate", "0.5", "--seed", "7", "--duration", "120"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        policy_a = json.dumps({
            "resilience": {"circuitBreaker": {"minimumCalls": 100000}},
            "methodConfig": [{"name": [{"service": "echo.Echo"}],
                              "resilience": {"maxAttempts": 5, "initialBackoff": "0.01s",
                                             "maxBackoff": "0.05s"}}]})
        policy_b = json.dumps({"resilience": {"circuitBreaker": {
            "minimumCalls": 3, "openDuration": "600s"}}})
        client = os.path.join(build, "preload_plain_client")
        preload = os.path.join(build, "libgrpcr_preload.so")
        for port, policy, target, calls in ((port_a, policy_a, f"127.0.0.1:{server_port}", 300),
                                            (port_b, policy_b, f"127.0.0.1:{closed}", 10)):
            env = dict(os.environ, LD_PRELOAD=preload, GRPCR_CONFIG=policy,
                       GRPCR_METRICS_ADDR=f"127.0.0.1:{port}", PLAIN_CLIENT_HOLD_MS="60000")
            procs.append(subprocess.Popen([client, target, str(calls)], env=env,
                                          stdout=open(os.path.join(tmp, f"client{port}.out"), "w"),
                                          stderr=subprocess.STDOUT))
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: a
    static_configs: [{{targets: ['127.0.0.1:{port_a}']}}]
  - job_name: b
    static_configs: [{{targets: ['127.0.0.1:{port_b}']}}]
""")
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={tmp}/prometheus.yml",
             f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{prom}"],
            stdout=open(os.path.join(tmp, "prometheus.log"), "w"), stderr=subprocess.STDOUT))

        # Both clients scraped while a still makes calls (300 calls with
        # retries take several seconds), then until their figures settle.
        up = wait_for(lambda: [v for _, v in query(prom, "up") or [] if v == 1] == [1, 1],
                      30, "Prometheus scrapes both endpoints (up == 1)")
        check(up is not None, "both targets up")
        out_a = os.path.join(tmp, f"client{port_a}.out")
        wait_for(lambda: "ok " in open(out_a).read(), 90, "client a finished its calls")
        target_a = f"dns:///127.0.0.1:{server_port}"
        a_labels = f'{{channel="{target_a}",target="{target_a}"}}'
        direct = scrape_value(port_a, f"grpc_client_call_retries_count"
                                      f'{{grpc_method="echo.Echo/Say",grpc_target="{target_a}"}}')
        check(direct is not None and direct > 0,
              f"the endpoint serves grpc_client_call_retries_count = {direct}")
        got = wait_for(lambda: [v for _, v in query(
            prom, 'grpc_client_call_retries_count{job="a",grpc_method="echo.Echo/Say"}') or []
            if v == direct], 20, "Prometheus has grpc_client_call_retries_count == endpoint's")
        check(got == [direct], f"Prometheus: grpc_client_call_retries_count{{job=a}} = {got}")
        state_a = wait_for(lambda: query(prom, 'grpcr_circuit_breaker_state{job="a"}'), 10,
                           "grpcr_circuit_breaker_state for a")
        check(state_a is not None and [v for _, v in state_a] == [0.0],
              f"Prometheus: grpcr_circuit_breaker_state{{job=a}} = {state_a and state_a[0][1]} (closed)")
        requests = scrape_value(port_a, "grpcr_requests_total" + a_labels)
        check(requests == 300.0, f"the endpoint serves grpcr_requests_total = {requests}")
        got = wait_for(lambda: [v for _, v in query(prom, 'grpcr_requests_total{job="a"}') or []
                                if v == 300.0], 10, "Prometheus has grpcr_requests_total 300")
        check(got == [300.0], "Prometheus: grpcr_requests_total{job=a} = 300")
        state_b = wait_for(lambda: [v for _, v in query(prom, 'grpcr_circuit_breaker_state{job="b"}') or []
                                    if v == 1.0], 20, "grpcr_circuit_breaker_state for b is 1")
        check(state_b == [1.0], "Prometheus: grpcr_circuit_breaker_state{job=b} = 1 (open)")
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
        if failures:
            for name in os.listdir(tmp):
                if name.endswith((".out", ".log")):
                    print(f"--- {name}:\n" + open(os.path.join(tmp, name)).read()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"prometheus_scrape_test: {len(failures)} check(s) failed")
        return 1
    print("prometheus_scrape_test: all checks passed")
    return 0


sys.exit(main())
