#!/usr/bin/env bash
#
# bench/redis.sh - the Redis datastore (issue 4) against what OpenStack
# Trove's guest agent runs: a live dump through trovefs against
# `redis-cli --rdb - | gzip -1 | openssl enc`, the Redis host's disk writes
# during that dump, a backup, and an in-place recover against the time
# redis-server takes to load the same RDB at start. A report, not a test:
# it exits 0 whether or not the goals are met, and non-zero only when it
# cannot run (missing tools, no redis-server, daemon that does not mount).
#
#   TROVEFS_BUILD=<abs build> bash bench/redis.sh     (bench/run.sh calls it)
#
# Environment (sizes take a K/M/G/T suffix, powers of 1024):
#   TROVEFS_BUILD     build dir holding trovefs and bench/gen_redislike
#   BENCH_REDIS_SIZE  about this many bytes of RDB (1G)
#   BENCH_REDIS_LZF   1: keep Redis's rdbcompression (LZF) on (0)
#   BENCH_DIR         where the temporary state goes (/var/tmp)
#   BENCH_KEEP        1: keep the state directory (logs) at the end
#
# The data: BENCH_REDIS_SIZE / 1020 string keys `bench:%010d`, each a
# 1000-byte slice of gen_redislike, loaded with `redis-cli --pipe`.
# rdbcompression is off by default so the RDB gzips about 2x like the
# generator's output (with LZF on, gzip -1 finds only about 1.4x more).
# The servers are tests/services/redis.sh instances in the state directory,
# with repl-diskless-sync-delay 0 (no wait for more replicas) and loglevel
# warning (the transfer's log lines would count as disk writes); the trap
# stops exactly those servers (by their pid files), the daemon this script
# started, and removes the state directory.
#
# timeit and the row loop assign and read variables by name, and
# functions run through timeit or traps look unreachable to shellcheck:
# shellcheck disable=SC2034,SC2154,SC2317

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${TROVEFS_BUILD:?set TROVEFS_BUILD to the absolute build directory}"
TROVEFS=$TROVEFS_BUILD/trovefs
GEN=$TROVEFS_BUILD/bench/gen_redislike
RS=$(realpath "$(dirname "$0")/../tests/services/redis.sh")
BENCH_REDIS_SIZE=${BENCH_REDIS_SIZE:-1G}
BENCH_REDIS_LZF=${BENCH_REDIS_LZF:-0}
BENCH_KEEP=${BENCH_KEEP:-0}
MOUNT_TIMEOUT=${BENCH_MOUNT_TIMEOUT:-20}
LOAD_TIMEOUT=600	# seconds a server may take to load the RDB
VALUE=1000		# bytes per value
PER_KEY=1020		# RDB bytes per key: the value, key, lengths, type

for tool in gzip openssl awk perl mountpoint fusermount3; do
	command -v "$tool" > /dev/null || die "'$tool' not found"
done
[ -x "$GEN" ] || die "'$GEN' not built (make BUILD=... tools)"
[ -f "$RS" ] || die "'$RS' not found"
HAVE_FS=1
if [ ! -x "$TROVEFS" ]; then
	HAVE_FS=0
	note "'$TROVEFS' not found: measuring the peer side only"
elif [ ! -c /dev/fuse ]; then
	HAVE_FS=0
	note "no /dev/fuse: measuring the peer side only"
fi
LZF=no
[ "$BENCH_REDIS_LZF" = 1 ] && LZF=yes

SIZE_B=$(to_bytes "$BENCH_REDIS_SIZE")
NKEYS=$((SIZE_B / PER_KEY))
[ "$NKEYS" -gt 0 ] || die "BENCH_REDIS_SIZE '$BENCH_REDIS_SIZE' is too small"

W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/trovefs-redisbench.XXXXXX")
STORE=$W/store
MNT=$W/mnt
KEY=$W/key
CONF=$W/trovefs.conf
ENC=$W/peer.rdb.gz.enc
RDIR=$W/redis	# the benchmarked server's data dir
LDIR=$W/load	# the server that loads the backup's RDB at start
DS=$MNT/datastores/bench
REDIS_DIRS=()	# servers this script started, stopped by the trap
POLL_PID=
T_START=$(now)

cleanup()
{
	local rc=$?
	local d

	trap - EXIT
	if [ -n "$POLL_PID" ]; then
		kill "$POLL_PID" 2> /dev/null || true
		wait "$POLL_PID" 2> /dev/null || true
	fi
	kill_fs
	for d in "${REDIS_DIRS[@]}"; do
		bash "$RS" stop "$d" > /dev/null 2>&1 ||
			note "cannot stop the redis-server in '$d'"
	done
	state_exit "$rc"
}
state_init "$STORE" "$MNT"

# ---- the servers ----

# start_redis VAR DIR [CONF_LINE...]: a tests/services/redis.sh server in
# DIR; sets VAR to its port
start_redis()
{
	local var=$1
	local dir=$2
	local out

	shift 2
	REDIS_DIRS+=("$dir")
	out=$(bash "$RS" start "$dir" auto "$@") ||
		die "cannot start redis-server in '$dir' (see $dir/redis.log)"
	eval "$out"
	printf -v "$var" '%s' "$REDIS_PORT"
}

start_redis PORT "$RDIR" "repl-diskless-sync yes" \
	"repl-diskless-sync-delay 0" "rdbcompression $LZF" "loglevel warning"

cli()
{
	redis-cli -p "$PORT" "$@"
}

# info_field SECTION FIELD: one INFO field of the benchmarked server
info_field()
{
	cli INFO "$1" | tr -d '\r' | sed -n "s/^$2://p"
}

# write_bytes: bytes the live server caused to be written to storage; a
# fork child's (BGSAVE, diskless transfer) count once the server reaps it
write_bytes()
{
	awk '/^write_bytes:/ { print $2 }' \
		"/proc/$(info_field server process_id)/io"
}

# child_reaped: waits (10 s at most) until the server has no fork child,
# so its writes are in write_bytes
child_reaped()
{
	local i

	for i in $(seq 1 200); do
		[ "$(info_field persistence rdb_bgsave_in_progress)" = 0 ] &&
			return 0
		sleep 0.05
	done
	return 1
}

# dir_sig: names, sizes and mtimes of the data dir's files but the log
dir_sig()
{
	find "$RDIR" -mindepth 1 ! -name redis.log -printf '%P %s %T@\n' |
		sort
}

# ---- header ----

echo "== trovefs Redis bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
print_machine
echo "redis-server:   $(redis-server --version | cut -d' ' -f3-4)"
if [ "$HAVE_FS" = 1 ]; then
	echo "trovefs:        $TROVEFS"
else
	echo "trovefs:        not built"
fi
printf 'size:           BENCH_REDIS_SIZE=%s: %s keys x %s-byte values, %s\n' \
	"$BENCH_REDIS_SIZE" "$NKEYS" "$VALUE" "rdbcompression $LZF"
echo "state dir:      $W"
echo

# ---- the data ----

# RESP SET commands, one per VALUE-byte slice of the generator's output
fill()
{
	"$GEN" "$((NKEYS * VALUE))" | perl -e '
		binmode STDIN;
		binmode STDOUT;
		my ($n, $i) = ($ARGV[0], 0);
		while (read(STDIN, my $v, $n)) {
			my $k = sprintf("bench:%010d", $i++);
			print "*3\r\n\$3\r\nSET\r\n",
			    "\$", length($k), "\r\n$k\r\n",
			    "\$", length($v), "\r\n$v\r\n";
		}' "$VALUE" | cli --pipe > "$W/fill.log"
}

timeit t_fill fill || die "cannot fill the server (see $W/fill.log)"
[ "$(cli DBSIZE)" = "$NKEYS" ] ||
	die "the server holds $(cli DBSIZE) keys, not $NKEYS"
echo "fill: $NKEYS keys in ${t_fill}s, used_memory $(info_field memory \
	used_memory_human)"
# A dump.rdb on the server's disk, so "unchanged" has a file to watch.
timeit t_save cli SAVE > /dev/null || die "SAVE failed"
RDB_B=$(stat -c %s "$RDIR/dump.rdb")
echo "SAVE (the server's own dump to disk): ${t_save}s, dump.rdb $RDB_B bytes"

# ---- 1. live dump: trovefs against redis-cli --rdb | gzip | openssl ----

peer_dump()
{
	redis-cli -p "$PORT" --rdb - 2> "$W/peer.err" | gzip -1 |
		openssl enc -aes-256-cbc -pbkdf2 -pass "file:$KEY" > "$ENC"
}

fs_dump()
{
	cp "$DS/dump.rdb" "$MNT/containers/bench/x.rdb"
}

# disk_run VAR_T VAR_W VAR_DIR CMD...: times CMD, then sets VAR_W to the
# server's write_bytes delta and VAR_DIR to ok (data dir unchanged) or
# CHANGED
disk_run()
{
	local sig0
	local wb0
	local wb1
	local rc=0

	sig0=$(dir_sig)
	wb0=$(write_bytes)
	timeit "$1" "${@:4}" || rc=$?
	child_reaped || failed "the server's fork child outlived '$4'"
	wb1=$(write_bytes)
	printf -v "$2" '%s' "$((wb1 - wb0))"
	if [ "$(dir_sig)" = "$sig0" ]; then
		printf -v "$3" '%s' ok
	else
		printf -v "$3" '%s' CHANGED
	fi
	return "$rc"
}

echo "peer dump:    redis-cli --rdb - | gzip -1 | openssl enc -aes-256-cbc ..."
disk_run t_pd wb_pd dir_pd peer_dump || {
	cat "$W/peer.err" >&2
	failed "peer dump pipeline"
	t_pd=-
}
ENC_B=$(stat -c %s "$ENC")
rm -f "$ENC"
echo "RDB / peer output (gzip -1 + 16..32 bytes): $(div "$RDB_B" "$ENC_B")x"

T_FD=-
WB_FD=-
DIR_FD=-
FS_B=-
if [ "$HAVE_FS" = 1 ]; then
	(
		umask 077
		printf '[trovefs]\nkey_file = %s\n\n[redis:bench]\n' "$KEY"
		printf 'port = %s\nconfig_file = %s\ntimeout = 30\n' \
			"$PORT" "$RDIR/redis.conf"
	) > "$CONF.tmp"
	chmod 600 "$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
	mount_fs "conf=$CONF" || die "cannot mount trovefs"
	mkdir "$MNT/containers/bench"
	echo "trovefs dump: cp MNT/datastores/bench/dump.rdb" \
		"MNT/containers/bench/"
	disk_run T_FD WB_FD DIR_FD fs_dump || {
		failed "cp of the live dump.rdb"
		T_FD=-
	}
	FS_B=$(stored_size "$STORE/bench/x.rdb")
	echo "daemon CPU for the dump: $(cpu_s)s"
fi

r=$(div "$t_pd" "$T_FD")
row "dump ~$BENCH_REDIS_SIZE RDB (s, MB/s)" \
	"$T_FD ($(mbs "$RDB_B" "$T_FD"))" "$t_pd ($(mbs "$RDB_B" "$t_pd"))" \
	"$(xr "$t_pd" "$T_FD")" ">= 2x" "$(meets "$r" '>=' 2)"
row "Redis disk writes (bytes)" "$WB_FD" "$wb_pd" "-" "0" \
	"$(meets "$WB_FD" '<=' 0)"
row "data dir, dump.rdb unchanged" "$DIR_FD" "$dir_pd" "-" "ok" \
	"$(is_ok "$DIR_FD")"
row "stored bytes" "$FS_B" "$ENC_B" "$(div "$FS_B" "$ENC_B" 3)" "-" "-"

# ---- 2. backup, and its RDB back through restore/ ----

fs_backup()
{
	echo 1 > "$DS/backup"
}

# the load server's config and port: redis.sh writes them, the server it
# starts on the empty dir is stopped at once
start_redis LPORT "$LDIR"
bash "$RS" stop "$LDIR" > /dev/null

T_BK=-
T_RS=-
BK=
if [ "$HAVE_FS" = 1 ]; then
	echo "backup:       echo 1 > MNT/datastores/bench/backup"
	timeit T_BK fs_backup || {
		failed "echo 1 > backup"
		T_BK=-
	}
	BK=$(readlink "$MNT/restore/bench/latest") || BK=
	[ -n "$BK" ] || die "no backup in restore/bench"
	echo "restore read: cp MNT/restore/bench/$BK/dump.rdb" \
		"(the load's input)"
	timeit T_RS cp "$MNT/restore/bench/$BK/dump.rdb" "$LDIR/dump.rdb" ||
		die "cannot read the backup back"
else
	redis-cli -p "$PORT" --rdb "$LDIR/dump.rdb" > /dev/null 2>&1 ||
		die "redis-cli --rdb failed"
fi
row "echo 1 > backup (s)" "$T_BK" "-" "-" "-" "-"
row "cp restore/.../dump.rdb (s)" "$T_RS" "-" "-" "-" "-"

# ---- 3. recover against redis-server loading the same RDB at start ----

# load_run: starts the load server (it daemonizes) and waits until PING
# answers PONG, i.e. the RDB is loaded (a loading server answers LOADING)
load_run()
{
	local deadline=$((SECONDS + LOAD_TIMEOUT))

	redis-server "$LDIR/redis.conf" > /dev/null || return 1
	until [ "$(redis-cli -p "$LPORT" PING 2> /dev/null)" = PONG ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.01
	done
}

echo "load:         redis-server on a copy of the backup's RDB, until PONG"
# the copy's dirty pages are written back first: a load racing its own
# input's writeback is slower, which would flatter the recover (whose
# staged file is fsynced before the server starts)
sync
timeit t_load load_run || {
	failed "the load server did not answer within ${LOAD_TIMEOUT}s"
	t_load=-
}
n_load=$(redis-cli -p "$LPORT" DBSIZE 2> /dev/null) || n_load=-
# the server's own figure, from its log
load_log=$(sed -n 's/.*DB loaded from disk: \([0-9.]*\) seconds.*/\1/p' \
	"$LDIR/redis.log" | tail -n 1)
bash "$RS" stop "$LDIR" > /dev/null
rm -f "$LDIR/dump.rdb"

fs_recover()
{
	echo "$BK" > "$DS/recover"
}

# poll_steps: "TIME STEP" each time the step in status changes
poll_steps()
{
	local last=
	local s

	while :; do
		s=$(sed -n 's/^step: //p' "$DS/status" 2> /dev/null) || s=
		if [ "$s" != "$last" ]; then
			printf '%s %s\n' "$(now)" "${s:-(none)}"
			last=$s
		fi
		sleep 0.05
	done
}

# recover_run TVAR NVAR: echo $BK > recover, timed into TVAR, with the
# steps status showed printed; NVAR = the server's keys afterwards
recover_run()
{
	local tvar=$1
	local nvar=$2
	local t0

	echo "recover:      echo $BK > MNT/datastores/bench/recover"
	poll_steps > "$W/steps" &
	POLL_PID=$!
	t0=$(now)
	timeit "$tvar" fs_recover || {
		failed "recover of '$BK'"
		printf -v "$tvar" '%s' -
	}
	kill "$POLL_PID" 2> /dev/null || true
	wait "$POLL_PID" 2> /dev/null || true
	POLL_PID=
	printf -v "$nvar" '%s' "$(cli DBSIZE 2> /dev/null || echo -)"
	echo "recover steps (seconds from the write, as status showed them):"
	awk -v t0="$t0" '{
		t = $1
		$1 = ""
		printf "  +%6.2f %s\n", t - t0, substr($0, 2)
	}' "$W/steps"
	grep -q '^last_result: ok' "$DS/status" ||
		failed "status after recover:" \
			"$(grep '^last_result' "$DS/status")"
}

T_REC=-
N_REC=-
T_REC4=-
N_REC4=-
if [ "$HAVE_FS" = 1 ]; then
	recover_run T_REC N_REC
	umount_fs
	# the same with LZ4 frames (-o compression=lz4): a fresh backup of
	# the same data, then its recover
	echo "lz4:          mount -o compression=lz4, echo 1 > backup"
	mount_fs "conf=$CONF,compression=lz4" || die "cannot mount trovefs"
	if fs_backup && BK=$(readlink "$MNT/restore/bench/latest"); then
		recover_run T_REC4 N_REC4
	else
		failed "backup with compression=lz4"
	fi
	umount_fs
fi

# The load once more, after the recover, on the recovered RDB (the same
# bytes): a load's time moves with what ran just before it (2.3 to 5 s
# for this RDB on the reference machine), so the faster of the two is
# the denominator, the one least in trovefs's favour.
t_load2=-
if [ -f "$RDIR/dump.rdb" ] && cp "$RDIR/dump.rdb" "$LDIR/dump.rdb"; then
	sync
	echo "load again:   redis-server on the recovered RDB, until PONG"
	timeit t_load2 load_run || t_load2=-
	load_log2=$(sed -n \
		's/.*DB loaded from disk: \([0-9.]*\) seconds.*/\1/p' \
		"$LDIR/redis.log" | tail -n 1)
	bash "$RS" stop "$LDIR" > /dev/null
	rm -f "$LDIR/dump.rdb"
fi
t_best=$t_load
if is_num "$t_load2" &&
	{ ! is_num "$t_load" || awk -v a="$t_load2" -v b="$t_load" \
		'BEGIN { exit !(a < b) }'; }; then
	t_best=$t_load2
fi
row "  load before / after recover" "$t_load" "$t_load2" "-" "-" "-"
r=$(div "$T_REC" "$t_best")
row "recover vs faster load (s)" "$T_REC" "$t_best" \
	"$(xr "$T_REC" "$t_best")" "<= 1.2x" "$(meets "$r" '<=' 1.2)"
r=$(div "$T_REC4" "$t_best")
row "  the same, compression=lz4" "$T_REC4" "$t_best" \
	"$(xr "$T_REC4" "$t_best")" "<= 1.2x" "$(meets "$r" '<=' 1.2)"
kr=ok
[ "$N_REC" = "$NKEYS" ] || kr=$N_REC
[ "$N_REC4" = "$NKEYS" ] || [ "$N_REC4" = - ] || kr="$kr/$N_REC4"
[ "$n_load" = "$NKEYS" ] || failed "the load server holds $n_load keys"
row "keys after recover, load" "$N_REC" "$n_load" "-" "$NKEYS" \
	"$(is_ok "$kr")"

# ---- report ----

scan_daemon_logs ""

echo
print_rows
echo
echo "peer: dump = redis-cli --rdb - | gzip -1 | openssl enc (to a local file)"
echo "      load = a fresh redis-server on the backup's RDB, start to PONG"
echo "      (the server's log: loaded in ${load_log:--}s, then" \
	"${load_log2:--}s after the recover); the faster is the denominator"
echo "ratio: dump: peer time / trovefs time; stored: trovefs / peer bytes"
echo "       recover: trovefs time / load time"
echo "MB/s: 10^6 bytes of RDB ($RDB_B, the server's SAVE) per second"
echo "disk writes: /proc/<redis-server>/io write_bytes delta over the dump"
echo "             (fork child included); data dir: names, sizes, mtimes"
print_failed
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "total Redis bench time: $(awk -v a="$T_START" -v b="$(now)" \
	'BEGIN { printf "%.0f", b - a }')s"
exit 0
