#!/usr/bin/env bash
# Install everything the tests need (Python packages into ./.venv, and Debian's Chromium for the
# browser test and Tesseract for the OCR tests when they are missing), then run ruff, mypy and the
# whole test suite.
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

echo "ruff ..." >&2
"$VENV/bin/python" -m ruff check .
echo "mypy ..." >&2
"$VENV/bin/python" -m mypy
"$VENV/bin/python" -m pytest "$@"
