#!/usr/bin/env python3
"""The folders of src/ and kernels/ in layers: a file may include its own folder's headers and
those of the folders below it, never above. So there is no include cycle between folders (the
GPU backend, for one, reaches models' Scorer and train's make_step only through interfaces it
registers, gpu/backend.h). Prints each include that breaks the order; exits 1 if there is one.
usage: layers.py REPO"""
import pathlib
import re
import sys

# Bottom to top.
LAYERS = ["core", "kernels", "image", "nn", "models", "dist", "data", "crf", "caffe", "train",
          "segment", "eval", "sweep", "gpu"]

repo = pathlib.Path(sys.argv[1])
rank = {name: i for i, name in enumerate(LAYERS)}
bad = []
for folder in LAYERS:
    root = repo / "kernels" if folder == "kernels" else repo / "src" / folder
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".h", ".cpp", ".cu", ".cuh"):
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([a-z_]+)/', line)
            if not m or m.group(1) not in rank or m.group(1) == folder:
                continue
            if rank[m.group(1)] > rank[folder]:
                bad.append(f"{path.relative_to(repo)}:{n}: {folder}/ includes {m.group(1)}/, a layer above it")
missing = [f for f in LAYERS if not (repo / ("kernels" if f == "kernels" else "src/" + f)).is_dir()]
for f in missing:
    bad.append(f"no folder for layer {f}")
on_disk = {p.name for p in (repo / "src").iterdir() if p.is_dir()}
for f in sorted(on_disk - set(LAYERS)):
    bad.append(f"src/{f}/ is in no layer: add it to LAYERS")
print("\n".join(bad) if bad else f"{len(LAYERS)} layers, every include points down: {' < '.join(LAYERS)}")
sys.exit(1 if bad else 0)
