"""Train the released reference model (models/reference/) on one GPU.

Recipe: YOLOv8n from scratch (`yolov8n.yaml`, no COCO weights), imgsz 512, time-boxed schedule, grayscale-safe
augmentation (no hue/saturation jitter, no up-down flips), trained on the imported + checked dataset with the
error-level defect (`train/518_*`, tiny box) quarantined. Usage (data: a YOLO dataset yaml):

    python deploy/train_reference_gpu.py DATA.yaml OUT_DIR [HOURS]
"""
import json, os, platform, sys, time
from pathlib import Path

import tumor_detect  # noqa: F401  (offline-safe environment first)

def main(data, out, hours=0.115):
    from ultralytics import YOLO
    import ultralytics.engine.trainer as tr
    import torch
    tr.check_amp = lambda model: True   # the AMP self-check downloads yolo26n.pt; AMP is known good on H100/A100
    out = Path(out).resolve(); t0 = time.time()
    params = dict(data=str(data), model='yolov8n.yaml', epochs=300, time=float(hours), imgsz=512, batch=32,
                  device=0 if torch.cuda.is_available() else 'cpu', seed=0, deterministic=False, workers=12,
                  cache='ram', optimizer='AdamW', lr0=0.002, cos_lr=True, warmup_epochs=3, close_mosaic=10,
                  hsv_h=0.0, hsv_s=0.0, hsv_v=0.3, degrees=10.0, translate=0.1, scale=0.4, fliplr=0.5, flipud=0.0,
                  mosaic=1.0, mixup=0.0, patience=100, plots=False, project=str(out), name='reference', exist_ok=True)
    model = YOLO(params.pop('model'))
    model.train(**params)
    run = out/'reference'
    m = YOLO(run/'weights'/'best.pt').val(data=str(data), split='val', imgsz=512, batch=32, plots=False,
                                           project=str(out), name='val', exist_ok=True)
    rec = dict(params={**params, 'model': 'yolov8n.yaml'}, seed=0, hours_budget=hours, seconds=round(time.time()-t0, 1),
               host=dict(hostname=platform.node(), gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                         cpus=os.cpu_count(), python=sys.version.split()[0]),
               versions=dict(torch=torch.__version__, ultralytics=__import__('ultralytics').__version__),
               metrics=dict(map50=float(m.box.map50), map50_95=float(m.box.map), precision=float(m.box.mp), recall=float(m.box.mr),
                            per_class={n: dict(map50=float(m.box.ap50[i]), map50_95=float(m.box.ap[i])) for i, n in m.names.items()}))
    (run/'run.json').write_text(json.dumps(rec, indent=1))
    print(json.dumps(rec['metrics'], indent=1))

if __name__ == '__main__': main(*sys.argv[1:])
