#!/bin/sh
# smavenus on Venus OS, run from /data/rc.local at every boot (and by the installer).
#   boot.sh               install the D-Bus policy, bring up CAN, link and start the services
#   boot.sh --stop        stop the services, unlink them, remove the D-Bus policy
#   boot.sh --check-can   report on the CAN interface named in smavenus.toml
# /service is a tmpfs and /etc lives on the read-only root file system, so both are
# re-applied here at every boot. SMAVENUS_ROOT prefixes every path (tests use a fake root).
set -u

ROOT="${SMAVENUS_ROOT:-}"
HOME_DIR="$ROOT/data/smavenus"
POLICY="$ROOT/etc/dbus-1/system.d/smavenus.conf"
SERVICES="smavenus-can-gateway smavenus-bms-controller smavenus-vebus-publisher smavenus-web"

say() { echo "smavenus: $*"; }

config_value() {  # config_value SECTION KEY: the value of KEY in [SECTION], quotes removed
    awk -v s="[$1]" -v k="$2" '
        /^\[/ { in_s = ($1 == s) }
        in_s && $1 == k && $2 == "=" { v = $3; gsub(/"/, "", v); print v; exit }
    ' "$HOME_DIR/smavenus.toml" 2>/dev/null
}

with_rw_root() {  # run a command with / writable; Venus mounts it read-only
    if [ -z "$ROOT" ] && grep -q ' / [^ ]* ro[, ]' /proc/mounts 2>/dev/null; then
        mount -o remount,rw / && "$@"
        status=$?
        mount -o remount,ro /
        return $status
    fi
    "$@"
}

reload_dbus() {  # make dbus-daemon read the policy directory again (not in a fake root)
    [ -z "$ROOT" ] || return 0
    dbus-send --system --type=method_call --dest=org.freedesktop.DBus / \
        org.freedesktop.DBus.ReloadConfig 2>/dev/null || true
}

install_policy() {
    if ! cmp -s "$HOME_DIR/dbus/smavenus.conf" "$POLICY" 2>/dev/null; then
        with_rw_root sh -c "mkdir -p '$(dirname "$POLICY")' && cp '$HOME_DIR/dbus/smavenus.conf' '$POLICY'"
        reload_dbus
        say "D-Bus policy installed"
    fi
}

remove_policy() {
    if [ -f "$POLICY" ]; then
        with_rw_root rm -f "$POLICY"
        reload_dbus
    fi
}

can_channel() {
    [ "$(config_value can interface)" = "socketcan" ] && config_value can channel
}

check_can() {
    channel="$(can_channel)" || { say "CAN: not socketcan ($(config_value can interface)); nothing to check"; return 0; }
    if ! ip link show "$channel" >/dev/null 2>&1; then
        say "CAN: interface $channel not found. Plug in the candleLight/gs_usb adapter, or set"
        say "     [can] channel in $HOME_DIR/smavenus.toml (ip link shows the CAN interfaces)."
        return 0
    fi
    say "CAN: $channel present. In the GX menu (Settings > Services > the CAN port) choose a"
    say "     CAN-bus profile that runs no BMS driver on that port ('Disabled' on current"
    say "     Venus OS): with a 'CAN-bus BMS' profile Venus would read smavenus's own BMS frames"
    say "     as a second battery. smavenus brings the port up at 500 kbit/s itself."
}

bring_up_can() {
    channel="$(can_channel)" || return 0
    ip link show "$channel" >/dev/null 2>&1 || return 0
    if ! ip -details link show "$channel" | grep -q 'bitrate 500000'; then
        ip link set "$channel" down
        ip link set "$channel" type can bitrate 500000 restart-ms 100
    fi
    ip link set "$channel" up 2>/dev/null || true
}

link_services() {
    [ -d "$ROOT/service" ] || mkdir -p "$ROOT/service"
    for name in $SERVICES; do
        [ -L "$ROOT/service/$name" ] || ln -s "$HOME_DIR/services/$name" "$ROOT/service/$name"
    done
}

stop_services() {
    for name in $SERVICES; do
        if [ -L "$ROOT/service/$name" ]; then
            svc -dx "$ROOT/service/$name" "$ROOT/service/$name/log" 2>/dev/null || true
            rm -f "$ROOT/service/$name"
        fi
    done
}

case "${1:-}" in
    --stop) stop_services; remove_policy ;;
    --check-can) check_can ;;
    "") install_policy; bring_up_can; link_services ;;
    *) echo "usage: boot.sh [--stop|--check-can]" >&2; exit 2 ;;
esac
