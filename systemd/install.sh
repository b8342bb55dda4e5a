#!/usr/bin/env bash
# Install the station on Raspberry Pi OS Bookworm or Trixie (Pi 3, 4, 5, Zero 2 W).
#
#   sudo systemd/install.sh               install or upgrade (safe to run again)
#   sudo systemd/install.sh --simulate    a training or showroom station: the daemon runs the simulated board
#   sudo systemd/install.sh --uninstall   remove everything but the data
#   systemd/install.sh --dry-run [...]    print every step, change nothing
#
# What it does: updates apt's package lists and installs the system packages
# a virtual environment needs, creates the service users (station, in groups
# gpio and i2c; station-ui, in group station), builds a virtual environment in
# /opt/station (the system Python is externally managed) and pip-installs a
# copy of this checkout into it (the checkout may be read-only) with the
# versions in constraints.txt, adds the GPIO library for the board (rpi-lgpio
# on the Pi 5, RPi.GPIO otherwise), writes /etc/station/station.toml only if
# it does not exist, installs and enables station-daemon.service and
# station-ui.service (the kiosk on tty1, replacing the login prompt there),
# and turns console blanking off. With --simulate a drop-in makes the daemon
# run `station daemon --simulate`; installing again without it removes the
# drop-in. --uninstall keeps /var/lib/station (the records) and /etc/station
# (the configuration and calibration).
#
# Python 3.13 (Trixie) has no lgpio wheel on PyPI: pip builds it from the C
# sources bundled in its sdist (PYPI=1 links them in statically), with the
# gcc and swig installed here.
#
# Environment (for testing and unusual setups):
#   STATION_PI_MODEL   the board model string, instead of reading the device tree
#   STATION_CMDLINE    the kernel command line file, instead of /boot/firmware/cmdline.txt
#   STATION_PYTHON     the Python to build the environment from (default /usr/bin/python3)
#   STATION_OS_RELEASE the os-release file to name the system by (default /etc/os-release)
set -euo pipefail
# The service users must be able to read what root installs here.
umask 022

PREFIX=/opt/station
CONFIG_DIR=/etc/station
DATA_DIR=/var/lib/station
UNIT_DIR=/etc/systemd/system
UNITS=(station-daemon.service station-ui.service)
# --simulate's drop-in for the daemon (see simulate_dropin).
DROPIN_DIR="$UNIT_DIR/station-daemon.service.d"
DROPIN="$DROPIN_DIR/simulate.conf"
SERVICE_USER=station
UI_USER=station-ui
# The system Python, not whatever python3 is first on root's PATH (a pyenv
# shim under /root would be unreadable to the service users).
PYTHON="${STATION_PYTHON:-/usr/bin/python3}"
# gcc, swig and the headers build RPi.GPIO (and lgpio where it has no wheel).
APT_PACKAGES=(python3-venv python3-dev gcc swig util-linux)

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSTRAINTS="$SRC/constraints.txt"
DRY_RUN=0
SIMULATE=0
ACTION=install

usage() {
    sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

say() { printf '==> %s\n' "$*"; }

# Every change goes through run: printed always, done unless --dry-run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [ "$DRY_RUN" = 0 ]; then
        "$@"
    fi
}

# The board's model string, e.g. "Raspberry Pi 5 Model B Rev 1.0" ("" off a Pi).
pi_model() {
    if [ -n "${STATION_PI_MODEL:-}" ]; then
        printf '%s' "$STATION_PI_MODEL"
        return
    fi
    local f
    for f in /proc/device-tree/model /sys/firmware/devicetree/base/model; do
        if [ -r "$f" ]; then
            tr -d '\0' <"$f"
            return
        fi
    done
}

# The pip package that gives RPi.GPIO's API on this board: plain RPi.GPIO
# cannot find the Pi 5's GPIO (on its RP1 chip); the rpi-lgpio shim can.
gpio_package() {
    case "$1" in
        *"Raspberry Pi 5"* | *"Compute Module 5"*) echo rpi-lgpio ;;
        *"Raspberry Pi"*) echo RPi.GPIO ;;
        *) echo "" ;;
    esac
}

# The system's name from os-release, e.g. "Debian GNU/Linux 13 (trixie)".
os_name() {
    local f="${STATION_OS_RELEASE:-/etc/os-release}" PRETTY_NAME=""
    if [ -r "$f" ]; then
        # shellcheck disable=SC1090 # os-release is shell variable assignments by definition
        PRETTY_NAME="$(. "$f" && printf '%s' "${PRETTY_NAME:-}")"
    fi
    printf '%s' "${PRETTY_NAME:-unknown}"
}

# The Python's version as MAJOR.MINOR (asked of the interpreter itself).
python_version() {
    "$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

# lgpio publishes wheels up to Python 3.12; newer ones build its sdist.
lgpio_needs_build() {
    local v="$1"
    [ "${v%%.*}" -gt 3 ] || { [ "${v%%.*}" -eq 3 ] && [ "${v#*.}" -ge 13 ]; }
}

# The unit's own ExecStart with --simulate added (the first, empty, ExecStart= clears the unit's).
simulate_dropin() {
    local exec
    exec="$(sed -n 's/^ExecStart=//p' "$SRC/systemd/station-daemon.service")"
    printf '%s\n' \
        "# Written by systemd/install.sh --simulate: a training or showroom station." \
        "# The daemon runs the simulated board and a virtual patient; install.sh without" \
        "# --simulate removes this file." \
        "[Service]" \
        "ExecStart=" \
        "ExecStart=${exec/ daemon / daemon --simulate }"
}

# A copy of the checkout to build from: pip builds a local project in place
# (build/, *.egg-info), which a read-only checkout cannot take.
copy_source() { # destination
    tar -C "$SRC" --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
        --exclude=__pycache__ -cf - . | tar -C "$1" -xf -
}

cmdline_file() {
    if [ -n "${STATION_CMDLINE:-}" ]; then
        echo "$STATION_CMDLINE"
    elif [ ! -e /boot/firmware/cmdline.txt ] && [ -e /boot/cmdline.txt ]; then
        echo /boot/cmdline.txt # before Bookworm
    else
        echo /boot/firmware/cmdline.txt
    fi
}

# cmdline.txt is one line; add or remove one word on it, keeping the rest.
console_blank_off() {
    local f="$1"
    if [ ! -e "$f" ] && [ "$DRY_RUN" = 0 ]; then
        say "no $f: not a Raspberry Pi boot partition; console blanking left as it is"
    elif [ ! -e "$f" ]; then
        say "($f is not here; on the Pi:)"
        run sed -i -e '1s/[[:space:]]*$/ consoleblank=0/' "$f"
    elif grep -qw 'consoleblank=0' "$f"; then
        say "console blanking already off in $f"
    else
        run sed -i -e '1s/[[:space:]]*$/ consoleblank=0/' "$f"
    fi
}

console_blank_restore() {
    local f="$1"
    if [ -e "$f" ] && grep -qw 'consoleblank=0' "$f"; then
        run sed -i -e '1s/[[:space:]]*consoleblank=0//' "$f"
    fi
}

have_user() { id -u "$1" >/dev/null 2>&1; }
have_group() { getent group "$1" >/dev/null 2>&1; }

ensure_group() {
    if have_group "$1"; then
        say "group $1 exists"
    else
        run groupadd --system "$1"
    fi
}

ensure_user() { # name home comment
    if have_user "$1"; then
        say "user $1 exists"
    else
        run useradd --system --user-group --home-dir "$2" --no-create-home \
            --shell /usr/sbin/nologin --comment "$3" "$1"
    fi
}

systemd_running() { [ -d /run/systemd/system ]; }

do_install() {
    local model gpio
    model="$(pi_model)"
    gpio="$(gpio_package "$model")"
    local pyver build_env=()
    say "board: ${model:-unknown (not a Raspberry Pi?)}"
    say "system: $(os_name)"
    say "source: $SRC"
    if [ "$SIMULATE" = 1 ]; then
        say "simulated station: the daemon will run the simulated board (training, showroom)"
    fi

    say "system packages"
    run apt-get update
    run apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
    pyver="$(python_version)"
    say "Python $pyver ($PYTHON)"
    if lgpio_needs_build "$pyver"; then
        say "no lgpio wheel for Python $pyver: pip builds it from its bundled C sources"
        build_env=(env PYPI=1)
    fi

    say "service users and groups"
    ensure_group gpio
    ensure_group i2c
    ensure_user "$SERVICE_USER" "$DATA_DIR" "Station daemon"
    run usermod --append --groups gpio,i2c "$SERVICE_USER"
    ensure_user "$UI_USER" /nonexistent "Station kiosk UI"
    run usermod --append --groups "$SERVICE_USER" "$UI_USER"

    say "virtual environment in $PREFIX"
    if [ -x "$PREFIX/bin/python" ]; then
        say "$PREFIX exists; upgrading it in place"
    else
        run "$PYTHON" -m venv "$PREFIX"
    fi
    run "$PREFIX/bin/pip" install --quiet --upgrade pip
    local build="${TMPDIR:-/tmp}/station-src.XXXXXX"
    if [ "$DRY_RUN" = 0 ]; then
        build="$(mktemp -d "$build")"
        # shellcheck disable=SC2064 # expand now: the trap runs after this function returns
        trap "rm -rf '$build'" EXIT
        copy_source "$build"
    fi
    say "built from a copy of $SRC in $build"
    run "${build_env[@]}" "$PREFIX/bin/pip" install --quiet --upgrade --constraint "$CONSTRAINTS" "${build}[pi]"
    if [ -n "$gpio" ]; then
        say "GPIO library for this board: $gpio"
        # Both provide the RPi module: drop the other one (an SD card moved between boards).
        local other=RPi.GPIO
        [ "$gpio" = RPi.GPIO ] && other=rpi-lgpio
        if "$PREFIX/bin/pip" show --quiet "$other" >/dev/null 2>&1; then
            run "$PREFIX/bin/pip" uninstall --quiet --yes "$other"
        fi
        run "${build_env[@]}" "$PREFIX/bin/pip" install --quiet --upgrade --constraint "$CONSTRAINTS" "$gpio"
    else
        say "not a Raspberry Pi: no GPIO library (the station runs with --simulate only)"
    fi
    run install -d -m 0755 "$PREFIX/share/station"
    run cp -r "$SRC/wiring" "$PREFIX/share/station/"

    say "configuration in $CONFIG_DIR"
    run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$CONFIG_DIR"
    if [ -e "$CONFIG_DIR/station.toml" ]; then
        say "keeping the existing $CONFIG_DIR/station.toml"
        run chown "$SERVICE_USER:$SERVICE_USER" "$CONFIG_DIR/station.toml"
    else
        run install -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0640 \
            "$SRC/station/data/station.toml" "$CONFIG_DIR/station.toml"
    fi
    # The staff PIN hashes: the daemon's user alone reads them (the kiosk, in
    # group station, reads station.toml but must not brute-force a PIN hash).
    if [ -e "$CONFIG_DIR/staff-pins.toml" ]; then
        run chown "$SERVICE_USER:$SERVICE_USER" "$CONFIG_DIR/staff-pins.toml"
        run chmod 0600 "$CONFIG_DIR/staff-pins.toml"
    fi

    say "systemd units"
    for unit in "${UNITS[@]}"; do
        run install -m 0644 "$SRC/systemd/$unit" "$UNIT_DIR/$unit"
    done
    if [ "$SIMULATE" = 1 ]; then
        run install -d -m 0755 "$DROPIN_DIR"
        say "writing $DROPIN:"
        simulate_dropin | sed 's/^/    /'
        if [ "$DRY_RUN" = 0 ]; then
            simulate_dropin >"$DROPIN"
        fi
    elif [ -e "$DROPIN" ]; then
        say "a live station now: removing the simulated board's drop-in"
        run rm -f "$DROPIN"
    fi
    # [fhir] configured: the daemon may reach that server and no other address (station/fhir/sandbox.py).
    dropin="$DROPIN_DIR/fhir-network.conf"
    if net=$("$PREFIX/bin/station" fhir-sandbox --config "$CONFIG_DIR/station.toml" 2>/dev/null) && [ -n "$net" ]; then
        say "network for the FHIR server: $dropin"
        run install -d -m 0755 "$(dirname "$dropin")"
        if [ "$DRY_RUN" = 1 ]; then say "(would write) $net"; else printf '%s\n' "$net" > "$dropin"; fi
    else
        run rm -f "$dropin"
    fi
    if systemd_running || [ "$DRY_RUN" = 1 ]; then
        run systemctl daemon-reload
        # The kiosk takes tty1 in place of the login prompt (other VTs keep theirs).
        run systemctl disable getty@tty1.service
        run systemctl enable "${UNITS[@]}"
        run systemctl restart station-daemon.service
        run systemctl try-restart station-ui.service
    else
        say "systemd is not running here: units installed, not enabled"
    fi

    say "console blanking"
    console_blank_off "$(cmdline_file)"

    say "done. The kiosk takes over tty1 at the next boot (or now: systemctl start station-ui)."
    say "Check the hardware with: sudo -u $SERVICE_USER $PREFIX/bin/station selftest --config $CONFIG_DIR/station.toml"
    say "Set the staff PINs with: sudo $PREFIX/bin/station set-pin therapist --config $CONFIG_DIR/station.toml (and technician)"
}

do_uninstall() {
    say "removing the station; keeping $DATA_DIR (records) and $CONFIG_DIR (configuration, calibration)"
    if systemd_running || [ "$DRY_RUN" = 1 ]; then
        run systemctl disable --now "${UNITS[@]}"
    fi
    for unit in "${UNITS[@]}"; do
        if [ -e "$UNIT_DIR/$unit" ] || [ "$DRY_RUN" = 1 ]; then
            run rm -f "$UNIT_DIR/$unit"
        fi
    done
    if [ -e "$DROPIN_DIR" ]; then  # the simulated board's and the FHIR network's drop-ins
        run rm -rf "$DROPIN_DIR"
    fi
    if systemd_running || [ "$DRY_RUN" = 1 ]; then
        run systemctl daemon-reload
        run systemctl enable getty@tty1.service
    fi
    if [ -e "$PREFIX" ] || [ "$DRY_RUN" = 1 ]; then
        run rm -rf "$PREFIX"
    fi
    for user in "$UI_USER" "$SERVICE_USER"; do
        if have_user "$user" || [ "$DRY_RUN" = 1 ]; then
            run userdel "$user"
        fi
    done
    console_blank_restore "$(cmdline_file)"
    say "done. $DATA_DIR and $CONFIG_DIR are still there; delete them by hand if you mean to."
}

main() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --dry-run) DRY_RUN=1 ;;
            --simulate) SIMULATE=1 ;;
            --uninstall) ACTION=uninstall ;;
            -h | --help)
                usage
                return 0
                ;;
            *)
                echo "install.sh: unknown option '$1'" >&2
                usage >&2
                return 2
                ;;
        esac
        shift
    done
    if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
        echo "install.sh: run it as root (sudo $0), or with --dry-run to see the plan" >&2
        return 1
    fi
    if [ "$DRY_RUN" = 1 ]; then
        say "dry run: printing every step, changing nothing"
    fi
    "do_$ACTION"
}

# Sourced (by the tests) the functions are defined and nothing runs.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
