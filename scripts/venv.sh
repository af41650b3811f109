# Sourced by run.sh and test.sh: make sure ./.venv (inside the checkout) exists with a Python of at
# least 3.11, and install the given requirement files into it when they changed since the last
# install. Debian and Ubuntu refuse a bare `pip install` into the system Python (PEP 668), so
# everything goes into this virtual environment; it works the same with pyenv or conda Python.
# Usage: source scripts/venv.sh REQUIREMENTS_FILE [EXTRA_PIP_ARGS...]

VENV="$PWD/.venv"

_dg_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi
}

_dg_python() {
  # The first of $PYTHON, python3, python3.13, python3.12, python3.11 that is Python 3.11 or newer.
  for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: dataset-gen needs Python 3.11 or newer; install it (or set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  PY="$(_dg_python)"
  rm -rf "$VENV"
  if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
    # Debian/Ubuntu ship venv's pip bootstrap separately (python3.X-venv).
    rm -rf "$VENV"
    PKG="python$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv"
    echo "Installing $PKG (needed to create a virtual environment)..." >&2
    if ! { _dg_sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive _dg_sudo apt-get install -y -qq "$PKG" >/dev/null; }; then
      echo "error: cannot create a virtual environment with $PY: install $PKG (sudo apt install $PKG) and run again" >&2
      exit 1
    fi
    "$PY" -m venv "$VENV"
  fi
fi

# One stamp per requirement file installed, named by a hash of every file that decides what is
# installed: the test set (requirements-dev.txt) includes the app's, so after test.sh, run.sh has
# nothing to do, and switching between the two never reinstalls.
_dg_hash="$(cat pyproject.toml requirements.txt requirements-dev.txt 2>/dev/null | sha256sum | cut -c1-16)"
_dg_stamp="$VENV/.installed-$_dg_hash-$1"
if [ ! -f "$_dg_stamp" ] && [ ! -f "$VENV/.installed-$_dg_hash-requirements-dev.txt" ]; then
  echo "Installing Python packages into .venv ..." >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$1" "${@:2}"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  find "$VENV" -maxdepth 1 -name '.installed-*' ! -name ".installed-$_dg_hash-*" -delete
  touch "$_dg_stamp"
fi
