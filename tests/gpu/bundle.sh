#!/usr/bin/env bash
# Packs the GPU check for the GPU machine, which has the NVIDIA driver, CUDA, cuDNN and NCCL but
# none of Debian's libraries and no package registry: the programs built here (deeplab,
# unit_tests, make_test_files), every shared library they and Open MPI need except glibc's,
# the C++ runtime's and CUDA's own, Open MPI's launcher with its plugins and help text, the
# CRF photographs, a slice of Fashion-MNIST for the test scenes, and env.sh, which points all of it at wherever the bundle was unpacked.
# tests/gpu/on-device.sh unpacks and runs it there; check-bundle.sh tries it here first.
# usage: tests/gpu/bundle.sh [BUILD_DIR]   -> BUILD_DIR/gpu-bundle.tar.xz
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
examples=${DEEPLAB_CRF_EXAMPLES:-../shared/data/crf-examples}
fashion_mnist=/usr/share/datasets/fashion-mnist
out=$build/gpu-bundle.tar.xz
log() { printf '[bundle] %s\n' "$*" >&2; }

grep -q '^DEEPLAB_CUDA:BOOL=ON' "$build/CMakeCache.txt" ||
  { log "$build is not a CUDA build (configure with -DDEEPLAB_CUDA=ON)"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target deeplab_cli unit_tests make_test_files >/dev/null
[ -f "$examples/im1.png" ] || { log "no CRF photographs at $examples (set DEEPLAB_CRF_EXAMPLES)"; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
b=$stage/bundle
mkdir -p "$b"/{bin,lib,data/crf-examples} "$b"/openmpi/{bin,lib,share,etc}
cp "$build"/bin/{deeplab,unit_tests,make_test_files} "$b/bin/"
cp "$examples"/*.png "$examples"/*.npy "$b/data/crf-examples/"

# A slice of Fashion-MNIST (Debian's package is not there): garments enough for the test scenes.
/usr/bin/python3 - "$fashion_mnist" "$b/data/fashion-mnist" <<'PY'
import gzip, os, struct, sys
src, dst = sys.argv[1:]
os.makedirs(dst)
for split, count in (("train", 2000), ("t10k", 1000)):
    for kind, dims, item in (("images", 3, 28 * 28), ("labels", 1, 1)):
        name = f"{split}-{kind}-idx{dims}-ubyte.gz"
        data = gzip.open(os.path.join(src, name)).read()
        header = 4 + 4 * dims
        out = bytearray(data[:header])
        out[4:8] = struct.pack(">I", count)
        gzip.open(os.path.join(dst, name), "wb").write(bytes(out) + data[header:header + count * item])
PY

# Open MPI 4 as Debian installs it: the launcher, its plugins, its help text and settings.
ompi=/usr/lib/x86_64-linux-gnu/openmpi
cp -L "$(command -v orterun)" "$b/openmpi/bin/mpirun"
cp -L "$(command -v orted)" "$b/openmpi/bin/orted"
cp -r "$ompi/lib/openmpi3" "$b/openmpi/lib/"
cp -r /usr/share/openmpi "$b/openmpi/share/"
cp /etc/openmpi/openmpi-mca-params.conf "$b/openmpi/etc/"
cp -r /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix "$b/lib/pmix"

# Every library those ELF files load, except what the GPU machine must supply itself: glibc and
# the C++ runtime (newer there; ours would shadow them) and the driver, CUDA, cuDNN and NCCL
# (the device's own build must match its driver).
machine_own='^(ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libresolv|libutil|libgcc_s|libstdc\+\+)\.so'
cuda_own='^lib(cuda|cudart|cudnn[a-z_]*|nccl|cublas|cublasLt|nvrtc|nvJitLink|cufft|curand|cusparse|cusolver|nvidia-ml)\.so'
elves=("$b"/bin/* "$b"/openmpi/bin/* "$b"/openmpi/lib/openmpi3/*.so "$b"/lib/pmix/*.so)
for f in "${elves[@]}"; do
  ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
done | sort -u | while read -r lib; do
  name=$(basename "$lib")
  [[ $name =~ $machine_own || $name =~ $cuda_own ]] && continue
  cp -L "$lib" "$b/lib/$name"
done
strip --strip-unneeded "$b"/bin/* "$b"/lib/*.so* 2>/dev/null || true

cat > "$b/env.sh" <<'ENV'
# Source this: the bundle's programs, libraries and Open MPI, from wherever it was unpacked.
# Open MPI finds its plugins, help text and settings through the OPAL_* variables, PMIx its
# plugins through its component path.
bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=$bundle/bin:$bundle/openmpi/bin:$PATH
export LD_LIBRARY_PATH=$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OPAL_PREFIX=$bundle/openmpi OPAL_EXEC_PREFIX=$bundle/openmpi OPAL_BINDIR=$bundle/openmpi/bin
export OPAL_LIBDIR=$bundle/lib OPAL_PKGLIBDIR=$bundle/openmpi/lib/openmpi3
export OPAL_DATADIR=$bundle/openmpi/share OPAL_PKGDATADIR=$bundle/openmpi/share/openmpi
export OPAL_SYSCONFDIR=$bundle/openmpi/etc
export PMIX_MCA_mca_base_component_path=$bundle/lib/pmix
export DEEPLAB_CRF_EXAMPLES=$bundle/data/crf-examples DEEPLAB_FASHION_MNIST=$bundle/data/fashion-mnist
ENV

tar -C "$stage" -cJf "$out.tmp" bundle
mv "$out.tmp" "$out"
log "$out: $(du -h "$out" | cut -f1) ($(du -sh "$b" | cut -f1) unpacked, $(ls "$b/lib" | wc -l) libraries)"
