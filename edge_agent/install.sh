#!/bin/sh
# VADCloud edge agent installer, served by the portal at /edge/install.sh:
#
#   curl -fsSL https://<portal>/edge/install.sh | sudo sh -s -- --url https://<portal> --token <token>
#
# Creates a virtualenv under --prefix, installs the agent wheel the portal serves at /edge/dist/,
# enrolls this box with the one-time token (`vad-edge enroll`) and runs the agent as the systemd
# service vadcloud-edge.service. Re-running is safe: the venv is reused, the wheel reinstalled,
# enrollment skipped when the data dir already holds device.json.
#
# Everything runs inside main(), called on the last line: a download cut short runs nothing.
set -eu

URL=""
TOKEN=""
PREFIX="/opt/vadcloud-edge"
DATA_DIR="/var/lib/vadcloud-edge"
SYSTEMD=1
UNIT_DIR="/etc/systemd/system"
PYTHON="python3"
PIP_ARGS=""
SYSTEM_SITE=0
MIN_PYTHON="3.10"  # edge_agent/pyproject.toml requires-python (JetPack 6 ships 3.10)
UNIT="vadcloud-edge.service"
TMP=""

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 2; }

usage() {
    cat <<'EOF'
usage: install.sh --url URL [--token TOKEN] [options]

  --url URL               portal address, e.g. https://portal.example.com (required)
  --token TOKEN           one-time enrollment token from the portal (needed unless already enrolled)
  --prefix DIR            virtualenv for the agent (default /opt/vadcloud-edge)
  --data-dir DIR          device.json, device_key.pem, outbox (default /var/lib/vadcloud-edge)
  --python PY             interpreter for the venv, >= 3.10 (default python3)
  --pip-args "ARGS"       extra pip install arguments (e.g. "--no-index --find-links /wheels")
  --system-site-packages  let the venv see the interpreter's packages (offline / preinstalled deps)
  --no-systemd            do not write or enable vadcloud-edge.service
  --unit-dir DIR          where vadcloud-edge.service goes (default /etc/systemd/system)
  -h, --help              this help
EOF
}

need_value() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --url) need_value "$1" $#; URL=$2; shift 2 ;;
            --url=*) URL=${1#*=}; shift ;;
            --token) need_value "$1" $#; TOKEN=$2; shift 2 ;;
            --token=*) TOKEN=${1#*=}; shift ;;
            --prefix) need_value "$1" $#; PREFIX=$2; shift 2 ;;
            --prefix=*) PREFIX=${1#*=}; shift ;;
            --data-dir) need_value "$1" $#; DATA_DIR=$2; shift 2 ;;
            --data-dir=*) DATA_DIR=${1#*=}; shift ;;
            --python) need_value "$1" $#; PYTHON=$2; shift 2 ;;
            --python=*) PYTHON=${1#*=}; shift ;;
            --pip-args) need_value "$1" $#; PIP_ARGS=$2; shift 2 ;;
            --pip-args=*) PIP_ARGS=${1#*=}; shift ;;
            --unit-dir) need_value "$1" $#; UNIT_DIR=$2; shift 2 ;;
            --unit-dir=*) UNIT_DIR=${1#*=}; shift ;;
            --system-site-packages) SYSTEM_SITE=1; shift ;;
            --no-systemd) SYSTEMD=0; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
    done
    [ -n "$URL" ] || die "--url is required, e.g. --url https://portal.example.com"
    case "$URL" in
        http://*|https://*) ;;
        *) die "--url must start with http:// or https://, got '$URL'" ;;
    esac
    URL=${URL%/}
}

check_platform() {
    say "checking the platform"
    OS=$(uname -s)
    [ "$OS" = "Linux" ] || die "the edge agent runs on Linux; this is $OS"
    ARCH=$(uname -m)
    case "$ARCH" in
        x86_64|aarch64) ;;
        *) die "unsupported architecture $ARCH; supported: x86_64, aarch64" ;;
    esac
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python >= $MIN_PYTHON or pass --python"
    PY_VERSION=$("$PYTHON" -c 'import platform; print(platform.python_version())' </dev/null) \
        || die "$PYTHON does not run"
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= tuple(map(int, sys.argv[1].split("."))) else 1)' \
        "$MIN_PYTHON" </dev/null || die "$PYTHON is Python $PY_VERSION; need >= $MIN_PYTHON (pass --python)"
    # model bundles are unpacked with tarfile's "data" filter (Python 3.10.12+, 3.11.4+)
    "$PYTHON" -c 'import sys, tarfile; sys.exit(0 if hasattr(tarfile, "data_filter") else 1)' </dev/null \
        || die "$PYTHON is Python $PY_VERSION, whose tarfile has no safe extraction filter; need 3.10.12+ or 3.11.4+ (pass --python)"
    EXTRA=""
    if [ -f /etc/nv_tegra_release ]; then
        EXTRA="[gpu]"
        say "NVIDIA Jetson detected (/etc/nv_tegra_release): installing the gpu extra"
    fi
    say "Linux $ARCH, Python $PY_VERSION ($PYTHON)"
    if command -v curl >/dev/null 2>&1; then
        DOWNLOADER=curl
    elif command -v wget >/dev/null 2>&1; then
        DOWNLOADER=wget
    else
        die "neither curl nor wget found; install one of them"
    fi
    ENROLLED=0
    if [ -f "$DATA_DIR/device.json" ]; then ENROLLED=1; fi
    if [ "$ENROLLED" -eq 0 ] && [ -z "$TOKEN" ]; then
        die "--token is required to enroll this box (copy the install command from the portal)"
    fi
    if [ "$SYSTEMD" -eq 1 ]; then
        [ "$(id -u)" -eq 0 ] || die "installing $UNIT needs root: run with sudo, or pass --no-systemd"
        command -v systemctl >/dev/null 2>&1 || die "systemctl not found; pass --no-systemd and start the agent yourself"
    fi
}

fetch() {
    if [ "$DOWNLOADER" = curl ]; then
        curl -fsSL --retry 3 -o "$2" "$1" </dev/null
    else
        wget -q -O "$2" "$1" </dev/null
    fi
}

make_venv() {
    if [ -x "$PREFIX/bin/python" ] && "$PREFIX/bin/python" -c 'import sys' </dev/null >/dev/null 2>&1; then
        say "reusing the virtualenv $PREFIX"
        return
    fi
    say "creating the virtualenv $PREFIX"
    if [ "$SYSTEM_SITE" -eq 1 ]; then
        "$PYTHON" -m venv --system-site-packages "$PREFIX" </dev/null || die "could not create a venv in $PREFIX"
    else
        "$PYTHON" -m venv "$PREFIX" </dev/null \
            || die "could not create a venv in $PREFIX (Debian/Ubuntu: apt install python3-venv)"
    fi
}

install_agent() {
    say "downloading the agent from $URL/edge/dist/"
    fetch "$URL/edge/dist/" "$TMP/index" || die "could not download $URL/edge/dist/"
    SHA="" WHEEL=""
    read -r SHA WHEEL < "$TMP/index" || true
    case "$WHEEL" in
        */*|"") die "unexpected wheel index from $URL/edge/dist/: '$(head -n 3 "$TMP/index")'" ;;
        *.whl) ;;
        *) die "unexpected wheel name '$WHEEL' from $URL/edge/dist/" ;;
    esac
    fetch "$URL/edge/dist/$WHEEL" "$TMP/$WHEEL" || die "could not download $URL/edge/dist/$WHEEL"
    GOT=$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
        "$TMP/$WHEEL" </dev/null)
    [ "$GOT" = "$SHA" ] || die "checksum mismatch for $WHEEL: expected $SHA, got $GOT"
    say "installing $WHEEL$EXTRA (sha256 $SHA)"
    # PIP_ARGS is split into words on purpose: it holds several pip options
    # shellcheck disable=SC2086
    "$PREFIX/bin/python" -m pip install --disable-pip-version-check $PIP_ARGS "$TMP/$WHEEL$EXTRA" </dev/null \
        || die "pip could not install $WHEEL (dependencies: see the pip output above)"
    # the same version number may carry a newer build: always replace the agent itself
    # shellcheck disable=SC2086
    "$PREFIX/bin/python" -m pip install --disable-pip-version-check --no-deps --force-reinstall $PIP_ARGS \
        "$TMP/$WHEEL" </dev/null || die "pip could not reinstall $WHEEL"
    "$PREFIX/bin/vad-edge" --version </dev/null
}

enroll() {
    mkdir -p "$DATA_DIR"
    chmod 700 "$DATA_DIR"
    if [ "$ENROLLED" -eq 1 ]; then
        say "already enrolled ($DATA_DIR/device.json exists): skipping enrollment"
        return
    fi
    say "enrolling this box with $URL"
    "$PREFIX/bin/vad-edge" enroll --url "$URL" --token "$TOKEN" --data-dir "$DATA_DIR" </dev/null \
        || die "enrollment failed (the reason is above); get a new install command from the portal"
}

install_service() {
    if [ "$SYSTEMD" -eq 0 ]; then
        say "skipping systemd (--no-systemd); start the agent with: $PREFIX/bin/vad-edge run --data-dir $DATA_DIR"
        return
    fi
    say "writing $UNIT_DIR/$UNIT"
    mkdir -p "$UNIT_DIR"
    cat > "$UNIT_DIR/$UNIT" <<EOF
[Unit]
Description=VADCloud edge agent
After=network-online.target
Wants=network-online.target

[Service]
Environment=VAD_EDGE_DATA_DIR=$DATA_DIR
ExecStart=$PREFIX/bin/vad-edge run --data-dir $DATA_DIR
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
    say "enabling and (re)starting $UNIT"
    systemctl daemon-reload </dev/null
    systemctl enable "$UNIT" </dev/null
    systemctl restart "$UNIT" </dev/null
}

main() {
    parse_args "$@"
    check_platform
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    trap 'exit 130' INT TERM
    make_venv
    install_agent
    enroll
    install_service
    say "done; versions and runtimes: $PREFIX/bin/vad-edge doctor"
}

main "$@"
