# openstack-lib.sh - what swift.sh and keystone.sh share, sourced by both
# (bash): their Debian packages, their processes by pid file, and the
# Swift proxy-server.conf, so that the two proxies run one middleware
# stack and differ only in the auth filters. Defines functions, runs
# nothing. The sourcing script defines DIR, PKGS, packages_present, say
# and skip first.
# shellcheck shell=bash

# ---- packages

# os_install_packages WHAT NO_INSTALL_VAR PROBE_PKG UNUSABLE_MSG - installs
# $PKGS from Debian unless packages_present; skips (exit 77) when it
# cannot: $NO_INSTALL_VAR=1, not root, no apt-get, apt fails, or still not
# packages_present (UNUSABLE_MSG). apt's lists are refreshed first only if
# PROBE_PKG has no candidate.
os_install_packages() {
	local what=$1 no_install=$2 probe=$3 unusable=$4
	packages_present && return 0
	[ "${!no_install:-}" = 1 ] &&
		skip "$what packages missing and $no_install=1"
	[ "$(id -u)" = 0 ] ||
		skip "$what packages missing and not root (apt-get install $PKGS)"
	command -v apt-get >/dev/null || skip "no apt-get to install $what"
	say "installing Debian packages: $PKGS"
	export DEBIAN_FRONTEND=noninteractive
	local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
	if ! apt-cache policy "$probe" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		"${apt[@]}" update -qq >&2 || true
	fi
	# without --no-install-recommends apt pulls in GTK and autopkgtest
	# (swift) or apache (keystone)
	# shellcheck disable=SC2086
	if ! "${apt[@]}" install -y -qq --no-install-recommends $PKGS >&2; then
		"${apt[@]}" update -qq >&2 || true
		# shellcheck disable=SC2086
		"${apt[@]}" install -y -qq --no-install-recommends $PKGS >&2 ||
			skip "apt-get install $PKGS failed"
	fi
	packages_present || skip "$unusable"
}

# ---- processes: DIR/run/NAME.pid

pidfile() { echo "$DIR/run/$1.pid"; }

# alive PID - true while PID runs. PID 1 here reaps orphans lazily: a
# zombie still passes kill -0, so the state is read instead.
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# live_pid NAME - prints the pid of NAME if it is alive and ours: its
# command line names DIR/ (guards against pid reuse).
live_pid() {
	local f pid
	f=$(pidfile "$1")
	# the file may vanish meanwhile: memcached removes its own on exit
	pid=$(cat "$f" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/" ||
		return 1
	echo "$pid"
}

# ---- the Swift proxy
#
#   swift_proxy_conf PORT SWIFT_ETC LOG_NAME MEMCACHED_PORT CHUNK_SIZE \
#       SLO_MAX_SEGMENTS AUTH_FILTERS
#
# prints the configuration on stdout: bound to 127.0.0.1:PORT, rings and
# swift.conf from SWIFT_ETC, memcached on 127.0.0.1:MEMCACHED_PORT,
# AUTH_FILTERS (e.g. "tempauth", "authtoken keystoneauth") in the pipeline
# between tempurl and copy. The caller appends the [filter:...] sections
# of AUTH_FILTERS; an ini file does not care where they stand.
swift_proxy_conf() {
	local port=$1 etc=$2 log_name=$3 mc_port=$4 chunk=$5 slo_max=$6
	local auth=$7

	cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $(id -un)
swift_dir = $etc
log_name = $log_name
log_level = INFO
expose_info = true

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl $auth copy container-quotas account-quotas slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
# an account (AUTH_test, AUTH_<project_id>) is created on first use: a
# fresh one answers 404 without this
account_autocreate = true
allow_account_management = true
object_chunk_size = $chunk
client_chunk_size = $chunk

[filter:cache]
use = egg:swift#memcache
# tempauth keeps its tokens here (without it every token is 401),
# authtoken its validations (cache = swift.cache)
memcache_servers = 127.0.0.1:$mc_port
# after 10 errors Swift stops using memcached for 60 s, so a test that
# restarts memcached would see every login fail for a minute
error_suppression_interval = 1
error_suppression_limit = 100

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
# rate_limit_segments_per_sec = 0: Swift otherwise serves 1 segment/s
# after the 10th for small SLO segments and every DLO segment
[filter:slo]
use = egg:swift#slo
max_manifest_segments = $slo_max
rate_limit_segments_per_sec = 0
[filter:dlo]
use = egg:swift#dlo
rate_limit_segments_per_sec = 0
EOF
}
