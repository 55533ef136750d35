#!/usr/bin/env python3
"""Load benchmark of emotiond's HTTP server (issue #18): a script, not a timed unit test.

Starts `emotiond run --config CFG --source CLIP --loop` with http.listen and outputs.metrics.listen
on free loopback ports (and history.path in a temporary directory, so /api/events and /api/report
answer), then for --seconds (default 60):
  * keeps --viewers (20) MJPEG live views open, counting the JPEG parts each one receives;
  * issues --rate (100) API requests a second, open loop (one every 1/rate s, on a thread pool),
    spread in turn over /api/state, /api/cameras, /api/events?limit=50, /api/report, /metrics;
    every request's latency is recorded (from its scheduled time, so a backed-up client counts too,
    and from when it was sent);
  * samples every second the daemon's fps (emotiond_fps and the frames_processed_total delta, from
    the separate outputs.metrics.listen port) and its RSS (/proc/PID/status VmRSS).
Prints a summary (and --json FILE writes it). Exit 0 when it ran; the numbers are for reading, not
asserted. Usage:

  .venv/bin/python tools/bench/web-load.py [--binary .build/release/emotiond] [--seconds 60]
"""
import argparse, concurrent.futures, http.client, json, os, shutil, socket, statistics, subprocess, sys
import tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENDPOINTS = ["/api/state", "/api/cameras", "/api/events?limit=50", "/api/report", "/metrics"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=10):
    """(status, body) of one GET on a fresh connection (the server closes plain answers)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def scrape(port):
    """{metric name: sum over its label sets} from a Prometheus text page."""
    _, body = get(port, "/metrics", timeout=5)
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            key = name.split("{")[0]
            try:
                out[key] = out.get(key, 0.0) + float(value)
            except ValueError:
                pass
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/emotiond"))
    ap.add_argument("--source", default=os.path.join(ROOT, "media/WolfgangLanger_Pexels.mp4"))
    ap.add_argument("--clip-fps", type=float, default=24.0, help="the clip's frame rate, for comparison")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--rate", type=float, default=100, help="API requests a second")
    ap.add_argument("--workers", type=int, default=32, help="threads issuing the API requests")
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="web-load.")
    port, mport = free_port(), free_port()
    while mport == port:
        mport = free_port()
    cfg = os.path.join(tmp, "emotiond.yaml")
    with open(cfg, "w") as f:
        f.write(f"camera:\n  name: cam1\noutputs:\n  metrics:\n    listen: 127.0.0.1:{mport}\n"
                f"http:\n  listen: 127.0.0.1:{port}\nhistory:\n  path: {tmp}/events.sqlite\n")
    stderr = open(os.path.join(tmp, "daemon.stderr"), "w+")
    d = subprocess.Popen([args.binary, "run", "--config", cfg, "--source", args.source, "--loop"],
                         stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        summary = run(args, d, port, mport)
    finally:
        d.terminate()
        try:
            status = d.wait(10)
        except subprocess.TimeoutExpired:
            d.kill()
            status = d.wait()
        stderr.seek(0)
        err = stderr.read()
    summary["daemon_exit"] = status
    if status != 0:
        print(f"daemon exit status {status}; its stderr:\n{err[-4000:]}", file=sys.stderr)
    print_summary(summary, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if status == 0 else 1


def run(args, d, port, mport):
    # Ready: /api/state answers with a processed frame (and the metrics port answers).
    deadline = time.time() + 30
    while True:
        if d.poll() is not None:
            sys.exit(f"the daemon exited ({d.returncode}) before it was ready")
        try:
            st, body = get(port, "/api/state", timeout=2)
            if st == 200 and json.loads(body)["cameras"][0].get("frame") is not None \
                    and scrape(mport).get("emotiond_fps", 0) > 0:
                break
        except (OSError, ValueError, KeyError, IndexError, http.client.HTTPException):
            pass
        if time.time() > deadline:
            sys.exit("the daemon did not become ready in 30 s")
        time.sleep(0.2)

    stop = threading.Event()
    lock = threading.Lock()
    parts = [0] * args.viewers
    errors = []  # (what, reason)
    latencies = {p: [] for p in ENDPOINTS}  # (from schedule, from send) in ms
    statuses = {}

    def viewer(i):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/cameras/cam1/stream.mjpeg")
            r = c.getresponse()
            if r.status != 200:
                raise RuntimeError(f"status {r.status}")
            while not stop.is_set():
                line = r.fp.readline()
                if not line:
                    raise RuntimeError("stream closed by the server")
                if line.lower().startswith(b"content-type: image/jpeg"):
                    parts[i] += 1
            c.close()
        except Exception as e:
            with lock:
                errors.append((f"viewer {i}", repr(e)))

    def api(path, scheduled):
        sent = time.perf_counter()
        try:
            st, _ = get(port, path)
        except Exception as e:
            st = None
            with lock:
                errors.append((path, repr(e)))
        done = time.perf_counter()
        with lock:
            statuses[st] = statuses.get(st, 0) + 1
            if st is not None:
                latencies[path].append(((done - scheduled) * 1000, (done - sent) * 1000))
            if st is not None and st != 200:
                errors.append((path, f"status {st}"))

    samples = []  # (t, fps gauge, processed total, rss KiB)

    def sampler():
        prev = None
        while not stop.is_set():
            t = time.perf_counter()
            try:
                m = scrape(mport)
                s = (t, m.get("emotiond_fps"), m.get("emotiond_frames_processed_total"), rss_kib(d.pid))
                samples.append(s)
            except Exception as e:
                with lock:
                    errors.append(("sampler", repr(e)))
            stop.wait(max(0, 1 - (time.perf_counter() - t)))

    rss_start = rss_kib(d.pid)
    sample_thread = threading.Thread(target=sampler, daemon=True)
    sample_thread.start()
    viewers = [threading.Thread(target=viewer, args=(i,), daemon=True) for i in range(args.viewers)]
    for t in viewers:
        t.start()
    pool = concurrent.futures.ThreadPoolExecutor(args.workers)
    start = time.perf_counter()
    n, interval, late = 0, 1 / args.rate, 0
    while True:
        at = start + n * interval
        if at - start >= args.seconds:
            break
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.05:
            late += 1
        pool.submit(api, ENDPOINTS[n % len(ENDPOINTS)], at)
        n += 1
    pool.shutdown(wait=True)
    elapsed = time.perf_counter() - start
    stop.set()
    for t in viewers:
        t.join(15)
    sample_thread.join(5)
    rss_end = rss_kib(d.pid)

    fps_gauge = [s[1] for s in samples if s[1] is not None]
    deltas = [(b[2] - a[2]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:]) if a[2] is not None and b[2] is not None]
    both = sorted(x for v in latencies.values() for x, _ in v)
    sent = sorted(y for v in latencies.values() for _, y in v)
    per = {p: {"n": len(v), "p50": round(pct(sorted(x for x, _ in v), 50), 1), "p99": round(pct(sorted(x for x, _ in v), 99), 1),
               "max": round(max((x for x, _ in v), default=float("nan")), 1)} for p, v in latencies.items()}
    return {
        "seconds": round(elapsed, 1), "viewers": args.viewers, "rate": args.rate,
        "requests": n, "achieved_rate": round(n / elapsed, 1), "late_dispatches": late,
        "fps_gauge": {"median": round(statistics.median(fps_gauge), 1) if fps_gauge else None,
                      "min": round(min(fps_gauge), 1) if fps_gauge else None, "n": len(fps_gauge)},
        "fps_processed": {"median": round(statistics.median(deltas), 1) if deltas else None, "min": round(min(deltas), 1) if deltas else None},
        "parts": {"min": min(parts), "median": statistics.median(parts), "max": max(parts), "all": parts},
        "latency_ms": {"p50": round(pct(both, 50), 1), "p99": round(pct(both, 99), 1), "max": round(both[-1], 1) if both else None,
                       "over_1s": sum(1 for x in both if x > 1000), "n": len(both)},
        "latency_sent_ms": {"p50": round(pct(sent, 50), 1), "p99": round(pct(sent, 99), 1), "max": round(sent[-1], 1) if sent else None},
        "per_endpoint": per,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": len(errors), "server_errors": sum(v for k, v in statuses.items() if k is not None and k >= 500),
        "error_samples": errors[:10],
        "rss_mib": {"start": round(rss_start / 1024, 1), "max": round(max([s[3] for s in samples] + [rss_start, rss_end]) / 1024, 1),
                    "end": round(rss_end / 1024, 1)},
    }


def print_summary(s, args):
    if "fps_gauge" not in s:
        return
    print(f"web load: {s['viewers']} MJPEG viewers + {s['rate']:g} API req/s for {s['seconds']} s "
          f"({s['requests']} requests, {s['achieved_rate']} /s achieved, {s['late_dispatches']} dispatched > 50 ms late)")
    g, p = s["fps_gauge"], s["fps_processed"]
    print(f"  camera fps (clip {args.clip_fps:g}): emotiond_fps median {g['median']}, min {g['min']} (n {g['n']}); "
          f"frames_processed delta/s median {p['median']}, min {p['min']}")
    print(f"  parts per viewer: min {s['parts']['min']}, median {s['parts']['median']}, max {s['parts']['max']}")
    l, ls = s["latency_ms"], s["latency_sent_ms"]
    print(f"  request latency (from schedule): p50 {l['p50']} ms, p99 {l['p99']} ms, max {l['max']} ms, > 1 s: {l['over_1s']} of {l['n']}")
    print(f"  request latency (from send):     p50 {ls['p50']} ms, p99 {ls['p99']} ms, max {ls['max']} ms")
    for path, v in s["per_endpoint"].items():
        print(f"    {path:24} n {v['n']:5}  p50 {v['p50']:7} ms  p99 {v['p99']:7} ms  max {v['max']:7} ms")
    print(f"  errors: {s['errors']} (5xx: {s['server_errors']}); statuses {s['statuses']}")
    for what, why in s["error_samples"]:
        print(f"    {what}: {why}")
    r = s["rss_mib"]
    print(f"  RSS: start {r['start']} MiB, max {r['max']} MiB, end {r['end']} MiB; daemon exit {s['daemon_exit']}")


if __name__ == "__main__":
    sys.exit(main())
