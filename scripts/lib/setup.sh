# Shared set-up for scripts/bench and scripts/test: system packages and the virtual environment.
# Sourced, not run. Everything here is idempotent: a second run only checks.

SMAVENUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SMAVENUS_VENV:-$SMAVENUS_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

_apt_updated=0
apt_install() {
    # apt_install PACKAGE... : install Debian packages when we are root; otherwise explain.
    if [ "$(id -u)" -ne 0 ]; then
        die "missing system packages: $*  (run as root, or: sudo apt-get install $*)"
    fi
    command -v apt-get >/dev/null || die "missing $* and no apt-get here: install them by hand"
    if [ "$_apt_updated" -eq 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        _apt_updated=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_commands() {
    # ensure_commands COMMAND:PACKAGE ... : install PACKAGE when COMMAND is missing.
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}

ensure_python() {
    command -v "$PYTHON" >/dev/null || apt_install python3
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "smavenus needs Python >= 3.10 (found $("$PYTHON" --version))"
    # Debian splits venv/ensurepip into python3-venv.
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        local ver; ver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install "python${ver}-venv" || apt_install python3-venv
    fi
}

ensure_venv() {
    # ensure_venv EXTRAS : create .venv; install smavenus[EXTRAS] (e.g. "test,uvloop") and the
    # development distribution tools/dev, both editable. smavenus-dev carries the smavenus-sim
    # and smavenus-bench console scripts, which the main distribution leaves out so that a GX
    # never gets a command that plays a Sunny Island.
    local extras="$1"
    ensure_python
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating virtual environment $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    local digest
    digest="$(cat "$SMAVENUS_ROOT/pyproject.toml" "$SMAVENUS_ROOT/tools/dev/pyproject.toml" | sha256sum | cut -c1-16)"
    local stamp="$VENV/.smavenus-installed-$digest-${extras//,/_}"
    if [ ! -f "$stamp" ]; then
        say "installing smavenus[$extras] and smavenus-dev into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip >&2
        # One pip run: smavenus-dev's requirement smavenus[bench] is met by this checkout.
        "$VENV/bin/python" -m pip install -q -e "$SMAVENUS_ROOT[$extras]" \
            -e "$SMAVENUS_ROOT/tools/dev" >&2
        rm -f "$VENV"/.smavenus-installed-*
        touch "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}
