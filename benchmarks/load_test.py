"""Load test of the served API, loopback only and bounded (not a test; `make bench`-style script).

Starts `tumor_detect.app.serve` in a subprocess on a free 127.0.0.1 port, then N client threads post bundled
validation slices to POST /api/predict for D seconds. Reports p50/p95 latency, throughput and errors (must be 0),
checks that the prediction log holds exactly one row per successful request, and compares the served p50 with the
in-process `Detector` latency on the same images (measured after the server stopped, so nothing competes).

    .venv/bin/python benchmarks/load_test.py --clients 8 --duration 30
"""
import argparse, json, os, subprocess, sys, tempfile, threading, time
from pathlib import Path

import numpy as np

MAX_CLIENTS, MAX_DURATION = 64, 600


def _wait_health(url, proc, timeout=180):
    import httpx
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None: raise RuntimeError(f'server exited with {proc.returncode}')
        try:
            r = httpx.get(url + '/health', timeout=2)
            if r.status_code == 200: return r.json()
        except httpx.HTTPError: pass
        time.sleep(0.3)
    raise RuntimeError(f'server did not answer {url}/health within {timeout} s')


def _client(url, files, deadline, out, lock, k):
    import httpx
    lat, codes = [], []
    with httpx.Client(timeout=60) as c:
        i = k
        while time.monotonic() < deadline:
            name, data = files[i % len(files)]; i += 1
            t = time.perf_counter()
            try: code = c.post(url + '/api/predict', files={'file': (name, data, 'image/jpeg')}).status_code
            except httpx.HTTPError as e: code = type(e).__name__
            lat.append(time.perf_counter() - t); codes.append(code)
    with lock: out.append((lat, codes))


def _pct(xs, q): return round(float(np.percentile(xs, q))*1000, 1) if len(xs) else None


def in_process_latency(weights, files, rounds=3, n=10):
    "Detector(decoded slice) in this process, as the server calls it: p50 per round of `n`, best round and all."
    from tumor_detect.app import read_upload
    from tumor_detect.predict import Detector
    det = Detector.load(weights); imgs = [read_upload(d, name)[0] for name, d in files]
    for a in imgs[:3]: det(a)
    per_round, lat = [], []
    for r in range(rounds):
        xs = []
        for i in range(n):
            t = time.perf_counter(); det(imgs[(r*n + i) % len(imgs)]); xs.append(time.perf_counter() - t)
        per_round.append(_pct(xs, 50)); lat += xs
    dec = []
    for name, d in files[:n]:
        t = time.perf_counter(); read_upload(d, name); dec.append(time.perf_counter() - t)
    return dict(detector_p50_ms=_pct(lat, 50), detector_best_round_p50_ms=min(per_round), decode_p50_ms=_pct(dec, 50))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--clients', type=int, default=4, help=f'concurrent clients (max {MAX_CLIENTS})')
    ap.add_argument('--duration', type=float, default=10, help=f'seconds of load (max {MAX_DURATION})')
    ap.add_argument('--weights', default='models/reference/best.pt', help='.pt or .onnx model to serve')
    ap.add_argument('--no-features', action='store_true', help='log predictions without image features (measures their cost)')
    ap.add_argument('--json', default='', help='also write the result here')
    a = ap.parse_args(argv)
    if not (1 <= a.clients <= MAX_CLIENTS and 0 < a.duration <= MAX_DURATION):
        ap.error(f'--clients must be 1..{MAX_CLIENTS} and --duration 0..{MAX_DURATION}')
    from tumor_detect.app import free_port, resolve_weights
    from tumor_detect.monitor import PredictionLog
    from tumor_detect.core import sample_dir
    weights = str(resolve_weights(a.weights))
    files = [(p.name, p.read_bytes()) for p in sorted((sample_dir()/'valid'/'images').glob('*.jpg'))]
    before = in_process_latency(weights, files)           # in-process baseline, before and after: the box may be busy
    tmp = Path(tempfile.mkdtemp(prefix='tumor_detect_load_')); log_path = tmp/'predictions.db'
    port = free_port(); url = f'http://127.0.0.1:{port}'
    code = (f'import uvicorn; from tumor_detect.app import create_app; uvicorn.run(create_app({weights!r}, {str(log_path)!r}, '
            f'log_features={not a.no_features}), host="127.0.0.1", port={port}, log_level="warning")')
    with open(tmp/'server.log', 'w') as slog:
        proc = subprocess.Popen([sys.executable, '-c', code], stdout=slog, stderr=subprocess.STDOUT)
        try:
            health = _wait_health(url, proc)
            import httpx
            for name, d in files[:3]: assert httpx.post(url + '/api/predict', files={'file': (name, d)}, timeout=60).status_code == 200
            out, lock = [], threading.Lock()
            t0 = time.monotonic(); deadline = t0 + a.duration
            ts = [threading.Thread(target=_client, args=(url, files, deadline, out, lock, k)) for k in range(a.clients)]
            for t in ts: t.start()
            for t in ts: t.join(MAX_DURATION + 120)
            wall = time.monotonic() - t0
            end = time.monotonic() + 60
            while (h := httpx.get(url + '/health', timeout=5).json())['log']['pending'] and time.monotonic() < end: time.sleep(0.1)
            metrics = httpx.get(url + '/metrics', timeout=5).text
        finally:
            proc.terminate(); proc.wait(60)
    lat = [x for l, _ in out for x in l]; codes = [c for _, cs in out for c in cs]
    ok = sum(c == 200 for c in codes); errors = len(codes) - ok
    rows = PredictionLog(log_path).count()
    res = dict(clients=a.clients, duration_s=round(wall, 1), model=health['version'], backend=health['backend'], cpus=os.cpu_count(),
               requests=len(codes), ok=ok, errors=errors, error_codes=sorted({str(c) for c in codes if c != 200}),
               log_features=not a.no_features, throughput_rps=round(ok/wall, 2), service_ms_per_request=round(wall/ok*1000, 1), p50_ms=_pct(lat, 50), p95_ms=_pct(lat, 95), max_ms=_pct(lat, 100),
               log_rows=rows, log_rows_expected=ok + 3, log_ok=rows == ok + 3, log_dropped=h['log']['dropped'], log_failed=h['log']['failed'])
    m = {l.rsplit(' ', 1)[0]: float(l.rsplit(' ', 1)[1]) for l in metrics.splitlines() if l and not l.startswith('#')}
    n_inf = m.get('tumor_detect_inference_seconds_count') or 1
    res['server_inference_mean_ms'] = round(m.get('tumor_detect_inference_seconds_sum', 0)/n_inf*1000, 1)   # model time inside the server
    res['server_request_mean_ms'] = round(m.get('tumor_detect_request_latency_seconds_sum{channel="api"}', 0)/n_inf*1000, 1)  # decode + lock wait + model
    after = in_process_latency(weights, files)
    res.update({f'{k}_before': v for k, v in before.items()}); res.update({f'{k}_after': v for k, v in after.items()})
    base = min(before['detector_best_round_p50_ms'], after['detector_best_round_p50_ms'])
    res['queueing_expectation_p50_ms'] = round(a.clients*res['service_ms_per_request'], 1)   # Little's law, model under one lock
    res['service_ms_over_detector_p50'] = round(res['service_ms_per_request']/base, 2)
    print(json.dumps(res, indent=1))
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1))
    return 0 if errors == 0 and res['log_ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
