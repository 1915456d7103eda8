# lib.sh - shared helpers for the integration tests (sourced by bash).
#
# Each test_*.sh sources this, calls t_init, mounts with t_mount, checks
# with t_check/t_check_fails, and ends with t_done, which prints
# "N passed, N failed" and exits non-zero if anything failed. Only the
# daemon this file started is ever killed (by pid); mounts are undone
# with fusermount3 -u (-z in cleanup).

set -u

T_PASS=0
T_FAIL=0
T_PID=""
T_EXTRA_MOUNTS=()
T_NAME=$(basename "$0" .sh)
TROVEFS_BUILD=${TROVEFS_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
TROVEFS=${TROVEFS:-$TROVEFS_BUILD/trovefs}
# Daemon stderr lines that are expected; a test adds to it with t_allow.
T_ALLOW='^$'
# The store the mount tests run on: "local" (default) or "swift" (a real
# Swift from tests/services/swift.sh, started here unless the caller
# exported SWIFT_AUTH_URL etc. from its own; see test_swift_mount.sh).
TROVEFS_TEST_SOURCE=${TROVEFS_TEST_SOURCE:-local}
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T_SWIFT_OWN=""
T_SWIFT_TOKEN=""
T_SBIN_HELPER=""

t_skip() {
	echo "SKIP $T_NAME: $*"
	exit 77
}

# Prepares a temp dir with a store, a mountpoint, a key and a config.
t_init() {
	[ "$(id -u)" -eq 0 ] || t_skip "needs root to mount"
	[ -c /dev/fuse ] || t_skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || t_skip "no fusermount3 (apt-get install fuse3)"
	[ -x "$TROVEFS" ] || { echo "not ok - no daemon binary at $TROVEFS"; exit 1; }
	T=$(mktemp -d /tmp/trovefs-it.XXXXXX)
	STORE=$T/store
	MNT=$T/mnt
	KEY=$T/key
	CONF=$T/trovefs.conf
	LOG=$T/daemon.log
	mkdir -p "$MNT" "$T/src"
	(umask 077 && openssl rand -hex 32 > "$KEY")
	: > "$LOG"
	trap t_cleanup EXIT
	if t_is_swift; then
		t_swift_start
	fi
	t_write_conf ""
}

# True when the tests run on Swift (TROVEFS_TEST_SOURCE=swift).
t_is_swift() {
	[ "$TROVEFS_TEST_SOURCE" = swift ]
}

# Starts Swift for this test unless the caller runs one (SWIFT_AUTH_URL
# exported); skips (77) if it cannot be installed here.
t_swift_start() {
	local rc=0 env_out
	if [ -z "${SWIFT_AUTH_URL:-}" ]; then
		# tmpfs when possible: the object server fsyncs every PUT
		T_SWIFT_OWN=$(mktemp -d /dev/shm/trovefs-swift.XXXXXX 2>/dev/null) ||
			T_SWIFT_OWN=$T/swift
		env_out=$(bash "$T_ROOT/tests/services/swift.sh" start "$T_SWIFT_OWN" \
			2>"$T/swift-start.log") || rc=$?
		if [ $rc -eq 77 ]; then
			t_skip "$(grep SKIP "$T/swift-start.log" | tail -n 1)"
		elif [ $rc -ne 0 ]; then
			sed 's/^/    # /' "$T/swift-start.log" | tail -n 20
			echo "not ok - Swift did not start"
			exit 1
		fi
		eval "$env_out"
	fi
	(umask 077 && printf '%s\n' "$SWIFT_KEY" > "$T/swift-key")
}

# t_swift_section NAME [EXTRA_LINES] - a [swift:NAME] section for $SWIFT_*.
t_swift_section() {
	printf '[swift:%s]\nauth_url = %s\nauth_version = 1\nuser = %s\nkey_file = %s\nsegment_size = %s\nparallel = 2\nretry_budget = 20\n%s\n' \
		"$1" "$SWIFT_AUTH_URL" "$SWIFT_USER" "$T/swift-key" \
		"${TROVEFS_TEST_SEGMENT_SIZE:-1M}" "${2:-}"
}

# t_swift_curl CURL_ARGS... URL_PATH - curl with a token; URL_PATH is
# "container[/object]" (already URL-encoded) under the storage URL.
t_swift_curl() {
	local path=${*: -1}
	if [ -z "$T_SWIFT_TOKEN" ]; then
		T_SWIFT_TOKEN=$(curl -s -D - -o /dev/null \
			-H "X-Auth-User: $SWIFT_USER" -H "X-Auth-Key: $SWIFT_KEY" \
			"$SWIFT_AUTH_URL" | tr -d '\r' |
			sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
	fi
	curl -s -H "X-Auth-Token: $T_SWIFT_TOKEN" "${@:1:$#-1}" \
		"$SWIFT_STORAGE_URL/$path"
}

# The store seen from outside the mount, for either source. C and K are
# plain names (no '%', '?', '#' for swift: they are not encoded here).
# t_store_has_container C
t_store_has_container() {
	if t_is_swift; then
		[ "$(t_swift_curl -o /dev/null -w '%{http_code}' -I "$1")" = 204 ]
	else
		test -d "$STORE/$1"
	fi
}
# t_store_get C K - the stored bytes of an object on stdout
t_store_get() {
	if t_is_swift; then
		t_swift_curl -f "$1/$2"
	else
		cat "$STORE/$1/$2"
	fi
}
# t_store_size C K - the stored size of an object
t_store_size() {
	if t_is_swift; then
		t_swift_curl -I "$1/$2" | tr -d '\r' |
			sed -n 's/^[Cc]ontent-[Ll]ength: //p'
	else
		stat -c %s "$STORE/$1/$2"
	fi
}
# t_store_meta C K KEY - a user metadata value of an object
t_store_meta() {
	if t_is_swift; then
		t_swift_curl -I "$1/$2" | tr -d '\r' |
			sed -n "s/^[Xx]-[Oo]bject-[Mm]eta-$3: //Ip"
	else
		getfattr --only-values -n "user.trovefs.$3" "$STORE/$1/$2" \
			2>/dev/null
	fi
}
# t_store_names C - the names of every object of C (one a line)
t_store_names() {
	if t_is_swift; then
		t_swift_curl "$1"
	else
		(cd "$STORE/$1" 2>/dev/null && find . -mindepth 1 | sed 's|^\./||')
	fi
}

# t_write_conf EXTRA_LINES - (re)writes $CONF with the key and EXTRA_LINES.
t_write_conf() {
	(umask 077 && printf '[trovefs]\nkey_file = %s\n%s\n' "$KEY" "$1" > "$CONF")
	if t_is_swift; then
		(umask 077 && t_swift_section test >> "$CONF")
	fi
}

t_cleanup() {
	if [ -n "${MNT:-}" ] && mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -uz "$MNT" 2>/dev/null || true
	fi
	if [ -n "$T_PID" ] && kill -0 "$T_PID" 2>/dev/null; then
		kill "$T_PID" 2>/dev/null || true
		wait "$T_PID" 2>/dev/null || true
	fi
	for m in "${T_EXTRA_MOUNTS[@]:-}"; do
		if [ -n "$m" ]; then umount "$m" 2>/dev/null || true; fi
	done
	if [ -n "$T_SWIFT_OWN" ]; then
		bash "$T_ROOT/tests/services/swift.sh" stop "$T_SWIFT_OWN" \
			>/dev/null 2>&1 || true
		rm -rf "$T_SWIFT_OWN"
	fi
	t_sbin_helper_remove
	[ -n "${T:-}" ] && rm -rf "$T"
}

# t_sbin_helper - makes /sbin/mount.trovefs, where mount(8) looks for the
# helper of type trovefs, run $TROVEFS: installs ours if there is none
# (t_sbin_helper_remove, or t_cleanup, removes it again). Fails if one
# that is not a trovefs helper is there.
t_sbin_helper() {
	if [ ! -e /sbin/mount.trovefs ]; then
		sed "s|@BINDIR@|$(dirname "$TROVEFS")|" \
			"$T_ROOT/mount-helpers/mount.trovefs" >/sbin/mount.trovefs
		chmod 755 /sbin/mount.trovefs
		T_SBIN_HELPER=1
	fi
	[ -n "$T_SBIN_HELPER" ] || grep -q trovefs /sbin/mount.trovefs
}

# t_sbin_helper_remove - removes the helper t_sbin_helper installed, only.
t_sbin_helper_remove() {
	if [ -n "$T_SBIN_HELPER" ]; then
		rm -f /sbin/mount.trovefs
		T_SBIN_HELPER=""
	fi
}

# t_mount [-o OPTS] [SOURCE] - starts the daemon in the foreground (in the
# background of this shell) and waits until the mount is up.
t_mount() {
	local opts="conf=$CONF"
	if [ "${1:-}" = "-o" ]; then
		opts="$opts,$2"
		shift 2
	fi
	local src=${1:-$(t_source)}
	"$TROVEFS" -f -o "$opts" "$src" "$MNT" 2>>"$LOG" &
	T_PID=$!
	local i=0
	while ! mountpoint -q "$MNT"; do
		if ! kill -0 "$T_PID" 2>/dev/null; then
			echo "daemon exited before mounting; its log:"
			sed 's/^/    /' "$LOG"
			T_PID=""
			return 1
		fi
		i=$((i + 1))
		if [ $i -gt 200 ]; then
			echo "mount did not come up in 20 s"
			return 1
		fi
		sleep 0.1
	done
}

# The default SOURCE: local:$STORE, or swift:test on Swift.
t_source() {
	if t_is_swift; then
		echo swift:test
	else
		echo "local:$STORE"
	fi
}

# t_umount - unmounts and requires the daemon to exit 0.
t_umount() {
	local rc=0
	fusermount3 -u "$MNT" || return 1
	wait "$T_PID" || rc=$?
	T_PID=""
	if [ $rc -ne 0 ]; then
		echo "daemon exited with $rc"
		return 1
	fi
}

# t_kill9 [PID...] - kill -9 the daemon mid-work, then end PIDs (its
# clients, blocked on the mount) and detach the dead mount.
t_kill9() {
	kill -9 "$T_PID"
	wait "$T_PID" 2>/dev/null
	T_PID=""
	local p
	for p in "$@"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	fusermount3 -uz "$MNT"
}

# t_remount [-o OPTS] - unmount cleanly and mount again.
t_remount() {
	t_umount && t_mount "$@"
}

t_ok() {
	T_PASS=$((T_PASS + 1))
	echo "ok - $*"
}

t_not_ok() {
	T_FAIL=$((T_FAIL + 1))
	echo "not ok - $*"
}

# t_check DESC CMD... - passes if CMD exits 0. CMD runs in this shell (not
# a subshell), so t_mount/t_umount keep their state.
t_check() {
	local desc=$1
	shift
	if "$@" > "$T/.out" 2>&1; then
		t_ok "$desc"
	else
		t_not_ok "$desc"
		head -n 20 "$T/.out" | sed 's/^/    # /'
	fi
}

# t_check_fails DESC ERRTEXT CMD... - passes if CMD fails and its output
# contains ERRTEXT (the strerror text, e.g. "Read-only file system").
t_check_fails() {
	local desc=$1
	local want=$2
	shift 2
	if "$@" > "$T/.out" 2>&1; then
		t_not_ok "$desc (succeeded, expected: $want)"
	elif grep -qF -- "$want" "$T/.out"; then
		t_ok "$desc"
	else
		t_not_ok "$desc (expected '$want')"
		head -n 10 "$T/.out" | sed 's/^/    # /'
	fi
}

# t_eq DESC GOT WANT
t_eq() {
	if [ "$2" = "$3" ]; then
		t_ok "$1"
	else
		t_not_ok "$1 (got '$2', want '$3')"
	fi
}

# t_allow ERE - daemon log lines matching ERE are expected.
t_allow() {
	T_ALLOW="$T_ALLOW|$1"
}

# t_log_has DESC ERE - the daemon log has a line matching ERE.
t_log_has() {
	if grep -qE -- "$2" "$LOG"; then
		t_ok "$1"
	else
		t_not_ok "$1 (no log line matching '$2')"
	fi
}

# Scans the daemon log for errors, warnings and sanitizer reports that
# no t_allow() expected.
t_scan_log() {
	local bad
	bad=$(grep -E 'error|warning|Sanitizer|runtime error|leak' "$LOG" |
		grep -vE -- "$T_ALLOW" || true)
	if [ -z "$bad" ]; then
		t_ok "daemon log has no unexpected errors"
	else
		t_not_ok "daemon log has unexpected lines:"
		printf '%s\n' "$bad" | head -n 20 | sed 's/^/    # /'
	fi
}

# t_flip FILE OFFSET - damages FILE at OFFSET by inverting that byte (a
# fixed byte written there is no damage once in 256 runs: the stored bytes
# are encrypted with a fresh key or salt each time).
t_flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "\\$(printf %03o $((b ^ 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# sha256 of a file, only the hash.
t_sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# Deterministic test data: t_data FILE SIZE_BYTES [SEED]
t_data() {
	openssl enc -aes-128-ctr -nosalt -pass "pass:${3:-seed}" \
		-in /dev/zero 2>/dev/null | head -c "$2" > "$1"
}

# Compressible text data: t_text FILE LINES
t_text() {
	seq 1 "$2" | sed 's/$/ the quick brown fox jumps over the lazy dog/' > "$1"
}

t_done() {
	t_scan_log
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
