#!/usr/bin/env bash
# redis.sh - one real redis-server (Debian 12 package) on loopback for the
# integration tests, living entirely in DIR. The Debian package's own
# service is never touched: this starts its own process, daemonized, with
# its pid file, config file, data and log in DIR, and stops it by that pid.
#
#   redis.sh start  DIR [PORT|auto] [CONF_LINE...]
#                         install redis-server if missing, write
#                         DIR/redis.conf (port, dir, pidfile, logfile, plus
#                         each CONF_LINE verbatim, e.g. "appendonly yes"),
#                         start, wait until PING answers; prints `export
#                         ...` lines (REDIS_PORT REDIS_DIR REDIS_CONF
#                         REDIS_PID) on stdout. A DIR/redis.conf already
#                         there is reused as it is (a restart: PORT and
#                         CONF_LINEs are then ignored).
#   redis.sh stop   DIR   SHUTDOWN NOSAVE by pid: TERM, then KILL after 10 s
#   redis.sh status DIR   exit 0 if the server answers PING, 3 otherwise
#   redis.sh env    DIR   prints the export lines only
#
# The config file is DIR/redis.conf so CONFIG REWRITE works and a start
# command `redis-server DIR/redis.conf` restarts the same server.
# Exit 77 from start: redis-server cannot be installed or started here.
# REDIS_NO_INSTALL=1 never calls apt-get. REDIS_PASSWORD=... adds
# requirepass (a "requirepass X" CONF_LINE works too; PING then uses it).
set -euo pipefail

CMD=${1:-}
DIR=${2:-}
[ -n "$CMD" ] && [ -n "$DIR" ] || {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}
shift 2 || true
DIR=$(realpath -m -- "$DIR")
CONF=$DIR/redis.conf
PIDFILE=$DIR/redis.pid

say() { echo "redis.sh: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
skip() { say "SKIP: $*"; exit 77; }

# shellcheck source=tests/services/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

pick_port() {
	port_pick 16000 21000 || die "no free port found"
}

conf_port() {
	sed -n 's/^port[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' "$CONF" | tail -1
}

# the password: REDIS_PASSWORD, else a requirepass line of the config
conf_pass() {
	[ -n "${REDIS_PASSWORD:-}" ] && { echo "$REDIS_PASSWORD"; return; }
	sed -n 's/^requirepass[[:space:]]\{1,\}\(.*\)/\1/p' "$CONF" | tail -1
}

cli() {
	local pw
	pw=$(conf_pass)
	if [ -n "$pw" ]; then
		REDISCLI_AUTH=$pw redis-cli -h 127.0.0.1 -p "$(conf_port)" "$@"
	else
		redis-cli -h 127.0.0.1 -p "$(conf_port)" "$@"
	fi
}

print_env() {
	local pid=
	[ -f "$PIDFILE" ] && pid=$(cat "$PIDFILE" 2>/dev/null || true)
	echo "export REDIS_PORT=$(conf_port)"
	echo "export REDIS_DIR=$DIR"
	echo "export REDIS_CONF=$CONF"
	echo "export REDIS_PID=$pid"
}

# A pid is ours only if its command line is a redis-server.
pid_is_ours() {
	local pid=$1
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'redis-server'
}

install_if_missing() {
	command -v redis-server >/dev/null 2>&1 &&
		command -v redis-cli >/dev/null 2>&1 && return 0
	[ "${REDIS_NO_INSTALL:-0}" = 1 ] && skip "redis-server not installed"
	[ "$(id -u)" = 0 ] || skip "redis-server missing and not root"
	say "installing redis-server"
	export DEBIAN_FRONTEND=noninteractive
	# policy-rc.d 101: the package's own service is not started
	local prc=/usr/sbin/policy-rc.d created=0
	if [ ! -e "$prc" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$prc"
		chmod 755 "$prc"
		created=1
	fi
	{ apt-get install -y -q redis-server >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q redis-server >&2; }; } ||
		{ [ $created = 1 ] && rm -f "$prc"; skip "cannot install redis-server"; }
	[ $created = 1 ] && rm -f "$prc"
	command -v redis-server >/dev/null 2>&1 || skip "redis-server not found"
}

start() {
	local port=${1:-auto} line i
	[ $# -gt 0 ] && shift
	install_if_missing
	mkdir -p "$DIR"
	if [ -f "$PIDFILE" ] && pid_is_ours "$(cat "$PIDFILE")"; then
		die "already running in $DIR (pid $(cat "$PIDFILE"))"
	fi
	if [ ! -f "$CONF" ]; then
		if [ "$port" = auto ]; then
			port=$(pick_port) || die "no free port"
		fi
		{
			echo "# written by tests/services/redis.sh"
			echo "bind 127.0.0.1"
			echo "port $port"
			echo "dir $DIR"
			echo "pidfile $PIDFILE"
			echo "logfile $DIR/redis.log"
			echo "daemonize yes"
			echo "save \"\""
			[ -n "${REDIS_PASSWORD:-}" ] &&
				echo "requirepass $REDIS_PASSWORD"
			for line in "$@"; do
				echo "$line"
			done
		} >"$CONF"
	fi
	rm -f "$PIDFILE"
	redis-server "$CONF" >&2 || die "redis-server failed to start (see $DIR/redis.log)"
	for i in $(seq 1 100); do
		if [ -f "$PIDFILE" ] && cli PING 2>/dev/null | grep -q PONG; then
			print_env
			return 0
		fi
		# LOADING answers are not PONG: keep waiting
		sleep 0.1
	done
	tail -20 "$DIR/redis.log" >&2 || true
	die "redis-server in $DIR did not answer PING"
}

stop() {
	local pid i
	[ -f "$PIDFILE" ] || return 0
	pid=$(cat "$PIDFILE" 2>/dev/null || true)
	if ! pid_is_ours "$pid"; then
		rm -f "$PIDFILE"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "pid $pid ignored TERM, killing"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
}

case "$CMD" in
start)
	start "$@"
	;;
stop)
	stop
	;;
status)
	[ -f "$CONF" ] && cli PING 2>/dev/null | grep -q PONG || exit 3
	;;
env)
	[ -f "$CONF" ] || die "no server configured in $DIR"
	print_env
	;;
*)
	die "unknown command '$CMD' (start|stop|status|env)"
	;;
esac
