#!/bin/sh
# palmrt-cuda-link-line: links a cuda program with palmrt-link-cuda.txt using
# the C compiler, checks that the executable needs no shared library that a
# GPU machine without Abseil, OpenBLAS, MPI or a C++ runtime lacks, and runs
# it against the fake driver.
# Usage: cuda_link_line_test.sh CC INCLUDE_DIR SOURCE KERNELS_ARCHIVE
#                               LINK_FILE FAKE_DIR
set -eu
cc=$1 include=$2 source=$3 kernels=$4 link_file=$5 fake=$6
"$cc" -O2 -I"$include" -DDATA=1 -DMODEL=1 -DTARGET_CUDA=1 -c "$source" \
  -o cuda-link-line.o
# shellcheck disable=SC2046 # the file is a list of arguments
"$cc" cuda-link-line.o "$kernels" $(cat "$link_file") -o cuda-link-line
needed=$(readelf -d cuda-link-line | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
  tr '\n' ' ')
echo "needs: $needed"
for lib in $needed; do
  case $lib in
  libc.so.* | libm.so.* | libgcc_s.so.* | libdl.so.* | libpthread.so.* | \
    ld-linux*) ;;
  *)
    echo "FAIL: a cuda executable needs $lib"
    exit 1
    ;;
  esac
done
LD_LIBRARY_PATH=$fake ./cuda-link-line --steps 1
