#!/usr/bin/env python3
"""The CRF benchmarks' photograph: densecrf's im1 scaled to 500x375 (a VOC-sized image) with its
coarse 21-label map, upsampled by nearest neighbour. Writes WORK/im.png and WORK/p.npy (H x W x L
float32) for deeplab, and the same as WORK/im.ppm and WORK/p.f32 (raw) for the densecrf driver.
usage: crf_photo.py EXAMPLES WORK"""
import sys

import numpy as np
from PIL import Image

examples, work = sys.argv[1:]
im = Image.open(examples + "/im1.png").convert("RGB").resize((500, 375))
im.save(work + "/im.png")
im.save(work + "/im.ppm")
p = np.load(examples + "/im1_coarse_prob_240x320x21.npy")
p = p[np.arange(375) * 240 // 375][:, np.arange(500) * 320 // 500].astype(np.float32)
np.save(work + "/p.npy", p)
p.tofile(work + "/p.f32")
