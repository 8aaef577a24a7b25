#!/usr/bin/env bash
# Install smavenus on plain Linux (systemd): a virtual environment, the units, the D-Bus policy
# and an example configuration. Run as root from a checkout:
#
#   deploy/systemd/install.sh [--prefix /opt/smavenus] [--config /etc/smavenus/smavenus.toml]
#   deploy/systemd/install.sh --uninstall
#
# --render-only --unit-dir DIR --bin DIR only writes the units (used by the tests).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
prefix=/opt/smavenus
config=/etc/smavenus/smavenus.toml
unit_dir=/etc/systemd/system
policy_dir=/etc/dbus-1/system.d
bin=""
render_only=0
uninstall=0
units=(smavenus-can-gateway smavenus-bms-controller smavenus-vebus-publisher smavenus-web)

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --config) config="$2"; shift 2 ;;
        --unit-dir) unit_dir="$2"; shift 2 ;;
        --bin) bin="$2"; shift 2 ;;
        --render-only) render_only=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
bin="${bin:-$prefix/venv/bin}"

render_units() {
    mkdir -p "$unit_dir"
    local sandbox unit
    sandbox="$(grep -v '^#' "$here/sandbox.conf" | sed '/^$/d')"
    for unit in "${units[@]}"; do
        awk -v sandbox="$sandbox" -v bin="$bin" -v cfg="$config" -v doc="$prefix/doc" '
            /^@SANDBOX@$/ { print sandbox; print ""; next }
            { gsub("@SMAVENUS_BIN@", bin); gsub("@SMAVENUS_CONFIG@", cfg); gsub("@SMAVENUS_DOC@", doc); print }
        ' "$here/$unit.service.in" > "$unit_dir/$unit.service"
    done
}

if [ "$render_only" -eq 1 ]; then
    render_units
    exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }

if [ "$uninstall" -eq 1 ]; then
    for unit in "${units[@]}"; do
        systemctl disable --now "$unit.service" 2>/dev/null || true
        rm -f "$unit_dir/$unit.service"
    done
    rm -f "$policy_dir/smavenus.conf"
    systemctl daemon-reload
    rm -rf "$prefix"
    echo "smavenus removed (configuration $config and state /var/lib/smavenus kept)"
    exit 0
fi

python3 -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q --upgrade pip
"$prefix/venv/bin/pip" install -q "$repo[uvloop,web]"
# smavenus-web runs as this user (the D-Bus policy names it); it reads the configuration.
id -u smavenus >/dev/null 2>&1 \
    || useradd --system --no-create-home --shell /usr/sbin/nologin smavenus
mkdir -p "$prefix/doc" && cp "$repo"/docs/*.md "$prefix/doc/"
if [ ! -f "$config" ]; then
    mkdir -p "$(dirname "$config")"
    "$bin/smavenus" config example > "$config"
    echo "wrote $config: EDIT [battery] AND [can] BEFORE STARTING"
fi
chgrp smavenus "$config" && chmod 0640 "$config"  # [web] password_hash is in it
install -m 0644 "$repo/deploy/dbus/smavenus.conf" "$policy_dir/smavenus.conf"
render_units
systemctl daemon-reload
"$bin/smavenus" config check "$config" >/dev/null
systemctl enable --now "${units[@]/%/.service}"
echo "smavenus installed and started; logs: journalctl -u 'smavenus-*' -f"
