#!/usr/bin/env python3
"""The gateway against LiteLLM, in one run, in front of the same fake upstream (`make bench`).

nginx answers every chat completion with a fixed OpenAI body (the upstream); `wrk` loads
  - nginx directly (the floor),
  - the LiteLLM proxy (pinned, from PyPI, in a virtualenv this script makes; 1 and 2 workers),
  - Steward's release binary on SQLite and on PostgreSQL, every call decided, reserved, settled
    and audited (`POST /v1/chat/completions` with a member's key),
at 1, 16 and 64 connections, and prints the table with the ratios to LiteLLM and the latency
Steward adds at one connection. Never part of `make test` or CI.

Environment: BENCH_SECS (default 10 per run), BENCH_CONNECTIONS ("1,16,64"), BENCH_SKIP
("litellm" to leave it out), BENCH_SOAK (mixed calls on SQLite after its runs, default 10000;
0 leaves it out), BENCH_PROFILE (a directory: `perf` records Steward during each
16-connection run and writes the report there), CARGO_TARGET_DIR, STEWARD_TEST_POSTGRES_URL
(default postgres://postgres@127.0.0.1:5432/postgres).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone

LITELLM = "litellm[proxy]==1.100.5"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
STEWARD = os.path.join(TARGET, "release", "steward")
SECS = int(os.environ.get("BENCH_SECS", "10"))
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "1,16,64").split(",")]
SKIP = set(filter(None, os.environ.get("BENCH_SKIP", "").split(",")))
PROFILE = os.environ.get("BENCH_PROFILE")
SOAK = int(os.environ.get("BENCH_SOAK", "10000"))
PG_ADMIN = os.environ.get("STEWARD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

ANSWER = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1764460800, "model": "echo",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}
BODY = {"model": "MODEL", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 16}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(tool, package):
    if shutil.which(tool):
        return
    print(f"installing {package} (Debian) for {tool}", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, stdout=subprocess.DEVNULL)


def wait_http(url, secs=60):
    end = time.time() + secs
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up in {secs} s")


def call(method, url, key=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", "Bearer " + key)
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
        return json.loads(text) if text else {}


def rss_mb(pid):
    """Resident memory of a process and its children, MB."""
    total = 0
    pids = [str(pid)] + subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wrk(url, key, model, connections, secs, work):
    body = dict(BODY, model=model)
    script = os.path.join(work, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        if key:
            f.write(f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{secs}s", "--latency", "--timeout", "10s", "-s", script, url],
        capture_output=True, text=True, check=True,
    ).stdout

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return float("nan")
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": errors}


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, args, log, env=None, cwd=None):
        p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, cwd=cwd,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in self.procs:
            self.stop(p)


def nginx(procs, work):
    need("nginx", "nginx-light")
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    body = json.dumps(ANSWER).replace("'", "\\'")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
""")
    procs.start(["nginx", "-c", conf, "-p", work], os.path.join(work, "nginx.log"))
    wait_http(f"http://127.0.0.1:{port}/v1/models")
    return port


def litellm(procs, work, upstream, workers):
    venv = os.path.join(TARGET, "bench", "litellm-venv")
    py = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, ".installed")
    if not os.path.exists(marker) or open(marker).read() != LITELLM:
        print(f"installing {LITELLM} into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", LITELLM], check=True)
        with open(marker, "w") as f:
            f.write(LITELLM)
    conf = os.path.join(work, "litellm.yaml")
    with open(conf, "w") as f:
        f.write(f"""model_list:
  - model_name: echo
    litellm_params:
      model: openai/echo
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: bench
""")
    port = free_port()
    env = dict(os.environ, LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False", DISABLE_ADMIN_UI="True")
    p = procs.start([os.path.join(venv, "bin", "litellm"), "--config", conf, "--port", str(port),
                     "--num_workers", str(workers)], os.path.join(work, f"litellm-{workers}.log"), env=env)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", 180)
    return p, port


def steward_env(url, port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update({
        "STEWARD_DATABASE__URL": url,
        "STEWARD_SERVER__PORT": str(port),
        "STEWARD_TELEMETRY__FILTER": "warn",
        "STEWARD_DATABASE__POOL_MAX_SIZE": "16",
    })
    return env


def sql(backend, url, statement):
    if backend == "sqlite":
        import sqlite3
        with sqlite3.connect(url.removeprefix("sqlite://")) as c:
            c.execute(statement)
    else:
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", statement], check=True,
                       stdout=subprocess.DEVNULL)


def steward(procs, work, backend, upstream):
    if backend == "sqlite":
        url = "sqlite://" + os.path.join(work, "steward.db")
    else:
        base = PG_ADMIN.rsplit("/", 1)[0]
        subprocess.run(["psql", "-q", PG_ADMIN, "-c", "DROP DATABASE IF EXISTS steward_bench"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["psql", "-q", PG_ADMIN, "-c", "CREATE DATABASE steward_bench"], check=True,
                       stdout=subprocess.DEVNULL)
        url = base + "/steward_bench"
    port = free_port()
    env = steward_env(url, port)
    subprocess.run([STEWARD, "migrate"], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    sql(backend, url, "INSERT INTO providers (name, kind, display_name, base_url, api_key_env, enabled, updated_at) "
        f"VALUES ('bench', 'openai', 'Bench upstream', 'http://127.0.0.1:{upstream}/v1', '', TRUE, '{now}')")

    def key(role, name):
        out = subprocess.run([STEWARD, "keys", "create", "--role", role, "--name", name], env=env, cwd=work,
                             check=True, capture_output=True, text=True).stdout
        return out.strip().splitlines()[-1]

    admin, member = key("admin", "bench-admin"), key("member", "bench-member")
    p = procs.start([STEWARD, "serve"], os.path.join(work, f"steward-{backend}.log"), env=env, cwd=work)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/readyz")
    call("PUT", base + "/api/v1/models/bench/echo", admin, {"per_request": 100})
    me = call("GET", base + "/api/v1/me", member)
    uid = me.get("user", me)["id"]
    call("PATCH", f"{base}/api/v1/users/{uid}", admin, {"verified": True})
    call("POST", f"{base}/api/v1/users/{uid}/deposits", admin, {"amount": 1_000_000 * 1_000_000})
    project = call("POST", base + "/api/v1/projects", member, {"name": "Bench"})["id"]
    call("PUT", f"{base}/api/v1/projects/{project}/policy", member, {
        "allowed_providers": ["bench"], "allowed_models": ["bench/echo"],
        "rate_per_minute": 1_000_000, "rate_per_hour": 10_000_000, "rate_per_day": 100_000_000,
    })
    call("PUT", f"{base}/api/v1/projects/{project}/budget", member,
         {"per_request": 1_000_000, "daily": 10**15, "monthly": 10**15})
    answer = call("POST", base + "/v1/chat/completions", member, dict(BODY, model="bench/echo"))
    assert answer["choices"][0]["message"]["content"] == "pong", answer
    return p, base, member, project


def soak(proc, base, key, project, total, clients=16):
    """`total` mixed calls (chat completions, streamed completions, `POST /api/v1/requests`) from
    `clients` threads: the statuses, the throughput of the first and the last 2,000, and the
    server's memory over the run."""
    import http.client
    import threading

    port = int(base.rsplit(":", 1)[1])
    kinds = [
        ("/v1/chat/completions", dict(BODY, model="bench/echo")),
        ("/api/v1/requests", {"provider": "bench", "model": "echo", "operation": "chat", "project": project,
                              "messages": [{"role": "user", "content": "ping"}], "max_tokens": 16}),
        ("/v1/chat/completions", dict(BODY, model="bench/echo", stream=True)),
    ]
    done, statuses, lock = [], {}, threading.Lock()
    counter = iter(range(total))
    rss = [rss_mb(proc.pid)]
    running = True

    def sample():
        while running:
            rss.append(rss_mb(proc.pid))
            time.sleep(1)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            path, body = kinds[i % len(kinds)]
            conn.request("POST", path, json.dumps(body), {"Authorization": "Bearer " + key,
                                                          "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            with lock:
                done.append(time.time())
                statuses[r.status] = statuses.get(r.status, 0) + 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    running = False
    done.sort()
    window = min(2000, len(done) // 2)
    first = window / max(done[window - 1] - done[0], 1e-9)
    last = window / max(done[-1] - done[-window], 1e-9)
    return {"statuses": statuses, "first": first, "last": last, "rss_start": rss[0], "rss_end": rss[-1],
            "rss_max": max(rss)}


def main():
    if not os.path.exists(STEWARD):
        raise SystemExit(f"{STEWARD} is missing: run `make build` first")
    need("wrk", "wrk")
    work = tempfile.mkdtemp(prefix="steward-bench-")
    procs = Procs()
    rows = []
    try:
        upstream = nginx(procs, work)
        targets = [("nginx (upstream alone)", None, f"http://127.0.0.1:{upstream}/v1/chat/completions", None, "echo")]

        def measure(name, proc, url, key, model):
            wrk(url, key, model, 8, 2, work)  # warm-up
            for c in CONNECTIONS:
                perf = None
                if PROFILE and c == 16 and name.startswith("Steward"):
                    os.makedirs(PROFILE, exist_ok=True)
                    data = os.path.join(PROFILE, re.sub(r"\W+", "-", name.lower()).strip("-") + ".data")
                    perf = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-o", data, "-p", str(proc.pid)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                r = wrk(url, key, model, c, SECS, work)
                if perf:
                    perf.send_signal(signal.SIGINT)
                    perf.wait()
                    with open(data.replace(".data", ".txt"), "w") as out:
                        subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "1",
                                        "--sort", "dso,sym", "-g", "none"], stdout=out, stderr=subprocess.DEVNULL)
                r.update(target=name, connections=c, rss=rss_mb(proc.pid) if proc else float("nan"))
                rows.append(r)
                print(f"  {name:28} c={c:<3} {r['rps']:>9.0f} req/s  p50 {r['p50']:8.2f} ms  "
                      f"p99 {r['p99']:8.2f} ms  errors {r['errors']}", flush=True)

        measure(*targets[0])
        if "litellm" not in SKIP:
            for workers in (1, 2):
                p, port = litellm(procs, work, upstream, workers)
                measure(f"LiteLLM ({workers} worker{'s' if workers > 1 else ''})", p,
                        f"http://127.0.0.1:{port}/v1/chat/completions", None, "echo")
                procs.stop(p)
        soaked = None
        for backend in ("sqlite", "postgres"):
            p, base, member, project = steward(procs, work, backend, upstream)
            measure(f"Steward ({'SQLite' if backend == 'sqlite' else 'PostgreSQL'})", p,
                    base + "/v1/chat/completions", member, "bench/echo")
            if backend == "sqlite" and SOAK:
                print(f"  soak: {SOAK} mixed calls from 16 clients on SQLite", flush=True)
                soaked = soak(p, base, member, project, SOAK)
            procs.stop(p)
    finally:
        procs.stop_all()
    report(rows)
    if soaked:
        s = soaked
        print()
        print(f"Soak, SQLite: {SOAK} mixed calls from 16 clients (chat, streamed chat, /api/v1/requests)")
        print()
        print("| statuses | first 2,000 req/s | last 2,000 req/s | last/first | RSS MB start → end (max) |")
        print("|---|---:|---:|---:|---|")
        st = ", ".join(f"{k}: {v}" for k, v in sorted(s["statuses"].items()))
        print(f"| {st} | {s['first']:.0f} | {s['last']:.0f} | {s['last'] / s['first']:.2f} | "
              f"{s['rss_start']:.0f} → {s['rss_end']:.0f} ({s['rss_max']:.0f}) |")
    shutil.rmtree(work, ignore_errors=True)


def report(rows):
    print()
    print(f"Gateway benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"{SECS} s per run (wrk; nginx as the upstream)")
    print()
    print("| target | connections | req/s | p50 ms | p99 ms | errors | RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['target']} | {r['connections']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{r['errors']} | {r['rss']:.0f} |")
    by = {(r["target"], r["connections"]): r for r in rows}
    floor = {c: by.get(("nginx (upstream alone)", c)) for c in CONNECTIONS}
    print()
    print("| Steward | connections | × best LiteLLM req/s | added p50 ms (vs nginx) |")
    print("|---|---:|---:|---:|")
    for name in ("Steward (SQLite)", "Steward (PostgreSQL)"):
        for c in CONNECTIONS:
            s = by.get((name, c))
            if not s:
                continue
            lite = [by[k]["rps"] for k in by if k[0].startswith("LiteLLM") and k[1] == c]
            ratio = f"{s['rps'] / max(lite):.1f}" if lite else "n/a"
            added = s["p50"] - floor[c]["p50"] if floor.get(c) else float("nan")
            print(f"| {name} | {c} | {ratio} | {added:.2f} |")


if __name__ == "__main__":
    main()
