#!/bin/sh
# smavenus on Venus OS, run from /data/rc.local at every boot (and by the installer).
#   boot.sh               self-test the venv (rebuild it from the wheel cache if it fails),
#                         install the D-Bus policy and the udev rule, bring up CAN, and link
#                         the services if they are enabled
#   boot.sh --enable [--i-have-checked-the-config]
#                         enable the services once `smavenus config check` passes on a
#                         smavenus.toml that is not the unedited example (the flag waives
#                         only the "edited" part, for scripted installs)
#   boot.sh --self-test   import every dependency with the running Python; rebuild if needed
#   boot.sh --stop        stop the services, unlink them, remove the D-Bus policy and rule
#   boot.sh --check-can   report on the CAN interface named in smavenus.toml
# /service is a tmpfs and /etc lives on the read-only root file system, so both are
# re-applied here at every boot; a firmware update may also bring a new Python, which
# breaks the venv: it is rebuilt from the wheel cache under /data, no network needed.
# SMAVENUS_ROOT prefixes every path (tests use a fake root); PYTHON names the system Python.
set -u

ROOT="${SMAVENUS_ROOT:-}"
HOME_DIR="$ROOT/data/smavenus"
POLICY="$ROOT/etc/dbus-1/system.d/smavenus.conf"
UDEV_RULE="$ROOT/etc/udev/rules.d/smavenus-slcan.rules"
VENV="$HOME_DIR/venv"
WHEELS="$HOME_DIR/wheels"
LOCK="$HOME_DIR/requirements.lock"
ENABLED="$HOME_DIR/enabled"
BOOT_LOG="$HOME_DIR/boot.log"
PYTHON="${PYTHON:-python3}"
SERVICES="smavenus-can-gateway smavenus-bms-controller smavenus-vebus-publisher smavenus-web"
# What each service imports: the self-test is these imports with the venv's Python.
APPS="smavenus.apps.can_gateway smavenus.apps.bms_controller smavenus.apps.vebus_publisher smavenus.apps.web"
# What the self-test imports: the services, and the slcan adapter's module, which the gateway
# imports only when it opens one, with pyserial named itself (python-can imports it only if
# it can: a broken one would surface only when the adapter is opened).
SELF_TEST_MODULES="$APPS smavenus.io.can.slcan serial"

say() {
    echo "smavenus: $*"
    # also kept under /data: rc.local's output goes nowhere at boot
    [ -d "$HOME_DIR" ] && echo "$(date '+%Y-%m-%d %H:%M:%S') $*" >> "$BOOT_LOG" 2>/dev/null
    return 0
}

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

imports_ok() {  # imports_ok PYTHON MODULES...: the modules import with that interpreter
    py="$1"; shift
    [ -x "$py" ] || return 1
    "$py" -c "import sys, importlib; [importlib.import_module(m) for m in sys.argv[1:]]" "$@" \
        >/dev/null 2>&1
}

rebuild_venv() {  # a new venv from the wheel cache only (--no-index: no network needed)
    [ -d "$WHEELS" ] && [ -f "$LOCK" ] || { say "no wheel cache ($WHEELS, $LOCK): cannot rebuild"; return 1; }
    # Built where it will stay: pip writes the venv's own path into every console script's
    # first line, so a venv built elsewhere and moved here would start no service. The
    # broken one waits aside, and comes back if no venv can be made at all.
    rm -rf "$VENV.old"
    [ -e "$VENV" ] && mv "$VENV" "$VENV.old"
    if ! "$PYTHON" -m venv --system-site-packages "$VENV"; then
        say "cannot create a venv with $PYTHON"
        rm -rf "$VENV"
        [ -e "$VENV.old" ] && mv "$VENV.old" "$VENV"
        return 1
    fi
    if ! "$VENV/bin/python" -m pip install -q --no-index --find-links "$WHEELS" -r "$LOCK" \
            >> "$BOOT_LOG" 2>&1; then
        # One wheel that does not fit this Python (a compiled one for another version) must not
        # keep the others out: each requirement alone, without its dependencies.
        say "the locked set does not install as a whole with $("$PYTHON" -V 2>&1); one by one"
        grep -v '^[[:space:]]*#' "$LOCK" | while read -r requirement; do
            [ -n "$requirement" ] || continue
            "$VENV/bin/python" -m pip install -q --no-deps --no-index \
                --find-links "$WHEELS" "$requirement" >> "$BOOT_LOG" 2>&1 \
                || say "  not installable from the cache: $requirement"
        done
    fi
    rm -rf "$VENV.old"
    return 0
}

self_test() {  # every service's imports with the venv's Python; rebuild from the cache if not
    if imports_ok "$VENV/bin/python" $SELF_TEST_MODULES; then
        return 0
    fi
    say "self-test failed: the venv does not import smavenus with $("$PYTHON" -V 2>&1) (a firmware update?)"
    say "rebuilding $VENV from the wheel cache (no network)"
    if rebuild_venv && imports_ok "$VENV/bin/python" $SELF_TEST_MODULES; then
        say "venv rebuilt from the wheel cache: self-test passed"
        return 0
    fi
    for module in $SELF_TEST_MODULES; do
        imports_ok "$VENV/bin/python" "$module" || say "still failing after the rebuild: $module"
    done
    say "the venv could not be fully rebuilt; see $BOOT_LOG and docs/deployment.md"
    return 1
}

install_udev_rule() {  # keep Venus's serial-starter off an slcan adapter (see the rule file)
    if ! cmp -s "$HOME_DIR/udev/smavenus-slcan.rules" "$UDEV_RULE" 2>/dev/null; then
        with_rw_root sh -c "mkdir -p '$(dirname "$UDEV_RULE")' && cp '$HOME_DIR/udev/smavenus-slcan.rules' '$UDEV_RULE'"
        [ -n "$ROOT" ] || udevadm control --reload-rules 2>/dev/null || true
        say "udev rule installed (serial-starter leaves slcan adapters alone)"
    fi
}

remove_udev_rule() {
    if [ -f "$UDEV_RULE" ]; then
        with_rw_root rm -f "$UDEV_RULE"
        [ -n "$ROOT" ] || udevadm control --reload-rules 2>/dev/null || true
    fi
}

config_checked() {  # config_checked [--i-have-checked-the-config]
    config="$HOME_DIR/smavenus.toml"
    [ -f "$config" ] || { say "no $config"; return 1; }
    if [ "${1:-}" != "--i-have-checked-the-config" ] && cmp -s "$config" "$HOME_DIR/smavenus.toml.example"; then
        say "$config is still the unedited example (a 16-cell LiFePO4 bank at up to 140 A):"
        say "edit [battery] and [can] for YOUR battery, then run: $HOME_DIR/boot.sh --enable"
        return 1
    fi
    if ! "$VENV/bin/smavenus" config check "$config" > "$HOME_DIR/config-check.txt" 2>&1; then
        say "smavenus config check failed on $config:"
        sed 's/^/smavenus:   /' "$HOME_DIR/config-check.txt"
        return 1
    fi
    return 0
}

enable_services() {
    if config_checked "$@"; then
        : > "$ENABLED"
        say "services enabled"
        link_services
        return 0
    fi
    say "services NOT enabled"
    return 1
}

link_services() {
    if [ ! -f "$ENABLED" ]; then
        say "services not enabled (run $HOME_DIR/boot.sh --enable after editing smavenus.toml)"
        return 0
    fi
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
    --stop) stop_services; remove_policy; remove_udev_rule ;;
    --check-can) check_can ;;
    --self-test) self_test ;;
    --enable) shift; enable_services "$@" ;;
    "")
        # The venv first: a service linked on a broken venv would crash-loop, and the SI
        # faults (F952) 60 s after its last BMS frame. Linked even if it stays broken, so
        # whatever does import (the gateway, with Venus's own packages) still runs.
        self_test
        install_policy; install_udev_rule; bring_up_can; link_services ;;
    *) echo "usage: boot.sh [--stop|--check-can|--self-test|--enable [--i-have-checked-the-config]]" >&2; exit 2 ;;
esac
