"""Offline safety, proven in fresh interpreters: importing tumor_detect and training one epoch on the phantom
attempts no network connection, and a user's explicit environment wins over our defaults."""
import json, os, subprocess, sys, textwrap

GUARD = textwrap.dedent('''
    import socket, ipaddress, json, sys
    attempts = []
    def _loop(h):
        try: return h in ('localhost', '', None) or ipaddress.ip_address(str(h).split('%')[0]).is_loopback
        except ValueError: return False
    _c, _g = socket.socket.connect, socket.getaddrinfo
    def connect(self, addr, *a):
        h = addr[0] if isinstance(addr, tuple) else None
        if not _loop(h): attempts.append(str(h)); raise OSError('blocked: ' + str(h))
        return _c(self, addr, *a)
    def getaddrinfo(h, *a, **k):
        if not _loop(h): attempts.append(str(h)); raise OSError('blocked: ' + str(h))
        return _g(h, *a, **k)
    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
''')

def _run(body, env=None, timeout=600):
    code = GUARD + textwrap.dedent(body) + '\nprint("ATTEMPTS=" + json.dumps(attempts))\n'
    env = {k: v for k, v in (env or os.environ).items()}
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    line = [l for l in r.stdout.splitlines() if l.startswith('ATTEMPTS=')][-1]
    return json.loads(line.split('=', 1)[1]), r.stdout

def _clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith(('YOLO_', 'WANDB_', 'GRADIO_', 'DO_NOT_TRACK'))}

def test_import_sets_offline_env_and_is_quiet():
    attempts, out = _run('''
        import os, tumor_detect
        print(json.dumps({k: os.environ.get(k) for k in ('YOLO_OFFLINE', 'YOLO_AUTOINSTALL', 'GRADIO_ANALYTICS_ENABLED', 'DO_NOT_TRACK', 'WANDB_MODE')}))
        import ultralytics, gradio, evidently, wandb
    ''', env=_clean_env())
    assert attempts == []
    env = json.loads(out.splitlines()[0])
    assert env == {'YOLO_OFFLINE': 'true', 'YOLO_AUTOINSTALL': 'false', 'GRADIO_ANALYTICS_ENABLED': 'False',
                   'DO_NOT_TRACK': '1', 'WANDB_MODE': 'offline'}

def test_user_environment_wins():
    env = {**_clean_env(), 'YOLO_OFFLINE': 'false', 'WANDB_API_KEY': 'k' * 40}
    _, out = _run('import os, tumor_detect; print(os.environ["YOLO_OFFLINE"], os.environ.get("WANDB_MODE"))', env=env)
    assert out.splitlines()[0] == 'false None'

def test_one_epoch_phantom_training_makes_no_network_attempt(tmp_path):
    attempts, _ = _run(f'''
        import tumor_detect
        from tumor_detect.phantom import make_phantom_dataset
        from tumor_detect.core import lazy
        data = make_phantom_dataset({str(tmp_path / 'ph')!r}, n_train=6, n_val=3, size=96, seed=0)
        YOLO = lazy('ultralytics').YOLO
        YOLO('yolov8n.yaml').train(data=str(data), epochs=1, imgsz=64, batch=4, device='cpu', workers=0,
                                   project={str(tmp_path / 'runs')!r}, name='t', plots=True, verbose=False)
    ''', env=_clean_env())
    assert attempts == [], attempts
