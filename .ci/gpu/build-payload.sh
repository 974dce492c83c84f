#!/usr/bin/env bash
# Build, on a CPU machine with a package index, the site-packages that let a GPU machine without
# network run sglang and the gpu test suite, cut into parts that each fit one device call.
# Run from the project root (`make gpu-payload`). Leaves .gpu/ (ignored by git):
#   parts/pNN     the zstd-compressed tar of the site-packages, in 54 MB pieces
#   remote.sh     the script that stashes parts and runs commands on the GPU machine
#   whl/          the zstandard wheel remote.sh unpacks with
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list=${WHEELS:-$here/wheels.txt}
root=$(pwd); gpu=$root/.gpu; work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf "$gpu"; mkdir -p "$gpu/parts" "$gpu/whl" "$work/whl"
target=(--only-binary=:all: --python-version 3.12 --implementation cp)
for tag in 2_34 2_31 2_28 2_27 2_26 2_24 2_17 2014 2_5 1; do
  case $tag in 2014|1) target+=(--platform "manylinux${tag}_x86_64") ;;
               *) target+=(--platform "manylinux_${tag}_x86_64") ;; esac
done
mapfile -t wanted < <(grep -v -e '^#' -e '^$' "$list")
python3 -m pip download -q --no-deps "${target[@]}" -d "$work/whl" "${wanted[@]}"
mv "$work"/whl/zstandard-*.whl "$gpu/whl/"
python3 -m pip install -q --no-deps --no-compile "${target[@]}" --target "$work/site" "$work"/whl/*.whl
# Kernels for Blackwell GPUs and MLA models, which a Hopper GPU never loads; of the commands,
# only py-spy is kept.
rm -rf "$work/site/sgl_kernel/sm100" "$work"/site/sgl_kernel/flashmla_ops* \
       "$work"/site/sgl_kernel/infllm_ops*
find "$work/site/bin" -mindepth 1 ! -name py-spy -delete
tar -C "$work/site" -cf - . | zstd -T0 -9 --long=27 -q -o "$work/payload.tar.zst"
split -b 54000000 -d -a 2 "$work/payload.tar.zst" "$gpu/parts/p"
cp "$here/remote.sh" "$gpu/remote.sh"
ls "$gpu/parts" > "$gpu/MANIFEST"
echo "built $(ls "$gpu/parts" | wc -l) parts in .gpu/parts ($(du -sh "$gpu/parts" | cut -f1))"
