"""Benchmark `drift.image_features` against the original per-pixel implementation (a benchmark, not a test).

Both run in this process, one thread, on the same pre-read slices resized to `--size` px (the app computes the
features on every request); prints slices/s of each, the ratio, and the largest relative difference of any feature.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_features.py --images data/brain-tumor/valid/images
"""
import os, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
from pathlib import Path
from fastcore.script import call_parse
from tumor_detect.core import lazy, sample_dir
from tumor_detect.drift import _image_features_ref, image_features
from tumor_detect.readers import _list_images, read_image

def _rate(f, imgs:list, repeat:int) -> float:
    "Best of `repeat` passes over `imgs`, in slices/s (the best pass is the one least disturbed by other processes)."
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        for a in imgs: f(a)
        best = max(best, len(imgs)/(time.perf_counter() - t))
    return best

@call_parse
def main(images:str='', # folder of slices; default the bundled sample's valid/images
         n:int=60, # slices (cycled when the folder has fewer)
         size:int=512, # resize to size x size px (0: keep)
         repeat:int=3 # passes; the best is reported
        ):
    cv2 = lazy('cv2'); cv2.setNumThreads(1)
    fs = _list_images(Path(images or sample_dir()/'valid'/'images'))
    imgs = [read_image(fs[i % len(fs)]) for i in range(n)]
    if size: imgs = [cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA) for a in imgs]
    diff = max(abs(v - r)/max(1.0, abs(r)) for a in imgs for v, r in zip(image_features(a).values(), _image_features_ref(a).values()))
    old, new = _rate(_image_features_ref, imgs, repeat), _rate(image_features, imgs, repeat)
    print(f'{len(imgs)} slices {imgs[0].shape[1]}x{imgs[0].shape[0]}, one thread: reference {old:.0f} slices/s, '
          f'image_features {new:.0f} slices/s, {new/old:.1f}x; largest relative difference {diff:.1e}')
