#!/usr/bin/env bash
# swift.sh - a real single-node OpenStack Swift (Debian 12 packages) on
# loopback for the integration tests: tempauth, SLO, DLO, bulk, one replica,
# free ports. Everything lives under DIR; /etc/swift is neither read for
# rings nor changed (a launcher points Swift at DIR/etc).
#
#   swift.sh start  DIR   install if missing, configure, start, wait until
#                         ready; prints `export ...` lines on stdout
#   swift.sh stop   DIR   stops exactly the processes start started (pid
#                         files in DIR/run, checked against their cmdline)
#   swift.sh status DIR   exit 0 if all are up, 3 otherwise
#   swift.sh env    DIR   prints the export lines only
#
# Exit 77 from start: Swift cannot be installed or started here (a test
# then skips with the reason printed on stderr).
#
# Settings (environment):
#   SWIFT_MAX_FILE_SIZE     bytes; small values make Swift answer 413
#   SWIFT_SLO_MAX_SEGMENTS  SLO max_manifest_segments (default 1000)
#   SWIFT_LISTING_LIMIT     container_listing_limit (default Swift's, 10000)
#   SWIFT_CHUNK_SIZE        server chunk sizes (default 1 MiB: Swift's
#                           64 KiB halves loopback throughput)
#   SWIFT_NO_INSTALL=1      never call apt-get
#
# Exports: SWIFT_AUTH_URL SWIFT_USER SWIFT_KEY SWIFT_STORAGE_URL
# SWIFT_PROXY_PORT SWIFT_DIR, and ST_AUTH ST_USER ST_KEY for the swift CLI.
# Users (tempauth): test:tester/testing (.admin of AUTH_test),
# test:tester3/testing3 (no rights), test2:tester2/testing2.
set -euo pipefail

CMD=${1:-}
DIR=${2:-}
[ -n "$CMD" ] && [ -n "$DIR" ] || {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}
DIR=$(realpath -m -- "$DIR")

# Debian's python: pyenv's python3 first on PATH cannot import swift.
PY=/usr/bin/python3
PKGS="swift swift-proxy swift-account swift-container swift-object python3-swiftclient memcached"
SERVERS="account container object proxy updater"
MAX_FILE_SIZE=${SWIFT_MAX_FILE_SIZE:-}
SLO_MAX_SEGMENTS=${SWIFT_SLO_MAX_SEGMENTS:-1000}
LISTING_LIMIT=${SWIFT_LISTING_LIMIT:-}
CHUNK_SIZE=${SWIFT_CHUNK_SIZE:-1048576}

say() { echo "swift.sh: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
skip() { say "SKIP: $*"; exit 77; }

# shellcheck source=tests/services/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
# shellcheck source=tests/services/openstack-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/openstack-lib.sh"

# Ports: kept in DIR/ports once chosen, so stop/status/env find them.
load_ports() {
	if [ -f "$DIR/ports" ]; then
		# shellcheck disable=SC1091
		. "$DIR/ports"
		return 0
	fi
	return 1
}

pick_ports() {
	local b
	b=$(port_pick 21000 27000 5) || die "no free port range found"
	PROXY_PORT=$b OBJECT_PORT=$((b + 1))
	CONTAINER_PORT=$((b + 2)) ACCOUNT_PORT=$((b + 3))
	MEMCACHED_PORT=$((b + 4))
	mkdir -p "$DIR"
	cat >"$DIR/ports" <<EOF
PROXY_PORT=$PROXY_PORT
OBJECT_PORT=$OBJECT_PORT
CONTAINER_PORT=$CONTAINER_PORT
ACCOUNT_PORT=$ACCOUNT_PORT
MEMCACHED_PORT=$MEMCACHED_PORT
EOF
}

port_of() {
	case $1 in
	proxy) echo "$PROXY_PORT" ;;
	object) echo "$OBJECT_PORT" ;;
	container) echo "$CONTAINER_PORT" ;;
	account) echo "$ACCOUNT_PORT" ;;
	memcached) echo "$MEMCACHED_PORT" ;;
	esac
}

packages_present() {
	local b
	for b in swift-ring-builder memcached; do
		command -v "$b" >/dev/null 2>&1 || return 1
	done
	"$PY" -c 'import swift.common.wsgi, swift.proxy.server, swift.obj.server, swiftclient' \
		>/dev/null 2>&1
}

install_packages() {
	os_install_packages Swift SWIFT_NO_INSTALL swift-proxy \
		"Swift installed but $PY cannot import it"
}

stop_one() {
	local pid i
	if pid=$(live_pid "$1"); then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			live_pid "$1" >/dev/null || break
			sleep 0.1
		done
		if live_pid "$1" >/dev/null; then
			say "$1 (pid $pid) ignored SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$(pidfile "$1")"
}

do_stop() {
	local s
	[ -d "$DIR/run" ] || return 0
	for s in proxy updater object container account memcached; do
		stop_one "$s"
	done
}

all_running() {
	local s
	for s in memcached $SERVERS; do
		live_pid "$s" >/dev/null || return 1
	done
}

write_configs() {
	local me s common
	me=$(id -un)
	mkdir -p "$DIR/etc" "$DIR/srv/node/d1" "$DIR/run" "$DIR/log" "$DIR/bin"
	cat >"$DIR/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = trovefs-test-suffix
swift_hash_path_prefix = trovefs-test-prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
$([ -n "$MAX_FILE_SIZE" ] && echo "max_file_size = $MAX_FILE_SIZE")
$([ -n "$LISTING_LIMIT" ] && echo "container_listing_limit = $LISTING_LIMIT")
EOF
	common="bind_ip = 127.0.0.1
workers = 0
user = $me
swift_dir = $DIR/etc
devices = $DIR/srv/node
mount_check = false
disable_fallocate = true
log_level = INFO"
	for s in account container object; do
		cat >"$DIR/etc/$s-server.conf" <<EOF
[DEFAULT]
bind_port = $(port_of $s)
log_name = $s-server
$common

[pipeline:main]
pipeline = healthcheck $s-server

[app:$s-server]
use = egg:swift#$s
network_chunk_size = $CHUNK_SIZE
disk_chunk_size = $CHUNK_SIZE

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
	done
	# account stats (statfs) come from the container updater; without
	# the suppression reset it ignores an account for 60 s after one
	# failed update at start-up
	cat >>"$DIR/etc/container-server.conf" <<EOF

[container-updater]
interval = 1
log_name = container-updater
log_level = WARNING
account_suppression_time = 0
EOF
	{
		swift_proxy_conf "$PROXY_PORT" "$DIR/etc" proxy-server \
			"$MEMCACHED_PORT" "$CHUNK_SIZE" "$SLO_MAX_SEGMENTS" tempauth
		cat <<EOF

[filter:tempauth]
use = egg:swift#tempauth
reseller_prefix = AUTH
token_life = 86400
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test_tester3 = testing3
user_test2_tester2 = testing2 .admin
EOF
	} >"$DIR/etc/proxy-server.conf"
	# Launcher: set_swift_dir() before any swift module reads swift.conf,
	# so DIR/etc/swift.conf (constraints, hash) is used, not /etc/swift.
	cat >"$DIR/bin/server" <<'EOF'
#!/usr/bin/python3
import os
import sys
import time
from swift.common import utils
kind, conf = sys.argv[1], sys.argv[2]
utils.set_swift_dir(os.path.dirname(os.path.abspath(conf)))
from swift.common.wsgi import run_wsgi
if kind == 'updater':
    # run_forever() forks per sweep (0.4 s CPU each); loop run_once()
    from swift.container.updater import ContainerUpdater
    uconf = utils.readconf(conf, 'container-updater')
    utils.validate_configuration()
    updater = ContainerUpdater(uconf)
    while True:
        begin = time.time()
        updater.run_once()
        time.sleep(max(0.0, 1.0 - (time.time() - begin)))
kwargs = {'verbose': True}
if kind == 'object':
    from swift.obj import server
    kwargs['global_conf_callback'] = server.global_conf_callback
sys.exit(run_wsgi(conf, kind + '-server', **kwargs))
EOF
	chmod +x "$DIR/bin/server"
}

build_rings() {
	local s sig="a=$ACCOUNT_PORT c=$CONTAINER_PORT o=$OBJECT_PORT"
	if [ -f "$DIR/etc/rings.sig" ] && [ "$(cat "$DIR/etc/rings.sig")" = "$sig" ]; then
		return 0
	fi
	local pids=()
	for s in account container object; do
		(
			cd "$DIR/etc"
			rm -f "$s.builder" "$s.ring.gz"
			swift-ring-builder "$s.builder" create 6 1 1
			swift-ring-builder "$s.builder" add "r1z1-127.0.0.1:$(port_of $s)/d1" 1
			swift-ring-builder "$s.builder" rebalance || [ $? -eq 1 ]
		) >>"$DIR/log/rings.log" 2>&1 &
		pids+=($!)
	done
	for s in "${pids[@]}"; do
		wait "$s" || die "ring build failed; see $DIR/log/rings.log"
	done
	echo "$sig" >"$DIR/etc/rings.sig"
}

spawn() {
	local s=$1 c=$1
	[ "$s" = updater ] && c=container
	# stdio to the log: a daemon must not hold the caller's $(...) pipe
	nohup "$PY" "$DIR/bin/server" "$s" "$DIR/etc/$c-server.conf" \
		</dev/null >>"$DIR/log/$s.log" 2>&1 &
	echo $! >"$(pidfile "$s")"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

all_listening() {
	local s
	for s in proxy object container account memcached; do
		port_listened "$(port_of $s)" || return 1
	done
}

wait_ready() {
	local deadline=$((SECONDS + 60)) s tok
	while :; do
		for s in memcached account container object proxy; do
			live_pid "$s" >/dev/null || {
				say "$s died at start-up; its log ends with:"
				tail -n 20 "$DIR/log/$s.log" >&2 || true
				do_stop
				return 1
			}
		done
		# every server must listen: the proxy answers auth and account
		# HEADs while a container server still fails to bind its port
		if all_listening &&
			http_ok "http://127.0.0.1:$PROXY_PORT/healthcheck"; then
			tok=$(curl -fsS -D - -o /dev/null --max-time 5 \
				-H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
				"http://127.0.0.1:$PROXY_PORT/auth/v1.0" 2>/dev/null |
				tr -d '\r' | sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p') || true
			if [ -n "$tok" ] && curl -fsS -o /dev/null --max-time 5 -I \
				-H "X-Auth-Token: $tok" \
				"http://127.0.0.1:$PROXY_PORT/v1/AUTH_test" 2>/dev/null; then
				return 0
			fi
		fi
		[ $SECONDS -lt $deadline ] || {
			do_stop
			skip "Swift not ready after 60 s (logs in $DIR/log)"
		}
		sleep 0.2
	done
}

print_env() {
	cat <<EOF
export SWIFT_DIR=$DIR
export SWIFT_PROXY_PORT=$PROXY_PORT
export SWIFT_AUTH_URL=http://127.0.0.1:$PROXY_PORT/auth/v1.0
export SWIFT_USER=test:tester
export SWIFT_KEY=testing
export SWIFT_STORAGE_URL=http://127.0.0.1:$PROXY_PORT/v1/AUTH_test
export ST_AUTH=http://127.0.0.1:$PROXY_PORT/auth/v1.0 ST_USER=test:tester ST_KEY=testing
EOF
}

do_start() {
	local s
	if load_ports && all_running && wait_ready; then
		print_env
		return 0
	fi
	do_stop
	install_packages
	# A server that dies at start-up has almost always lost a port race
	# with another test on this machine: start again on fresh ports.
	local attempt
	for attempt in 1 2 3; do
		start_once && break
		[ "$attempt" -lt 3 ] || skip "Swift did not start in 3 attempts (logs in $DIR/log)"
		say "starting Swift again on other ports (attempt $((attempt + 1)))"
		rm -f "$DIR/ports"
	done
	spawn updater
	say "Swift ready on 127.0.0.1:$PROXY_PORT (state in $DIR)"
	print_env
}

# One start on the saved (or newly picked) ports; 1 if a server died.
start_once() {
	local s
	load_ports || pick_ports
	for s in proxy object container account memcached; do
		! port_listened "$(port_of $s)" || {
			rm -f "$DIR/ports"
			pick_ports
			break
		}
	done
	write_configs
	build_rings
	memcached -d -P "$(pidfile memcached)" -l 127.0.0.1 -p "$MEMCACHED_PORT" \
		-U 0 -m 64 -c 1024 -u "$(id -un)" </dev/null \
		>>"$DIR/log/memcached.log" 2>&1
	# memcached writes its pid file itself, after forking; its cmdline
	# names the pid file in DIR
	for s in $(seq 1 50); do
		live_pid memcached >/dev/null && break
		sleep 0.1
	done
	for s in account container object proxy; do
		spawn "$s"
	done
	wait_ready
}

do_status() {
	local s rc=0
	load_ports || return 3
	for s in memcached $SERVERS; do
		if live_pid "$s" >/dev/null; then
			say "$s: running"
		else
			say "$s: not running"
			rc=3
		fi
	done
	return $rc
}

case $CMD in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
env) load_ports || die "no Swift configured in $DIR"; print_env ;;
*) die "unknown command '$CMD' (start|stop|status|env DIR)" ;;
esac
