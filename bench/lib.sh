# bench/lib.sh - shell functions shared by bench/run.sh and bench/redis.sh:
# messages, sizes, float arithmetic through awk, timing, the result table,
# and one trovefs daemon mounted and unmounted with deadlines. Sourced,
# never run; it defines functions and a few empty globals, runs nothing.
#
# The daemon functions work on globals the sourcing script sets first:
#   TROVEFS        the trovefs binary
#   W              state directory (daemon logs go there: daemon.N.log)
#   STORE MNT KEY  local store dir, mount point, tfs1 key file
#   FS_SOURCE      the daemon's SOURCE when not local:$STORE (swift:NAME)
#   MOUNT_TIMEOUT  seconds mount_fs waits for the mount
#   BENCH_KEEP     1: state_exit keeps W
# and keep DPID (the daemon this script started, or empty), DLOG (its log)
# and MOUNTS (how many mounts so far) up to date. The sourcing script
# owns its cleanup function; state_init arms it as the trap, kill_fs is
# the part of it that concerns the daemon and state_exit its end.
#
# timeit and print_rows assign and read variables by name, and this file
# is sourced, so shellcheck sees no caller:
# shellcheck shell=bash disable=SC2034,SC2154

die()
{
	echo "bench: $*" >&2
	exit 1
}

note()
{
	echo "bench: $*" >&2
}

# "2G" -> 2147483648
to_bytes()
{
	local v=$1
	local n=${v%[KkMmGgTt]}
	local shift=0

	[[ $n =~ ^[0-9]+$ ]] || die "bad size '$v'"
	case ${v#"$n"} in
	'') ;;
	[Kk]) shift=10 ;;
	[Mm]) shift=20 ;;
	[Gg]) shift=30 ;;
	[Tt]) shift=40 ;;
	esac
	echo $((n << shift))
}

# make_key FILE: a fresh tfs1 key, mode 0600 from the start
make_key()
{
	(
		umask 077
		openssl rand -hex 32 > "$1"
	)
	chmod 600 "$1"
}

# ---- page cache ----

CAN_DROP=0
# drop_caches_init: sets CAN_DROP to 1 when drop_caches works (root)
drop_caches_init()
{
	CAN_DROP=0
	if sync && (echo 3 > /proc/sys/vm/drop_caches) 2> /dev/null; then
		CAN_DROP=1
	fi
}

drop_caches()
{
	sync
	if [ "$CAN_DROP" = 1 ]; then
		echo 3 > /proc/sys/vm/drop_caches
	fi
}

# ---- the state directory ----

# state_init DIR...: arms the sourcing script's cleanup function as the
# EXIT trap (INT and TERM exit 130 through it), then makes DIR... (in W),
# a fresh key in KEY, and sets CAN_DROP. Call it once, right after W and
# cleanup exist, so that nothing is made before the trap would remove it.
state_init()
{
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir "$@"
	make_key "$KEY"
	drop_caches_init
}

# state_exit RC: the end of cleanup, after kill_fs and whatever else the
# script started is stopped: removes W unless BENCH_KEEP=1, and exits RC.
state_exit()
{
	if [ "$BENCH_KEEP" = 1 ]; then
		note "state kept in '$W'"
	else
		# never through a mount left behind: that would empty the store
		rm -rf --one-file-system "$W"
	fi
	exit "$1"
}

# ---- arithmetic and formatting (awk: bash has no floats) ----

is_num()
{
	[[ ${1:-} =~ ^[0-9]+(\.[0-9]+)?$ ]]
}

# div A B [DECIMALS] -> A/B, or "-" when either is not a number or B is 0
div()
{
	if is_num "$1" && is_num "$2"; then
		awk -v a="$1" -v b="$2" -v d="${3:-2}" \
			'BEGIN { if (b == 0) print "-"; else printf "%.*f\n", d, a / b }'
	else
		echo "-"
	fi
}

# xr A B [DECIMALS] -> "A/Bx", or "-"
xr()
{
	local r

	r=$(div "$@")
	if is_num "$r"; then
		echo "${r}x"
	else
		echo "-"
	fi
}

# mbs BYTES SECONDS -> MB/s (10^6 bytes)
mbs()
{
	div "$(div "$1" 1000000 6)" "$2" 0
}

# meets VALUE OP LIMIT -> yes / NO / -
meets()
{
	if is_num "$1"; then
		awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
			ok = op == ">=" ? v >= l : v <= l
			print ok ? "yes" : "NO"
		}'
	else
		echo "-"
	fi
}

# is_ok WORD -> yes for "ok", - for "-", NO otherwise
is_ok()
{
	case $1 in
	ok) echo yes ;;
	-) echo - ;;
	*) echo NO ;;
	esac
}

now()
{
	date +%s.%N
}

# timeit VAR CMD... : runs CMD, stores its wall time (seconds) in VAR and
# returns CMD's status; the caller decides what a failure means.
timeit()
{
	local __var=$1
	local t0
	local t1
	local rc=0

	shift
	t0=$(now)
	"$@" || rc=$?
	t1=$(now)
	printf -v "$__var" '%s' "$(awk -v a="$t0" -v b="$t1" \
		'BEGIN { printf "%.3f", b - a }')"
	return "$rc"
}

# ---- the result table and the failure list ----

ROWS=()
SEP=$'\x1f'	# field separator of ROWS: never in a figure or label
# row METRIC TROVEFS PEER RATIO GOAL MET
row()
{
	local IFS=$SEP

	ROWS+=("$*")
}

# print_rows: the table of every row so far, under its header line
print_rows()
{
	local fmt='%-28s %-18s %-18s %-8s %-12s %s\n'
	local r
	local m
	local a
	local b
	local c
	local d
	local e

	# shellcheck disable=SC2059
	printf "$fmt" metric trovefs peer ratio goal met?
	for r in "${ROWS[@]}"; do
		IFS=$SEP read -r m a b c d e <<< "$r"
		# shellcheck disable=SC2059
		printf "$fmt" "$m" "$a" "$b" "$c" "$d" "$e"
	done
}

FAILED=()
failed()
{
	note "FAILED: $*"
	FAILED+=("$*")
}

# print_failed: the failures, if any, after a blank line
print_failed()
{
	if [ "${#FAILED[@]}" -gt 0 ]; then
		echo
		echo "failures (figures above may be meaningless):"
		printf '  %s\n' "${FAILED[@]}"
	fi
}

# print_machine: the lines of a report's header that describe the host
print_machine()
{
	local cpu

	echo "cpus (nproc):   $(nproc)"
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "cpu:            $cpu"
	echo "kernel:         $(uname -r)"
	echo "load average:   $(cut -d' ' -f1-3 /proc/loadavg) (others' work skews it)"
	echo "gzip:           $(gzip --version | head -n 1)"
	echo "openssl:        $(openssl version)"
}

# ---- the daemon ----

DPID=
DLOG=
MOUNTS=0

# mount_fs [OPTS]: starts the daemon in the foreground (backgrounded here)
# and waits, with a deadline, until the mount appears or the daemon dies.
# Returns 1, with the end of the daemon's log, when it does not mount.
mount_fs()
{
	local opts="key_file=$KEY${1:+,$1}"
	local deadline
	local rc=0

	MOUNTS=$((MOUNTS + 1))
	DLOG=$W/daemon.$MOUNTS.log
	"$TROVEFS" -f -o "$opts" "${FS_SOURCE:-local:$STORE}" "$MNT" \
		> "$DLOG" 2>&1 &
	DPID=$!
	deadline=$((SECONDS + MOUNT_TIMEOUT))
	while ! mountpoint -q "$MNT"; do
		if ! kill -0 "$DPID" 2> /dev/null; then
			wait "$DPID" || rc=$?
			DPID=
			tail -n 20 "$DLOG" >&2
			note "trovefs -o ${1:-(defaults)} exited ($rc) before mounting"
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill "$DPID" 2> /dev/null || true
			wait "$DPID" 2> /dev/null || true
			DPID=
			fusermount3 -u -z "$MNT" 2> /dev/null || true
			tail -n 20 "$DLOG" >&2
			note "trovefs did not mount within ${MOUNT_TIMEOUT}s"
			return 1
		fi
		sleep 0.05
	done
}

# hwm_kib: the daemon's peak resident set so far (VmHWM, KiB)
hwm_kib()
{
	awk '/^VmHWM:/ { print $2 }' "/proc/$DPID/status"
}

# cpu_s: the daemon's user + system CPU time so far, in seconds
cpu_s()
{
	awk -v hz="$(getconf CLK_TCK)" '{
		sub(/^.*\) /, "")
		printf "%.2f\n", ($12 + $13) / hz
	}' "/proc/$DPID/stat"
}

# umount_fs: unmounts (retrying while the kernel reports it busy) and
# waits for the daemon, which must exit 0.
umount_fs()
{
	local tries=0
	local rc=0

	until fusermount3 -u "$MNT" 2> /dev/null; do
		tries=$((tries + 1))
		[ "$tries" -lt 50 ] || die "cannot unmount '$MNT'"
		sleep 0.1
	done
	wait "$DPID" || rc=$?
	DPID=
	if [ "$rc" -ne 0 ]; then
		failed "daemon exited $rc (see $DLOG, BENCH_KEEP=1)"
	fi
}

# kill_fs: for a cleanup trap - lazily unmounts and stops the daemon this
# script started (DPID only), or drops a mount left behind without one.
kill_fs()
{
	if [ -n "$DPID" ]; then
		fusermount3 -u -z "$MNT" 2> /dev/null || true
		kill "$DPID" 2> /dev/null || true
		wait "$DPID" 2> /dev/null || true
		DPID=
	elif mountpoint -q "$MNT" 2> /dev/null; then
		fusermount3 -u -z "$MNT" 2> /dev/null || true
	fi
}

# scan_daemon_logs [IGNORE_ERE]: a failure when the daemon logs hold error
# or warning lines (libfuse 3.14's max-threads notice is noise), except
# lines matching IGNORE_ERE.
scan_daemon_logs()
{
	local bad

	[ "$MOUNTS" -gt 0 ] || return 0
	bad=$(cat "$W"/daemon.*.log | grep -iE 'error|warn|sanitizer' |
		grep -vE "${1:-^\$}" || true)
	if [ -n "$bad" ]; then
		failed "daemon logged $(wc -l <<< "$bad") error/warning lines," \
			"first: $(head -n 1 <<< "$bad")"
	fi
}

stored_size()
{
	if [ -f "$1" ]; then
		stat -c %s "$1"
	else
		note "no stored object '$1'"
		echo "-"
	fi
}
