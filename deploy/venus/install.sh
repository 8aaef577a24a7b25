#!/bin/sh
# Install smavenus on a Venus OS GX device (Cerbo GX, Raspberry Pi with Venus OS).
#
#   cd /data/smavenus-src && sh deploy/venus/install.sh          # install or update
#   sh deploy/venus/install.sh --i-have-checked-the-config        # scripted: see below
#   sh deploy/venus/install.sh --uninstall                        # remove everything it added
#
# What it does (all under /data, which survives firmware updates):
#   - opkg installs Venus's own python3-can, python3-dbus-fast, python3-pydantic, python3-pip,
#     python3-aiohttp (for smavenus-web, the dashboard on 127.0.0.1:8088);
#   - builds a wheel cache of smavenus and every dependency (/data/smavenus/wheels; also
#     wheels for the next Python minor, SMAVENUS_WHEEL_PYTHONS) and its lock file
#     (/data/smavenus/requirements.lock: exact versions);
#   - creates /data/smavenus/venv (--system-site-packages) and installs the lock into it from
#     the cache; at every boot a self-test imports every service with the venv's Python and
#     rebuilds the venv from the cache if a firmware update broke it (no network needed);
#   - writes /data/smavenus/smavenus.toml from the example if there is none (EDIT IT);
#   - copies the daemontools services, the D-Bus policy and the udev rule to /data/smavenus;
#   - adds one block to /data/rc.local that runs /data/smavenus/boot.sh at every boot
#     (/service is a tmpfs and /etc is on the read-only root: both are re-applied at boot);
#   - enables the services only once `smavenus config check` passes on a smavenus.toml that
#     is not the unedited example (--i-have-checked-the-config waives the "edited" part);
#     otherwise: edit the file, then /data/smavenus/boot.sh --enable;
#   - runs boot.sh once now, and checks the CAN interface.
# Running it twice is safe. Environment for tests: SMAVENUS_ROOT (a fake root directory),
# SMAVENUS_PIP_OPTS (extra pip options), OPKG (the opkg command), PYTHON (the system Python),
# SMAVENUS_WHEEL_PYTHONS (Python versions to cache wheels for, besides the running one).
set -eu

ROOT="${SMAVENUS_ROOT:-}"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
HOME_DIR="/data/smavenus"
DEST="$ROOT$HOME_DIR"
RC_LOCAL="$ROOT/data/rc.local"
OPKG="${OPKG:-opkg}"
PYTHON="${PYTHON:-python3}"
WHEELS="$DEST/wheels"
LOCK="$DEST/requirements.lock"
CHECKED=""
[ "${1:-}" = "--i-have-checked-the-config" ] && CHECKED="--i-have-checked-the-config"
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

if ! "$DEST/venv/bin/python" -c "" 2>/dev/null; then
    say "creating the virtual environment (with Venus's system packages visible)"
    rm -rf "$DEST/venv"
    "$PYTHON" -m venv --system-site-packages "$DEST/venv"
fi
VPY="$DEST/venv/bin/python"

say "building the wheel cache (smavenus and every dependency) in $HOME_DIR/wheels"
rm -rf "$WHEELS.new"
# shellcheck disable=SC2086 # SMAVENUS_PIP_OPTS is a list of options
"$VPY" -m pip wheel -q ${SMAVENUS_PIP_OPTS:-} -w "$WHEELS.new" "$DEST/src[web]"
rm -rf "$WHEELS"
mv "$WHEELS.new" "$WHEELS"
# The lock: exactly the versions in the cache, one "name==version" per wheel.
{
    echo "# smavenus: the exact set in $HOME_DIR/wheels, installed into $HOME_DIR/venv"
    for wheel in "$WHEELS"/*.whl; do
        basename "$wheel" | sed -E 's/^([^-]+)-([^-]+)-.*/\1==\2/'
    done
} > "$LOCK"
for version in ${SMAVENUS_WHEEL_PYTHONS-$("$VPY" -c 'import sys; print(f"3.{sys.version_info[1] + 1}")')}; do
    # After a firmware update the Python may be newer: compiled wheels for it, fetched now
    # while there is a network. Missing ones are reported, not fatal.
    machine="$(uname -m)"
    "$VPY" -m pip download -q --only-binary=:all: --no-deps -d "$WHEELS" \
        --python-version "$version" --implementation cp --platform "manylinux2014_$machine" \
        --platform "manylinux_2_28_$machine" --platform "linux_$machine" \
        -r "$LOCK" 2>/dev/null \
        || say "wheel cache: not every wheel exists for Python $version (a rebuild may miss some)"
done

say "installing smavenus into the virtual environment, from the cache only"
# --ignore-installed: the venv holds the whole lock itself; Venus's own packages (opkg, lost
# at a firmware update) stay visible only as a fallback.
"$VPY" -m pip install -q --no-index --find-links "$WHEELS" --ignore-installed -r "$LOCK"
cp "$LOCK" "$DEST/venv/requirements.lock"

rm -rf "$DEST/services"
cp -R "$DEST/src/services" "$DEST/services"
mkdir -p "$DEST/dbus"
cp "$DEST/src/deploy/dbus/smavenus.conf" "$DEST/dbus/smavenus.conf"
cp "$DEST/src/deploy/venus/boot.sh" "$DEST/boot.sh"
chmod 0755 "$DEST/boot.sh"
mkdir -p "$DEST/udev"
cp "$DEST/src/deploy/venus/smavenus-slcan.rules" "$DEST/udev/smavenus-slcan.rules"

# The example as installed: kept beside the configuration, so that an unedited file is known.
sed -e 's|^state_dir = .*|state_dir = "/data/smavenus/state"  # survives firmware updates|' \
    "$DEST/src/src/smavenus/data/smavenus.example.toml" > "$DEST/smavenus.toml.example.new"
if [ ! -f "$DEST/smavenus.toml" ] || cmp -s "$DEST/smavenus.toml" "$DEST/smavenus.toml.example"; then
    cp "$DEST/smavenus.toml.example.new" "$DEST/smavenus.toml"
    say "wrote $HOME_DIR/smavenus.toml: EDIT [battery] AND [can] FOR YOUR SYSTEM"
fi
mv "$DEST/smavenus.toml.example.new" "$DEST/smavenus.toml.example"

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
# shellcheck disable=SC2086 # CHECKED is empty or one flag
SMAVENUS_ROOT="$ROOT" "$DEST/boot.sh" --enable $CHECKED || true
SMAVENUS_ROOT="$ROOT" PYTHON="$PYTHON" "$DEST/boot.sh"
if [ -f "$DEST/enabled" ]; then
    say "installed and enabled. Logs: tail -F /var/log/smavenus-*/current | tai64nlocal"
else
    say "installed, NOT enabled: edit $HOME_DIR/smavenus.toml, then $HOME_DIR/boot.sh --enable"
fi
