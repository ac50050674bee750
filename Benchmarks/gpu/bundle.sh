#!/usr/bin/env bash
# (Copied from the team's shared/gpu/bundle.sh.) Builds a self-contained bundle of the `ldm` tool for an NVIDIA GPU host that has no Swift toolchain and no
# package registry. Run from the project root; writes .gpu-bundle/ (keep it out of git). Copy it to the host and run:
#   bash .gpu-bundle/run.sh devices --json
set -euo pipefail
out=.gpu-bundle
rm -rf "$out"; mkdir -p "$out/lib" "$out/vendors"
swift build -c release --static-swift-stdlib --product ldm
cp "$(swift build -c release --show-bin-path)/ldm" "$out/"
for lib in libOpenCL.so.1 libclblast.so.1 libopenblas.so.0; do
  p=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
  [ -n "$p" ] && cp -L "$p" "$out/lib/"
done
# OpenBLAS may pull in libgfortran/libquadmath: copy whatever ldm needs that is not part of the C runtime.
ldd "$out/ldm" | awk '/=>/ {print $3}' | grep -v -E 'libc\.so|libm\.so|libdl|libpthread|ld-linux|librt' | while read -r p; do
  [ -f "$p" ] && cp -L -n "$p" "$out/lib/" || true
done
echo "libnvidia-opencl.so.1" > "$out/vendors/nvidia.icd"
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the bundled ldm against the host's NVIDIA OpenCL driver.
here="$(cd "$(dirname "$0")" && pwd)"
drv=$(ls -d /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu 2>/dev/null | tr '\n' ':')
if ! ls /usr/local/nvidia/lib*/libnvidia-opencl.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 >/dev/null 2>&1; then
  echo "note: libnvidia-opencl.so.1 not found in the usual places; searching" >&2
  find / -name 'libnvidia-opencl.so*' 2>/dev/null | head -3 >&2
fi
export OCL_ICD_VENDORS="$here/vendors"
export LD_LIBRARY_PATH="$here/lib:${drv}${LD_LIBRARY_PATH:-}"
exec "$here/ldm" "$@"
RUN
chmod +x "$out/run.sh"
du -sh "$out"
