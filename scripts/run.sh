#!/usr/bin/env bash
# Install dataset-gen into ./.venv (first run only, or after the requirements change) and start the
# web app on http://127.0.0.1:8501. Extra arguments go to `streamlit run`, e.g. --server.port 8600.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements.txt
exec "$VENV/bin/python" -m streamlit run app.py "$@"
