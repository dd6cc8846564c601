# Sourced by scripts/serve, scripts/chat and scripts/test (not run on its own).
#
# venv_ready [EXTRA]: makes sure the project's virtual environment exists and holds the project,
# installed editable (`pip install -e .` or `-e '.[EXTRA]'`), then sets VENV_BIN to its bin folder.
# - First run: creates it with `python3 -m venv` (on Debian, python3 is "externally managed", so a
#   plain `pip install` is refused; a venv is the supported way). As root, a missing python3-venv is
#   installed with apt-get; otherwise a one-line message says what to install.
# - Later runs install nothing unless pyproject.toml changed (a stamp in the venv records its hash),
#   so they start at once and work offline.
# Environment: HALMSTAD_PYTHON, the Python that creates the venv (default: python3 on PATH; CI sets
# /usr/bin/python3, Debian's own); HALMSTAD_VENV, where it lives (default: .venv in the repository).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${HALMSTAD_VENV:-$ROOT/.venv}
VENV_BIN=$VENV/bin

die() {
  echo "error: $*" >&2
  exit 1
}

is_root() {
  [ "$(id -u)" = "0" ]
}

# apt_install PKG...: Debian packages, as root; refreshes the package lists only when needed.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && return 0
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

_venv_python_ok() {
  local py=$1
  command -v "$py" >/dev/null 2>&1 ||
    die "$py not found: install Python 3.11 or newer (Debian: sudo apt-get install python3 python3-venv)"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$py is Python $("$py" -c 'import platform; print(platform.python_version())'); the assistant needs 3.11 or newer"
  "$py" -c 'import ensurepip, venv' 2>/dev/null && return 0
  if is_root && command -v apt-get >/dev/null 2>&1; then
    echo "Installing python3-venv (Debian) to create $VENV …" >&2
    apt_install python3-venv || die "could not install python3-venv with apt-get (no network?)"
    "$py" -c 'import ensurepip, venv' 2>/dev/null && return 0
  fi
  die "$py cannot create a virtual environment: install its venv module (Debian: sudo apt-get install python3-venv)"
}

_venv_create() {
  local py=${HALMSTAD_PYTHON:-python3} existed=
  _venv_python_ok "$py"
  [ -e "$VENV" ] && existed=1
  echo "Creating $VENV with $(command -v "$py") (first run only) …" >&2
  if ! "$py" -m venv "$VENV"; then
    [ -n "$existed" ] || rm -rf "$VENV"
    die "$py -m venv $VENV failed (see above); on Debian: sudo apt-get install python3-venv"
  fi
}

# _venv_stamp: what the installed state depends on (pyproject.toml and the venv's Python).
_venv_stamp() {
  { cat "$ROOT/pyproject.toml"; "$VENV_BIN/python" -c 'import sys; print(sys.version)'; } |
    sha256sum | cut -d' ' -f1
}

_venv_install() {
  local extra=$1 target=. stamp
  if [ -n "$extra" ]; then
    target=".[$extra]"
  fi
  stamp=$(_venv_stamp)
  [ "$(cat "$VENV/.halmstad-installed-${extra:-base}" 2>/dev/null)" = "$stamp" ] && return 0
  echo "Installing the project into $VENV (pip install -e '$target'; needs the network, about a minute) …" >&2
  if ! (cd "$ROOT" && "$VENV_BIN/python" -m pip install --quiet --quiet --disable-pip-version-check -e "$target"); then
    [ -x "$VENV_BIN/halmstad-bot" ] && [ -e "$VENV/.halmstad-installed-${extra:-base}" ] ||
      die "pip could not install the project into $VENV (no network? pip's message is above); run the command again when online"
    echo "warning: pip could not update $VENV (offline?); going on with the packages installed before" >&2
    return 0
  fi
  echo "$stamp" >"$VENV/.halmstad-installed-${extra:-base}"
  echo "$stamp" >"$VENV/.halmstad-installed-base"
}

venv_ready() {
  local extra=${1:-}
  if command -v flock >/dev/null 2>&1; then
    # Two scripts started together (serve and test) must not build the same venv at once.
    exec 9<"$ROOT/pyproject.toml"
    flock 9
  fi
  if [ ! -e "$VENV_BIN/python" ]; then
    _venv_create
  elif ! "$VENV_BIN/python" -c '' 2>/dev/null; then
    die "$VENV is broken (its python does not run, e.g. the Python it was made with is gone): rm -rf $VENV and run again"
  fi
  _venv_install "$extra"
  if command -v flock >/dev/null 2>&1; then
    exec 9<&-
  fi
}
