#!/usr/bin/env python3
"""Calibrates the crop margin: how does a Haar detector box relate to FER2013's own framing?

Runs haarcascade_frontalface_default (the default detector, same parameters as emotiond) on
FER2013 Training images upscaled 4x and reports the median box side relative to the image
side and the box centre offset. The FER2013 crop is then the box enlarged by
margin = (1/ratio - 1)/2 per side, which is written as `crop_margin` model metadata.
Uses the Training split only (PublicTest stays untouched for model selection and reporting)."""
import argparse, gzip
import numpy as np
import cv2

ap = argparse.ArgumentParser()
ap.add_argument("--csv", default="../shared/data/fer2013/fer2013-train-public.csv.gz")
ap.add_argument("--cascade", default="/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml")
ap.add_argument("--limit", type=int, default=4000)
a = ap.parse_args()
det = cv2.CascadeClassifier(a.cascade)
ratios, dx, dy, n = [], [], [], 0
with gzip.open(a.csv, "rt") as f:
    f.readline()
    for line in f:
        e, px, usage = line.strip().split(",")
        if usage != "Training":
            continue
        n += 1
        if n > a.limit:
            break
        img = np.array(px.split(), dtype=np.uint8).reshape(48, 48)
        big = cv2.resize(img, (192, 192), interpolation=cv2.INTER_CUBIC)
        # Pad so a box larger than the crop can be found too.
        big = cv2.copyMakeBorder(big, 48, 48, 48, 48, cv2.BORDER_REPLICATE)
        faces = det.detectMultiScale(cv2.equalizeHist(big), 1.1, 5, minSize=(60, 60))
        if len(faces) != 1:
            continue
        x, y, w, h = faces[0]
        ratios.append(w / 192.0)
        dx.append((x + w / 2 - 48 - 96) / 192.0); dy.append((y + h / 2 - 48 - 96) / 192.0)
r = float(np.median(ratios))
print(f"images {min(n, a.limit)}, single detections {len(ratios)}; median box/crop side {r:.3f} "
      f"(IQR {np.percentile(ratios, 25):.3f}-{np.percentile(ratios, 75):.3f}); centre offset x {np.median(dx):+.3f} y {np.median(dy):+.3f}")
print(f"crop_margin = {(1 / r - 1) / 2:.3f}")
