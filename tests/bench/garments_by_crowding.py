#!/usr/bin/env python3
"""How often the segmentation gets each garment's class, by how crowded its scene is. For every
garment class present in a scene (the pixels the truth gives that class), the predicted label most
of those pixels get: right or not. Grouped by the number of garment classes in the scene (1-4 on
the built-in scenes, where garments overlap) and by class. It separates "the garment is taken for
another" from "the scene hides it": a classifier's accuracy is what single-garment scenes can
reach.
usage: garments_by_crowding.py SCENES.h5 PREDICTIONS.h5   (deeplab segment's output on SCENES.h5)"""
import sys

import h5py
import numpy as np

NAMES = ["background", "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
         "bag", "ankle boot"]

scenes_path, predictions_path = sys.argv[1:]
garments = []  # (class, garment classes in its scene, majority right, share of its pixels right)
with h5py.File(scenes_path, "r") as scenes, h5py.File(predictions_path, "r") as predictions:
    for key in sorted(scenes["images"]):
        truth = scenes["images"][key]["label"][()].squeeze()
        predicted = predictions["images"][key]["labels"][()].squeeze()
        present = [c for c in np.unique(truth) if c not in (0, 255)]
        for c in present:
            votes = np.bincount(predicted[truth == c], minlength=len(NAMES))
            garments.append((int(c), len(present), votes.argmax() == c, votes[c] / votes.sum()))
g = np.array(garments, dtype=float)
print("%-34s %9s %14s %14s" % ("", "garments", "class right", "pixels right"))
for n in sorted(set(g[:, 1])):
    s = g[g[:, 1] == n]
    print("%-34s %9d %13.1f%% %13.1f%%" % ("scenes with %d garment class(es)" % n, len(s), 100 * s[:, 2].mean(),
                                           100 * s[:, 3].mean()))
print("%-34s %9d %13.1f%% %13.1f%%" % ("all", len(g), 100 * g[:, 2].mean(), 100 * g[:, 3].mean()))
print()
print("%-14s %16s %24s" % ("class", "class right", "in single-garment scenes"))
for c in range(1, len(NAMES)):
    s, alone = g[g[:, 0] == c], g[(g[:, 0] == c) & (g[:, 1] == 1)]
    print("%-14s %15.1f%% %23.1f%%" % (NAMES[c], 100 * s[:, 2].mean() if len(s) else float("nan"),
                                        100 * alone[:, 2].mean() if len(alone) else float("nan")))
