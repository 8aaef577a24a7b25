#!/bin/sh
# Install smavenus on a Venus OS GX device (Cerbo GX, Raspberry Pi with Venus OS).
#
#   cd /data/smavenus-src && sh deploy/venus/install.sh          # install or update
#   sh deploy/venus/install.sh --uninstall                        # remove everything it added
#
# What it does (all under /data, which survives firmware updates):
#   - opkg installs Venus's own python3-can, python3-dbus-fast, python3-pydantic, python3-pip,
#     python3-aiohttp (for smavenus-web, the dashboard on 127.0.0.1:8088);
#   - creates /data/smavenus/venv (--system-site-packages) and pip-installs smavenus and the
#     rest (structlog) there;
#   - writes /data/smavenus/smavenus.toml from the example if there is none (EDIT IT);
#   - copies the daemontools services and the D-Bus policy to /data/smavenus;
#   - adds one block to /data/rc.local that runs /data/smavenus/boot.sh at every boot
#     (/service is a tmpfs and /etc is on the read-only root: both are re-applied at boot);
#   - runs boot.sh once now, and checks the CAN interface.
# Running it twice is safe. Environment for tests: SMAVENUS_ROOT (a fake root directory),
# SMAVENUS_PIP_OPTS (extra pip options), OPKG (the opkg command).
set -eu

ROOT="${SMAVENUS_ROOT:-}"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
HOME_DIR="/data/smavenus"
DEST="$ROOT$HOME_DIR"
RC_LOCAL="$ROOT/data/rc.local"
OPKG="${OPKG:-opkg}"
MARK_BEGIN="# >>> smavenus >>>"
MARK_END="# <<< smavenus <<<"

say() { echo "smavenus: $*"; }
die() { echo "smavenus: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root"

remove_rc_block() {
    [ -f "$RC_LOCAL" ] || return 0
    awk -v b="$MARK_BEGIN" -v e="$MARK_END" '$0==b{skip=1;next} $0==e{skip=0;next} !skip' \
        "$RC_LOCAL" > "$RC_LOCAL.smavenus-tmp"
    cat "$RC_LOCAL.smavenus-tmp" > "$RC_LOCAL"
    rm -f "$RC_LOCAL.smavenus-tmp"
}

if [ "${1:-}" = "--uninstall" ]; then
    if [ -x "$DEST/boot.sh" ]; then
        SMAVENUS_ROOT="$ROOT" "$DEST/boot.sh" --stop
    fi
    remove_rc_block
    rm -rf "$DEST"
    say "removed (services stopped, rc.local block, D-Bus policy and $HOME_DIR deleted)"
    exit 0
fi

if [ -z "$ROOT" ] && [ ! -f /opt/victronenergy/version ]; then
    die "this is not Venus OS (no /opt/victronenergy/version); on plain Linux use deploy/systemd/install.sh"
fi

say "installing Venus packages (python3-can, python3-dbus-fast, python3-pydantic, python3-pip)"
if "$OPKG" update >/dev/null; then
    "$OPKG" install python3-can python3-dbus-fast python3-pydantic python3-pip python3-venv \
        python3-aiohttp \
        || say "some packages could not be installed from the feed; pip will fetch them"
else
    say "opkg update failed (no internet?): continuing with what is installed"
fi

mkdir -p "$DEST" "$DEST/state"
say "copying smavenus to $HOME_DIR"
rm -rf "$DEST/src.new"
mkdir -p "$DEST/src.new"
(cd "$SRC" && tar cf - --exclude=.git --exclude=.venv --exclude='*.pyc' --exclude=__pycache__ \
    pyproject.toml README.md src services deploy docs) | (cd "$DEST/src.new" && tar xf -)
rm -rf "$DEST/src"
mv "$DEST/src.new" "$DEST/src"

if [ ! -x "$DEST/venv/bin/python" ]; then
    say "creating the virtual environment (with Venus's system packages visible)"
    python3 -m venv --system-site-packages "$DEST/venv"
fi
say "installing smavenus into the virtual environment"
# shellcheck disable=SC2086 # SMAVENUS_PIP_OPTS is a list of options
"$DEST/venv/bin/python" -m pip install -q ${SMAVENUS_PIP_OPTS:-} "$DEST/src[web]"

rm -rf "$DEST/services"
cp -R "$DEST/src/services" "$DEST/services"
mkdir -p "$DEST/dbus"
cp "$DEST/src/deploy/dbus/smavenus.conf" "$DEST/dbus/smavenus.conf"
cp "$DEST/src/deploy/venus/boot.sh" "$DEST/boot.sh"
chmod 0755 "$DEST/boot.sh"

if [ ! -f "$DEST/smavenus.toml" ]; then
    sed -e 's|^state_dir = .*|state_dir = "/data/smavenus/state"  # survives firmware updates|' \
        "$DEST/src/src/smavenus/data/smavenus.example.toml" > "$DEST/smavenus.toml"
    say "wrote $HOME_DIR/smavenus.toml: EDIT [battery] AND [can] FOR YOUR SYSTEM"
fi

if [ ! -f "$RC_LOCAL" ]; then
    printf '#!/bin/sh\n' > "$RC_LOCAL"
fi
chmod 0755 "$RC_LOCAL"
remove_rc_block
cat >> "$RC_LOCAL" <<RC
$MARK_BEGIN
$HOME_DIR/boot.sh
$MARK_END
RC

SMAVENUS_ROOT="$ROOT" "$DEST/boot.sh" --check-can
SMAVENUS_ROOT="$ROOT" "$DEST/boot.sh"
say "installed. Logs: tail -F /var/log/smavenus-*/current | tai64nlocal"
