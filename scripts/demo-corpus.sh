#!/usr/bin/env bash
# Makes the demo's training data from the Python standard library's sources,
# which every machine set up by scripts/install-deps.sh has:
#
#   scripts/demo-corpus.sh BUILD_DIR
#
# writes BUILD_DIR/demo-data/
#   spm.model, spm.vocab   a SentencePiece BPE vocabulary of
#                          PALM_DEMO_VOCAB (2048) pieces trained on the
#                          first PALM_DEMO_TRAIN_BYTES (16 MB: all) of it
#   train.tokens           the whole corpus but every 20th file
#   heldout.tokens         every 20th file (--heldout-fraction 0.05)
#   settings               what they were made from; written last
#
# The corpus is every *.py under the stdlib directory of /usr/bin/python3
# (/usr/lib/python3.11 on Debian 12: the packages libpython3.11-minimal and
# libpython3.11-stdlib that python3 depends on, python3-distutils,
# python3-lib2to3 and python3.11-venv that python3-venv depends on), about
# 11 MB in 665 files, in path order. dist-packages and site-packages (what
# else is installed) and config-* (libpython3.11-dev) are left out, so the
# data depend only on the Python package versions.
#
# Cached: when the four files exist, are newer than palm-tokenize, and the
# settings match, the script does nothing.
set -euo pipefail
# Glob order is the locale's collation; the corpus order must not be.
export LC_ALL=C

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$1
TOOL="$BUILD_DIR/bin/palm-tokenize"
OUT="$BUILD_DIR/demo-data"
VOCAB=${PALM_DEMO_VOCAB:-2048}
TRAIN_BYTES=${PALM_DEMO_TRAIN_BYTES:-16777216}

if [ ! -x "$TOOL" ]; then
  echo "demo-corpus: $TOOL is missing: build the palm-tokenize target" \
       "(needs libsentencepiece-dev, scripts/install-deps.sh)" >&2
  exit 1
fi
STDLIB=$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
PYVERSION=$(/usr/bin/python3 -c 'import platform; print(platform.python_version())')

# palm-tokenize applies --glob inside directories only: name the top-level
# *.py files and the package directories, not LICENSE.txt and the like.
INPUTS=()
for entry in "$STDLIB"/*; do
  case "$(basename "$entry")" in
    dist-packages|site-packages|config-*|__pycache__|lib-dynload) continue ;;
  esac
  if [ -d "$entry" ] || [[ "$entry" == *.py ]]; then INPUTS+=("$entry"); fi
done

SETTINGS="vocab=$VOCAB train-bytes=$TRAIN_BYTES heldout-fraction=0.05
corpus=$STDLIB/**/*.py python=$PYVERSION
inputs=$(printf '%s\n' "${INPUTS[@]}" | md5sum | cut -d' ' -f1)"

fresh=1
for f in spm.model train.tokens heldout.tokens settings; do
  if [ ! -f "$OUT/$f" ] || [ ! "$OUT/$f" -nt "$TOOL" ]; then fresh=0; fi
done
if [ "$fresh" = 1 ] && [ "$(cat "$OUT/settings")" = "$SETTINGS" ]; then
  echo "demo-corpus: $OUT is up to date"
  exit 0
fi

mkdir -p "$OUT"
rm -f "$OUT/settings"
echo "demo-corpus: training a $VOCAB-piece vocabulary on $TRAIN_BYTES bytes of $STDLIB"
"$TOOL" train --input "${INPUTS[@]}" --glob '*.py' --max-bytes "$TRAIN_BYTES" \
  --vocab "$VOCAB" --model "$OUT/spm"
echo "demo-corpus: encoding $STDLIB"
"$TOOL" encode --model "$OUT/spm.model" --input "${INPUTS[@]}" --glob '*.py' \
  --output "$OUT/train.tokens" \
  --heldout-fraction 0.05 --heldout-output "$OUT/heldout.tokens"
printf '%s\n' "$SETTINGS" > "$OUT/settings.tmp"
mv "$OUT/settings.tmp" "$OUT/settings"
