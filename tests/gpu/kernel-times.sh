#!/usr/bin/env bash
# A diagnostic for the GPU machine (on-device.sh EXTRA): where LargeFOV's GPU time goes, kernel by
# kernel, from Nsight Compute (one metric, gpu__time_duration, clocks left alone), for forward at
# 321 x batch 8 in strict fp32 and TF32, and a training iteration. Kernel time summed over the
# whole run against the run's wall time says whether the GPU or the host is the limit.
# usage: kernel-times.sh   (deeplab on PATH)
set -u
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
[ -n "$ncu" ] || { echo "no ncu"; exit 1; }
summarise() {  # CSV from ncu --csv --page raw
  python3 - "$1" <<'PY'
import csv, sys, collections
rows = list(csv.reader(open(sys.argv[1])))
head = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
names = rows[head]
k, t = names.index("Kernel Name"), names.index("gpu__time_duration.sum")
total, by = 0.0, collections.defaultdict(lambda: [0, 0.0])
for r in rows[head + 2:]:  # the row after the header holds the units
    if len(r) <= max(k, t): continue
    try: v = float(r[t].replace(",", ""))
    except ValueError: continue
    unit = rows[head + 1][t]
    v = v / 1e6 if unit == "nsecond" else v / 1e3 if unit == "usecond" else v  # -> ms
    total += v; by[r[k][:90]][0] += 1; by[r[k][:90]][1] += v
print(f"kernels: {sum(c for c, _ in by.values())} launches, {total:.1f} ms of GPU time in all")
for name, (c, v) in sorted(by.items(), key=lambda x: -x[1][1])[:14]:
    print(f"{v:9.2f} ms {100 * v / total:5.1f}% {c:5d}x  {name}")
PY
}
for run in "forward --batch 8" "forward --batch 8 --tf32" "train --batch 10"; do
  csv=$(mktemp)
  start=$SECONDS
  timeout 60 "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --page raw \
    deeplab bench $run --model.kind largefov --size 321 --device cuda --warmup 1 --repeats 1 >"$csv" 2>/dev/null
  echo "== bench $run: ncu exit $?, $((SECONDS - start)) s under ncu"
  summarise "$csv" || { echo "unparsed; the first lines:"; head -c 1500 "$csv"; }
  rm -f "$csv"
done
