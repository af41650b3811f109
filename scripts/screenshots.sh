#!/usr/bin/env bash
# Refresh the README's screenshots (docs/screenshots/*.png) by running the browser test with
# DATASET_GEN_SCREENSHOTS pointing there. Run scripts/test.sh once first: it installs what this needs.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET_GEN_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/python -m pytest -q tests/test_e2e_browser.py "$@"
