#!/usr/bin/env bash
# Install dataset-gen into ./.venv (first run only, or after the requirements change) and start the
# web app on http://127.0.0.1:8501. Extra arguments go to `streamlit run`, e.g. --server.port 8600.
# DATASET_GEN_OCR=1 also installs Tesseract (Debian/Ubuntu packages) for the OCR option when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${DATASET_GEN_OCR:-}" = "1" ]; then source scripts/tesseract.sh; fi
source scripts/venv.sh requirements.txt
exec "$VENV/bin/python" -m streamlit run app.py "$@"
