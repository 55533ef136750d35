#!/usr/bin/env python3
"""Screenshot probe for the live-window test: counts pixels of each emotion colour (the box
outline and the filled label background are drawn in exactly these colours) and reports the
bounding box of the most frequent one. Prints JSON."""
import json, sys
import cv2
import numpy as np

COLORS_BGR = {"angry": (40, 40, 230), "disgust": (40, 150, 40), "fear": (160, 50, 150), "happy": (0, 215, 255),
              "sad": (220, 110, 30), "surprise": (0, 140, 255), "neutral": (190, 190, 190)}
img = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)
out = {}
for name, bgr in COLORS_BGR.items():
    mask = np.all(img == np.array(bgr, dtype=np.uint8), axis=2)
    ys, xs = np.nonzero(mask)
    out[name] = {"pixels": int(mask.sum()), "bbox": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())] if len(xs) else None}
print(json.dumps(out))
