#!/usr/bin/env bash
#
# bench/run.sh - trovefs against the pipeline OpenStack Trove's guest agent
# runs (gzip | openssl enc), on Redis-dump-like data. A report, not a test:
# it exits 0 whether or not the goals are met, and non-zero only when it
# cannot run (missing tools, daemon that does not mount).
#
#   make bench      builds, then: TROVEFS_BUILD=<abs build> bash bench/run.sh
#
# Environment (sizes take a K/M/G/T suffix, powers of 1024):
#   TROVEFS_BUILD   build dir holding trovefs and bench/gen_redislike
#   BENCH_SIZE      write/read input (2G)
#   BENCH_BIG       peak-RSS file, streamed, never on disk (4G)
#   BENCH_SMALL     peak-RSS reference file (256M)
#   BENCH_LS_COUNT  objects in the ls -l directory (10000)
#   BENCH_DIR       where the temporary state goes (/var/tmp)
#   BENCH_EXTRA     1: also threads=1 and format=trove rows (1)
#   BENCH_KEEP      1: keep the state directory (daemon logs) at the end
#   BENCH_REDIS     0: skip the Redis datastore report (bench/redis.sh,
#                   run after this one; its knobs are in its header) (1)
#   BENCH_SWIFT     0: skip the Swift report (bench/swift.sh, run after
#                   the Redis one; its knobs are in its header) (1)
#
# Without a trovefs binary only the peer pipeline is measured. The state
# directory (input, store, mount point, key) is removed on exit; the trap
# unmounts and stops only the daemon this script started.
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
BENCH_SIZE=${BENCH_SIZE:-2G}
BENCH_BIG=${BENCH_BIG:-4G}
BENCH_SMALL=${BENCH_SMALL:-256M}
BENCH_LS_COUNT=${BENCH_LS_COUNT:-10000}
BENCH_EXTRA=${BENCH_EXTRA:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
MOUNT_TIMEOUT=${BENCH_MOUNT_TIMEOUT:-20}

for tool in gzip gunzip openssl sha256sum dd awk mountpoint fusermount3; do
	command -v "$tool" > /dev/null || die "'$tool' not found"
done
[ -x "$GEN" ] || die "'$GEN' not built (make BUILD=... tools)"
HAVE_FS=1
if [ ! -x "$TROVEFS" ]; then
	HAVE_FS=0
	note "'$TROVEFS' not found: measuring the peer pipeline only"
elif [ ! -c /dev/fuse ]; then
	HAVE_FS=0
	note "no /dev/fuse: measuring the peer pipeline only"
fi

SIZE_B=$(to_bytes "$BENCH_SIZE")
BIG_B=$(to_bytes "$BENCH_BIG")
SMALL_B=$(to_bytes "$BENCH_SMALL")
[[ $BENCH_LS_COUNT =~ ^[0-9]+$ ]] || die "bad BENCH_LS_COUNT '$BENCH_LS_COUNT'"

W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/trovefs-bench.XXXXXX")
STORE=$W/store
MNT=$W/mnt
KEY=$W/key
IN=$W/input
ENC=$W/peer.gz.enc
T_START=$(date +%s.%N)

cleanup()
{
	local rc=$?

	trap - EXIT
	kill_fs
	state_exit "$rc"
}
state_init "$STORE" "$MNT"

# ---- header ----

echo "== trovefs bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
print_machine
if [ "$HAVE_FS" = 1 ]; then
	echo "trovefs:        $TROVEFS"
else
	echo "trovefs:        not built"
fi
printf 'sizes:          BENCH_SIZE=%s BENCH_BIG=%s BENCH_SMALL=%s %s\n' \
	"$BENCH_SIZE" "$BENCH_BIG" "$BENCH_SMALL" "BENCH_LS_COUNT=$BENCH_LS_COUNT"
echo "state dir:      $W"
if [ "$CAN_DROP" = 1 ]; then
	echo "page cache:     dropped before every cold run"
else
	echo "page cache:     cannot drop (not root?): cold runs may be cached"
fi
echo

# ---- input ----

timeit t_gen "$GEN" "$BENCH_SIZE" > "$IN"
printf 'input: %s of gen_redislike in %ss (%s MB/s)\n' "$BENCH_SIZE" \
	"$t_gen" "$(mbs "$SIZE_B" "$t_gen")"
IN_SHA=$(sha256sum < "$IN" | awk '{ print $1 }')

# ---- 1/2. peer pipeline: write and read ----

peer_write()
{
	gzip -1 < "$IN" | openssl enc -aes-256-cbc -pbkdf2 -pass "file:$KEY" \
		> "$ENC"
}

peer_read()
{
	openssl enc -d -aes-256-cbc -pbkdf2 -pass "file:$KEY" < "$ENC" |
		gunzip > /dev/null
}

cat "$IN" > /dev/null
echo "peer write: gzip -1 | openssl enc -aes-256-cbc -pbkdf2 ..."
timeit t_pw peer_write || failed "peer write pipeline"
# The exact gzip -1 size: what Trove's backup would hold before openssl.
GZ_B=$(openssl enc -d -aes-256-cbc -pbkdf2 -pass "file:$KEY" < "$ENC" |
	wc -c)
ENC_B=$(stat -c %s "$ENC")
drop_caches
echo "peer read:  openssl enc -d ... | gunzip"
timeit t_pr peer_read || failed "peer read pipeline"
rm -f "$ENC"

# ---- 1/2. trovefs: write, then read after a remount ----

# mount_and_cp MOUNT_OPTS NAME VAR: mounts with MOUNT_OPTS and times a cp of
# the (cached) input to containers/bench/NAME into VAR ("-" if it failed);
# leaves the mount up
mount_and_cp()
{
	mount_fs "$1" || return 1
	[ -d "$MNT/containers/bench" ] || mkdir "$MNT/containers/bench"
	cat "$IN" > /dev/null
	timeit "$3" cp "$IN" "$MNT/containers/bench/$2" || {
		failed "cp to trovefs (${1:-default})"
		printf -v "$3" '%s' -
	}
}

t_fw=-
t_fr=-
fs_b=-
read_ok=-
cpu_w=-
cpu_r=-
# fs_write_read OPTS NAME: sets t_fw t_fr fs_b read_ok cpu_w cpu_r
fs_write_read()
{
	local obj=$MNT/containers/bench/$2
	local sha

	t_fw=-
	t_fr=-
	fs_b=-
	read_ok=-
	mount_and_cp "$1" "$2" t_fw || return 1
	cpu_w=$(cpu_s)
	umount_fs
	fs_b=$(stored_size "$STORE/bench/$2")

	mount_fs "$1" || return 1
	drop_caches
	timeit t_fr cat "$obj" > /dev/null || {
		failed "cat from trovefs (${1:-default})"
		t_fr=-
	}
	cpu_r=$(cpu_s)
	sha=$(sha256sum < "$obj" | awk '{ print $1 }') || sha=
	if [ "$sha" = "$IN_SHA" ]; then
		read_ok=ok
	else
		read_ok=MISMATCH
		failed "read-back of '$2' differs from the input"
	fi
	umount_fs
}

if [ "$HAVE_FS" = 1 ]; then
	echo "trovefs write: cp input MNT/containers/bench/x"
	echo "trovefs read:  cat MNT/containers/bench/x (remounted)"
	fs_write_read "" x || die "cannot mount trovefs"
	T_FW=$t_fw
	T_FR=$t_fr
	FS_B=$fs_b
	READ_OK=$read_ok
	echo "daemon CPU: write ${cpu_w}s, read ${cpu_r}s"
	rm -f "$STORE/bench/x"
else
	T_FW=-
	T_FR=-
	FS_B=-
	READ_OK=-
fi

r=$(div "$t_pw" "$T_FW")
row "write $BENCH_SIZE (s, MB/s)" "$T_FW ($(mbs "$SIZE_B" "$T_FW"))" \
	"$t_pw ($(mbs "$SIZE_B" "$t_pw"))" "$(xr "$t_pw" "$T_FW")" ">= 3x" \
	"$(meets "$r" '>=' 3)"
r=$(div "$FS_B" "$GZ_B" 3)
row "stored bytes vs gzip -1" "$FS_B" "$GZ_B" "$r" "<= 1.10" \
	"$(meets "$r" '<=' 1.10)"
row "  (ratio input/stored)" "$(div "$SIZE_B" "$FS_B")" \
	"$(div "$SIZE_B" "$GZ_B")" "-" "-" "-"
row "  peer openssl output" "-" "$ENC_B" "-" "-" "-"
r=$(div "$t_pr" "$T_FR")
row "read $BENCH_SIZE (s, MB/s)" "$T_FR ($(mbs "$SIZE_B" "$T_FR"))" \
	"$t_pr ($(mbs "$SIZE_B" "$t_pr"))" "$(xr "$t_pr" "$T_FR")" ">= 2x" \
	"$(meets "$r" '>=' 2)"
row "read-back sha256" "$READ_OK" "-" "-" "ok" "$(is_ok "$READ_OK")"

# ---- 3. peak RSS: a big and a small streamed file, fresh mounts ----

stream_into()
{
	"$GEN" "$1" | dd of="$2" bs=1M iflag=fullblock status=none
}

# rss_run SIZE NAME BYTES: sets hwm_w (after write) hwm_r (after read), KiB
rss_run()
{
	local obj=$MNT/containers/bench/$2
	local gen_pid
	local got

	hwm_w=-
	hwm_r=-
	mount_fs "" || die "cannot mount trovefs"
	[ -d "$MNT/containers/bench" ] || mkdir "$MNT/containers/bench"
	timeit t_rss_w stream_into "$1" "$obj" ||
		failed "streaming $1 into trovefs"
	hwm_w=$(hwm_kib)
	# the expected digest, regenerated while the read-back runs
	"$GEN" "$1" | sha256sum | awk '{ print $1 }' > "$W/want.sha" &
	gen_pid=$!
	got=$(sha256sum < "$obj" | awk '{ print $1 }') || got=
	wait "$gen_pid" || failed "regenerating $1 for its digest"
	hwm_r=$(hwm_kib)
	[ "$got" = "$(cat "$W/want.sha")" ] ||
		failed "read-back of $1 '$2' differs"
	printf '  %s: write %ss (%s MB/s), VmHWM %s MiB, %s MiB after read\n' \
		"$1" "$t_rss_w" "$(mbs "$3" "$t_rss_w")" \
		"$(div "$hwm_w" 1024 1)" "$(div "$hwm_r" 1024 1)"
	umount_fs
	rm -f "$STORE/bench/$2"
}

if [ "$HAVE_FS" = 1 ]; then
	echo "peak RSS: gen_redislike SIZE | dd of=MNT/... bs=1M, then read back"
	rss_run "$BENCH_BIG" big "$BIG_B"
	HWM_BIG=$hwm_r
	HWM_BIG_W=$hwm_w
	rss_run "$BENCH_SMALL" small "$SMALL_B"
	HWM_SMALL=$hwm_r
	HWM_SMALL_W=$hwm_w
else
	HWM_BIG=-
	HWM_BIG_W=-
	HWM_SMALL=-
	HWM_SMALL_W=-
fi
for v in BIG SMALL; do
	b=BENCH_$v
	w=HWM_${v}_W
	h=HWM_$v
	m=$(div "${!h}" 1024 1)
	row "peak RSS ${!b} (MiB)" "$(div "${!w}" 1024 1) / $m" "-" "-" \
		"<= 64" "$(meets "$m" '<=' 64)"
done
# "big <= small, roughly": within 25%, or 4 MiB for a tiny daemon
r=$(div "$HWM_BIG" "$HWM_SMALL")
met=$(meets "$r" '<=' 1.25)
if [ "$met" = NO ]; then
	met=$(meets "$(div "$((HWM_BIG - HWM_SMALL))" 1024 1)" '<=' 4)
fi
row "  RSS big / small" "$r" "-" "-" "<=1.25x|+4M" "$met"

# ---- 4. ls -l of a pseudo-directory with many objects ----

# make_many DIR: BENCH_LS_COUNT small files in DIR (no fork per file);
# stops at the first failure
make_many()
{
	local i
	local name

	for ((i = 0; i < BENCH_LS_COUNT; i++)); do
		printf -v name 'obj%06d' "$i"
		printf '%d\n' "$i" > "$1/$name" || return 1
	done
}

ls_l()
{
	ls -l "$1" > /dev/null
}

PLAIN=$W/plain-many
mkdir "$PLAIN"
make_many "$PLAIN"
drop_caches
timeit t_lsp_cold ls_l "$PLAIN"
timeit t_lsp_warm ls_l "$PLAIN"
rm -rf "$PLAIN"

T_LS_COLD=-
T_LS_WARM=-
LS_WHERE=bench/many
if [ "$HAVE_FS" = 1 ]; then
	mount_fs "" || die "cannot mount trovefs"
	[ -d "$MNT/containers/bench" ] || mkdir "$MNT/containers/bench"
	if ! mkdir "$MNT/containers/bench/many"; then
		# still give a figure: a container is a directory too
		failed "mkdir of pseudo-directory 'bench/many'"
		LS_WHERE=benchls
		mkdir "$MNT/containers/$LS_WHERE"
	fi
	LSDIR=$MNT/containers/$LS_WHERE
	if timeit t_mk make_many "$LSDIR"; then
		printf 'ls: %s objects created in %s in %ss (not scored)\n' \
			"$BENCH_LS_COUNT" "$LS_WHERE" "$t_mk"
		umount_fs
		mount_fs "" || die "cannot mount trovefs"
		drop_caches
		timeit T_LS_COLD ls_l "$LSDIR" || failed "ls -l (cold)"
		timeit T_LS_WARM ls_l "$LSDIR" || failed "ls -l (warm)"
		n=$(find "$LSDIR" -mindepth 1 -maxdepth 1 -printf . | wc -c) ||
			n=0
		[ "$n" -eq "$BENCH_LS_COUNT" ] ||
			failed "ls shows $n objects, not $BENCH_LS_COUNT"
	else
		failed "creating $BENCH_LS_COUNT objects in '$LS_WHERE'"
	fi
	umount_fs
	rm -rf "${STORE:?}/$LS_WHERE"
fi
row "ls -l $BENCH_LS_COUNT cold (s)" "$T_LS_COLD" "$t_lsp_cold" \
	"$(xr "$T_LS_COLD" "$t_lsp_cold" 1)" "-" "-"
row "ls -l $BENCH_LS_COUNT warm (s)" "$T_LS_WARM" "$t_lsp_warm" \
	"$(xr "$T_LS_WARM" "$t_lsp_warm" 1)" "-" "-"

# ---- extras: threads=1, and the Trove-compatible format ----

# trove_format_run: sets t_tw (write time) and t_ok (openssl reads it)
trove_format_run()
{
	local sha

	t_tw=-
	t_ok=-
	mount_and_cp "format=trove" t t_tw || return 1
	umount_fs
	# openssl warns about the 1-iteration KDF on stderr: keep it aside
	sha=$(openssl enc -d -aes-256-cbc -md sha256 -pass "file:$KEY" \
		< "$STORE/bench/t" 2> "$W/trove-dec.err" | gunzip |
		sha256sum | awk '{ print $1 }') || sha=
	if [ "$sha" = "$IN_SHA" ]; then
		t_ok=ok
	else
		t_ok=MISMATCH
		cat "$W/trove-dec.err" >&2
		failed "format=trove object is not openssl-readable"
	fi
	rm -f "$STORE/bench/t"
}

if [ "$HAVE_FS" = 1 ] && [ "$BENCH_EXTRA" = 1 ]; then
	echo "threads=1: the same write and read with one worker"
	if fs_write_read "threads=1" x1; then
		rm -f "$STORE/bench/x1"
		row "threads=1 write (s)" "$t_fw" "$T_FW" \
			"$(xr "$t_fw" "$T_FW")" "-" "-"
		row "threads=1 read (s)" "$t_fr" "$T_FR" \
			"$(xr "$t_fr" "$T_FR")" "-" "-"
		[ "$read_ok" = ok ] || failed "threads=1 read-back: $read_ok"
	else
		failed "no mount with -o threads=1"
	fi

	echo "format=trove: write, then decode the stored object with openssl"
	if trove_format_run; then
		row "format=trove write (s)" "$t_tw" "$t_pw" \
			"$(xr "$t_pw" "$t_tw")" "-" "-"
		row "  openssl enc -d, gunzip" "$t_ok" "-" "-" "ok" \
			"$(is_ok "$t_ok")"
	else
		failed "no mount with -o format=trove"
	fi
fi

# ---- report ----

scan_daemon_logs ""

echo
print_rows
echo
echo "ratio: write, read: peer time / trovefs time"
echo "       stored: trovefs object bytes / gzip -1 stream bytes"
echo "       ls: trovefs time / plain local directory time"
echo "       threads=1: threads=1 time / default (one per CPU) time"
echo "MB/s: 10^6 bytes of input per second"
echo "peak RSS: daemon VmHWM after the write / after write + read-back"
echo "          of a streamed file, a fresh mount for each size"
print_failed
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "total bench time: $(awk -v a="$T_START" -v b="$(now)" \
	'BEGIN { printf "%.0f", b - a }')s"

# ---- the Redis datastore: a report of its own ----

if [ "${BENCH_REDIS:-1}" != 0 ]; then
	rm -f "$IN"
	echo
	bash "$(dirname "$0")/redis.sh" ||
		note "bench/redis.sh did not run (exit $?)"
fi

# ---- Swift: a report of its own ----

if [ "${BENCH_SWIFT:-1}" != 0 ]; then
	rm -f "$IN"
	echo
	bash "$(dirname "$0")/swift.sh" ||
		note "bench/swift.sh did not run (exit $?)"
fi
exit 0
