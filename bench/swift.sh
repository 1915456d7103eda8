#!/usr/bin/env bash
#
# bench/swift.sh - trovefs on OpenStack Swift (issue 3) against what else
# puts a file into Swift: Trove's `gzip -1 | openssl enc | curl -T -`, raw
# `curl -T` of the plain file (the server's ceiling), `rclone copy` and
# `swift upload --use-slo`; the read-back against a raw GET; the daemon's
# peak RSS on a big streamed file; `ls -l` of a big pseudo-directory
# against `rclone mount`. A report, not a test: it exits 0 whether or not
# the goals are met, and non-zero only when it cannot run (missing tools,
# no Swift, daemon that does not mount).
#
#   TROVEFS_BUILD=<abs build> bash bench/swift.sh     (bench/run.sh calls it)
#
# Environment (sizes take a K/M/G/T suffix, powers of 1024):
#   TROVEFS_BUILD        build dir holding trovefs and bench/gen_redislike
#   BENCH_SWIFT_SIZE     write/read input, on disk (2G)
#   BENCH_SWIFT_BIG      peak-RSS file, streamed, never on disk (10G)
#   BENCH_SWIFT_SMALL    peak-RSS reference file (256M)
#   BENCH_SWIFT_LS       objects in the ls -l pseudo-directory (100000)
#   BENCH_SWIFT_LS_JOBS  parallel bulk-upload requests (2)
#   BENCH_SWIFT_LS_TIME  seconds the creation may take; then it stops
#                        short of BENCH_SWIFT_LS and says so (600)
#   BENCH_SWIFT_RCLONE_TIME  seconds rclone mount's cold ls -l may take;
#                        then it is cut and extrapolated (60)
#   BENCH_SWIFT_FILES    small files in the rsync-of-a-directory rows (200)
#   BENCH_SWIFT_SEGMENT  segment_size of the mount (empty: the default)
#   BENCH_SWIFT_PARALLEL parallel of the mount (empty: the default)
#   BENCH_SWIFT_ALT      "SEGMENT PARALLEL" of one more cp row ("64M 4";
#                        empty: none)
#   BENCH_SWIFT_PIN      1 (default): also run the cp/read rows with Swift
#                        on the last CPU and the client on the others
#   BENCH_DIR            where the state goes (/var/tmp)
#   BENCH_KEEP           1: keep the state directory (logs) at the end
#
# Swift is tests/services/swift.sh (Debian's all-in-one, tempauth) started
# for this run in /dev/shm when it has room, else in the state directory,
# and stopped by that script at the end. The trap also stops the daemon
# and the rclone mount this script started (their pids), nothing else.
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
SS=$(realpath "$(dirname "$0")/../tests/services/swift.sh")
PY=/usr/bin/python3	# Debian's: the swift CLI and tarfile
BENCH_SWIFT_SIZE=${BENCH_SWIFT_SIZE:-2G}
BENCH_SWIFT_BIG=${BENCH_SWIFT_BIG:-10G}
BENCH_SWIFT_SMALL=${BENCH_SWIFT_SMALL:-256M}
BENCH_SWIFT_LS=${BENCH_SWIFT_LS:-100000}
BENCH_SWIFT_LS_JOBS=${BENCH_SWIFT_LS_JOBS:-2}
BENCH_SWIFT_LS_TIME=${BENCH_SWIFT_LS_TIME:-600}
BENCH_SWIFT_RCLONE_TIME=${BENCH_SWIFT_RCLONE_TIME:-60}
BENCH_SWIFT_FILES=${BENCH_SWIFT_FILES:-200}
BENCH_SWIFT_SEGMENT=${BENCH_SWIFT_SEGMENT:-}
BENCH_SWIFT_PARALLEL=${BENCH_SWIFT_PARALLEL:-}
BENCH_SWIFT_ALT=${BENCH_SWIFT_ALT-64M 4}
BENCH_KEEP=${BENCH_KEEP:-0}
MOUNT_TIMEOUT=${BENCH_MOUNT_TIMEOUT:-20}
LS_BATCH=10000		# objects per bulk-upload request

for tool in gzip openssl curl rclone awk sha256sum dd mountpoint \
	fusermount3; do
	command -v "$tool" > /dev/null || die "'$tool' not found"
done
[ -x /usr/bin/swift ] || die "'/usr/bin/swift' (python3-swiftclient) not found"
[ -x "$PY" ] || die "'$PY' not found"
[ -x "$GEN" ] || die "'$GEN' not built (make BUILD=... tools)"
[ -f "$SS" ] || die "'$SS' not found"
HAVE_FS=1
if [ ! -x "$TROVEFS" ]; then
	HAVE_FS=0
	note "'$TROVEFS' not found: measuring the peers only"
elif [ ! -c /dev/fuse ]; then
	HAVE_FS=0
	note "no /dev/fuse: measuring the peers only"
fi

SIZE_B=$(to_bytes "$BENCH_SWIFT_SIZE")
BIG_B=$(to_bytes "$BENCH_SWIFT_BIG")
SMALL_B=$(to_bytes "$BENCH_SWIFT_SMALL")
for v in BENCH_SWIFT_LS BENCH_SWIFT_LS_JOBS BENCH_SWIFT_LS_TIME \
	BENCH_SWIFT_RCLONE_TIME BENCH_SWIFT_FILES; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "bad $v '${!v}'"
done

W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/trovefs-swiftbench.XXXXXX")
STORE=$W/unused		# lib.sh's local store: this bench mounts Swift
MNT=$W/mnt
MNT2=$W/rclone-mnt
KEY=$W/key
CONF=$W/trovefs.conf
HDR=$W/auth.hdr		# X-Auth-Token, for curl -H @FILE (not in argv)
IN=$W/input
RND=$W/random
FS_SOURCE=swift:bench
SDIR=			# Swift's state, stopped and removed by the trap
RCLONE_PID=
LS_PIDS=()
T_START=$(now)

cleanup()
{
	local rc=$?
	local p

	trap - EXIT
	for p in "${LS_PIDS[@]}"; do
		kill "$p" 2> /dev/null || true
		wait "$p" 2> /dev/null || true
	done
	if [ -n "$RCLONE_PID" ]; then
		fusermount3 -u -z "$MNT2" 2> /dev/null || true
		kill "$RCLONE_PID" 2> /dev/null || true
		wait "$RCLONE_PID" 2> /dev/null || true
	fi
	kill_fs
	if [ -n "$SDIR" ]; then
		bash "$SS" stop "$SDIR" > /dev/null 2>&1 ||
			note "cannot stop the Swift in '$SDIR'"
		if [ "$BENCH_KEEP" != 1 ]; then
			rm -rf --one-file-system "$SDIR"
		fi
	fi
	if [ "$BENCH_KEEP" = 1 ]; then
		note "state kept in '$W' (Swift: '$SDIR')"
	else
		# never through a mount left behind
		rm -rf --one-file-system "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$MNT" "$MNT2"
make_key "$KEY"
drop_caches_init

# ---- Swift ----

# Swift's disk: /dev/shm when it holds the peak (the object server fsyncs
# every PUT, and this bench measures the client side), else the state dir
NEED_B=$((2 * SIZE_B + BIG_B / 2 + (1 << 30)))
SHM_B=$(df -B1 --output=avail /dev/shm 2> /dev/null | tail -n 1) || SHM_B=0
MEM_B=$(awk '/^MemAvailable:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo)
if [[ $SHM_B =~ ^[0-9]+$ ]] && [ "$SHM_B" -gt "$NEED_B" ] &&
	[ "$MEM_B" -gt $((NEED_B + 2 * SIZE_B + (4 << 30))) ]; then
	SDIR=$(mktemp -d /dev/shm/trovefs-swiftbench.XXXXXX)
else
	SDIR=$W/swift
fi
T_SW0=$(now)
out=$(bash "$SS" start "$SDIR" 2> "$W/swift-start.log") || {
	tail -n 20 "$W/swift-start.log" >&2
	die "cannot start Swift in '$SDIR'"
}
eval "$out"
T_SWIFT=$(awk -v a="$T_SW0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
URL=$SWIFT_STORAGE_URL
PLOG=$SDIR/log/proxy.log

TOKEN=$(curl -sS -D - -o /dev/null -H "X-Auth-User: $SWIFT_USER" \
	-H "X-Auth-Key: $SWIFT_KEY" "$SWIFT_AUTH_URL" | tr -d '\r' |
	sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
[ -n "$TOKEN" ] || die "no token from '$SWIFT_AUTH_URL'"
(
	umask 077
	printf 'X-Auth-Token: %s\n' "$TOKEN" > "$HDR"
	printf '%s\n' "$SWIFT_KEY" > "$W/swift-key"
)

# sw CURL_ARGS... PATH: curl with the token on "container[/object]"
sw()
{
	curl -sS -f -H "@$HDR" "${@:1:$#-1}" "$URL/${*: -1}"
}

# sw_delete OBJ: removes an object, an SLO with its segments (not scored)
sw_delete()
{
	sw -o /dev/null -X DELETE "$1?multipart-manifest=delete" ||
		note "cannot delete '$1'"
}

# stored_len OBJ: the bytes Swift holds for OBJ (Content-Length of a HEAD)
stored_len()
{
	sw -I "$1" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Ll]ength: //p'
}

# write_conf SEGMENT PARALLEL: the config (empty: trovefs's defaults)
write_conf()
{
	(
		umask 077
		printf '[trovefs]\nkey_file = %s\n\n' "$KEY"
		printf '[swift:bench]\nauth_url = %s\nauth_version = 1\n' \
			"$SWIFT_AUTH_URL"
		printf 'user = %s\nkey_file = %s\n' "$SWIFT_USER" \
			"$W/swift-key"
		[ -z "$1" ] || printf 'segment_size = %s\n' "$1"
		[ -z "$2" ] || printf 'parallel = %s\n' "$2"
	) > "$CONF.tmp"
	chmod 600 "$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
}

# rclone's swift remote "sw", from the environment only
export RCLONE_CONFIG=$W/rclone.conf
export RCLONE_CONFIG_SW_TYPE=swift
export RCLONE_CONFIG_SW_AUTH=$SWIFT_AUTH_URL
export RCLONE_CONFIG_SW_USER=$SWIFT_USER
export RCLONE_CONFIG_SW_KEY=$SWIFT_KEY
export RCLONE_CONFIG_SW_AUTH_VERSION=1
: > "$RCLONE_CONFIG"
export ST_AUTH ST_USER ST_KEY

# mk_container C: PUT C, retried: a fresh Swift may answer 503 at first
mk_container()
{
	local i

	for ((i = 0; i < 40; i++)); do
		sw -o /dev/null -X PUT "$1" 2> /dev/null && return 0
		sleep 0.5
	done
	die "cannot create container '$1'"
}

mk_container b
mk_container ls
mk_container small

# ---- header ----

echo "== trovefs Swift bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
print_machine
echo "swift:          $(dpkg-query -W -f '${Version}' swift-proxy \
	2> /dev/null || echo '?') on '$SDIR' (started in ${T_SWIFT}s)"
echo "curl:           $(curl --version | head -n 1 | cut -d' ' -f1-2)"
echo "rclone:         $(rclone version 2> /dev/null | head -n 1)"
echo "swiftclient:    $(/usr/bin/swift --version 2> /dev/null || echo '?')"
printf 'sizes:          BENCH_SWIFT_SIZE=%s BENCH_SWIFT_BIG=%s %s %s\n' \
	"$BENCH_SWIFT_SIZE" "$BENCH_SWIFT_BIG" \
	"BENCH_SWIFT_SMALL=$BENCH_SWIFT_SMALL" "BENCH_SWIFT_LS=$BENCH_SWIFT_LS"
printf 'mount:          segment_size=%s parallel=%s\n' \
	"${BENCH_SWIFT_SEGMENT:-default}" "${BENCH_SWIFT_PARALLEL:-default}"
echo "state dir:      $W"
echo

# ---- input ----

timeit t_gen "$GEN" "$BENCH_SWIFT_SIZE" > "$IN"
printf 'input: %s of gen_redislike in %ss\n' "$BENCH_SWIFT_SIZE" "$t_gen"
IN_SHA=$(sha256sum < "$IN" | awk '{ print $1 }')
timeit t_rnd head -c "$SIZE_B" /dev/urandom > "$RND"
printf 'random: %s of /dev/urandom in %ss\n' "$BENCH_SWIFT_SIZE" "$t_rnd"

# ---- 1. writes ----

# fs_cp SRC NAME [MOUNT_OPTS]: sets t_cp (s) and cpu_cp (daemon CPU s)
fs_cp()
{
	t_cp=-
	cpu_cp=-
	[ "$HAVE_FS" = 1 ] || return 0
	mount_fs "conf=$CONF${3:+,$3}" || die "cannot mount trovefs"
	[ -d "$MNT/containers/b" ] || die "no containers/b in the mount"
	cat "$1" > /dev/null
	timeit t_cp cp "$1" "$MNT/containers/b/$2" || {
		failed "cp to trovefs ($2)"
		t_cp=-
	}
	cpu_cp=$(cpu_s)
	umount_fs
}

trove_put()
{
	gzip -1 < "$IN" | openssl enc -aes-256-cbc -pbkdf2 -pass "file:$KEY" |
		sw -o /dev/null -T - b/trove
}

raw_put()
{
	sw -o /dev/null -T "$1" "b/$2"
}

rclone_put()
{
	rclone copyto -q "$IN" sw:b/rclone
}

slo_put()
{
	(cd "$W" && /usr/bin/swift -q upload --use-slo --segment-size 100M \
		--object-name slo b input)
}

# peer VAR FILE FUNC ARGS...: times a peer upload of FILE, cached first
peer()
{
	local var=$1

	cat "$2" > /dev/null
	shift 2
	timeit "$var" "$@" || {
		failed "$*"
		printf -v "$var" '%s' -
	}
}

write_conf "$BENCH_SWIFT_SEGMENT" "$BENCH_SWIFT_PARALLEL"
echo "trovefs:  cp input MNT/containers/b/x (conf: segment_size, parallel)"
fs_cp "$IN" x
T_FW=$t_cp
CPU_FW=$cpu_cp
echo "trove:    gzip -1 | openssl enc -aes-256-cbc -pbkdf2 | curl -T - (chunked)"
peer T_TROVE "$IN" trove_put
sw_delete b/trove
echo "raw curl: curl -T input"
peer T_RAW "$IN" raw_put "$IN" raw
echo "rclone:   rclone copyto input sw:b/rclone"
peer T_RCLONE "$IN" rclone_put
sw_delete b/rclone
echo "swift:    swift upload --use-slo --segment-size 100M"
peer T_SLO "$IN" slo_put
sw_delete b/slo

echo "trovefs:  the same cp with -o compress_level=0"
fs_cp "$IN" x0 compress_level=0
T_FW0=$t_cp
sw_delete b/x0
echo "trovefs:  the same cp with -o compression=lz4 (read back in 2.)"
fs_cp "$IN" x4 compression=lz4
T_FW4=$t_cp
echo "random:   cp of $BENCH_SWIFT_SIZE of /dev/urandom, and curl -T of it"
fs_cp "$RND" r
T_FWR=$t_cp
sw_delete b/r
peer T_RAWR "$RND" raw_put "$RND" rawr
sw_delete b/rawr

T_ALT=-
if [ -n "$BENCH_SWIFT_ALT" ]; then
	read -r ALT_SEG ALT_PAR <<< "$BENCH_SWIFT_ALT"
	echo "trovefs:  cp with segment_size=$ALT_SEG parallel=$ALT_PAR"
	write_conf "$ALT_SEG" "$ALT_PAR"
	fs_cp "$IN" xalt
	T_ALT=$t_cp
	sw_delete b/xalt
	write_conf "$BENCH_SWIFT_SEGMENT" "$BENCH_SWIFT_PARALLEL"
fi
# read_cold NAME TVAR GETVAR CPUVAR [MD5VAR]: cat of MNT/containers/b/NAME
# on a fresh mount with caches dropped, then a GET of the stored object,
# and with MD5VAR that GET piped through md5sum (a consumer that spends
# about what the daemon spends decoding, to show what any CPU spent on the
# client costs a Swift that shares the CPUs); the read must give the input
# back (READ_OK); deletes b/NAME
read_cold()
{
	local name=$1
	local sha

	printf -v "$2" '%s' -
	printf -v "$3" '%s' -
	printf -v "$4" '%s' -
	[ -z "${5:-}" ] || printf -v "$5" '%s' -
	[ "$HAVE_FS" = 1 ] || return 0
	mount_fs "conf=$CONF" || die "cannot mount trovefs"
	drop_caches
	echo "read:     cat MNT/containers/b/$name (remounted, caches dropped)"
	timeit "$2" cat "$MNT/containers/b/$name" > /dev/null || {
		failed "cat of $name from trovefs"
		printf -v "$2" '%s' -
	}
	printf -v "$4" '%s' "$(cpu_s)"
	sha=$(sha256sum < "$MNT/containers/b/$name" | awk '{ print $1 }') ||
		sha=
	if [ "$sha" != "$IN_SHA" ]; then
		READ_OK=MISMATCH
		failed "read-back of 'b/$name' differs from the input"
	fi
	umount_fs
	drop_caches
	echo "peer:     curl -o /dev/null of the stored object b/$name"
	timeit "$3" sw -o /dev/null "b/$name" || {
		failed "GET b/$name"
		printf -v "$3" '%s' -
	}
	if [ -n "${5:-}" ]; then
		drop_caches
		echo "peer:     curl of the stored object b/$name | md5sum"
		timeit "$5" pipe_md5 "b/$name" || {
			failed "GET b/$name | md5sum"
			printf -v "$5" '%s' -
		}
	fi
	sw_delete "b/$name"
}

# pipe_md5 OBJ: GET of OBJ through md5sum
pipe_md5()
{
	local rc

	sw "$1" | md5sum > /dev/null
	rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ]
}

# every read_cold checks the bytes; one mismatch makes this MISMATCH
READ_OK=-
[ "$HAVE_FS" = 1 ] && READ_OK=ok

# ---- 1b. the same with the server and the client on separate CPUs ----

# On this machine Swift's Python servers and the client share the CPUs, so
# every CPU second trovefs spends compressing, encrypting and hashing is
# taken from the server that raw curl has to itself. With PIN_CPUS (the
# default on 2+ CPUs) the cp, read and peer rows are run once more with
# Swift (all its processes and threads) on the last CPU and this script,
# the daemon it mounts and the peer tools on the others: the server gets
# the same CPU in every row, as if it ran on its own host.

# swift_pids: Swift's server pids (pid files) and their worker children
swift_pids()
{
	local f
	local p

	for f in "$SDIR"/run/*.pid; do
		p=$(cat "$f" 2> /dev/null) || continue
		echo "$p"
		pgrep -P "$p" || true
	done
}

# pin_cpus SERVER_CPUS CLIENT_CPUS: moves Swift and this shell (so every
# child from now on) to those CPU lists
pin_cpus()
{
	local p

	for p in $(swift_pids); do
		taskset -a -p -c "$1" "$p" > /dev/null 2>&1 ||
			note "cannot pin Swift pid $p"
	done
	taskset -p -c "$2" $$ > /dev/null || note "cannot pin the client"
}

NCPU=$(nproc)
T_PW=- T_PRAW=- T_PW0=- T_PWR=- T_PRAWR=- T_PR=- T_PGET=-
T_PW4=- T_PR4=- T_PGET4=-
if [ "${BENCH_SWIFT_PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ] &&
	command -v taskset > /dev/null; then
	PIN_SRV=$((NCPU - 1))
	PIN_CLI=0-$((NCPU - 2))
	echo "pinned:   Swift on CPU $PIN_SRV, client and daemon on $PIN_CLI"
	pin_cpus "$PIN_SRV" "$PIN_CLI"
	fs_cp "$IN" xp
	T_PW=$t_cp
	peer T_PRAW "$IN" raw_put "$IN" rawp
	sw_delete b/rawp
	fs_cp "$IN" xp0 compress_level=0
	T_PW0=$t_cp
	sw_delete b/xp0
	fs_cp "$RND" rp
	T_PWR=$t_cp
	sw_delete b/rp
	peer T_PRAWR "$RND" raw_put "$RND" rawrp
	sw_delete b/rawrp
	fs_cp "$IN" xp4 compression=lz4
	T_PW4=$t_cp
	read_cold xp T_PR T_PGET CPU_PR
	read_cold xp4 T_PR4 T_PGET4 CPU_PR4
	pin_cpus "0-$((NCPU - 1))" "0-$((NCPU - 1))"
fi

rm -f "$RND"

# ---- 2. read back: the mount (cold) against a GET of the stored object ----

X_B=-
X4_B=-
if [ "$HAVE_FS" = 1 ]; then
	X_B=$(stored_len b/x) || X_B=-
	X4_B=$(stored_len b/x4) || X4_B=-
fi
read_cold x T_FR T_GETX CPU_FR
read_cold x4 T_FR4 T_GETX4 CPU_FR4 T_GMD54
# b/raw, the plain object raw curl stored, read as stored (a foreign
# object: no decoding) through the mount, then its GET
read_cold raw T_FRAW T_GETRAW CPU_FRAW

# ---- 3. peak RSS: streamed big and small files, fresh mounts ----

# rss_run SIZE NAME: sets hwm (KiB) and t_rss
rss_run()
{
	hwm=-
	t_rss=-
	[ "$HAVE_FS" = 1 ] || return 0
	mount_fs "conf=$CONF" || die "cannot mount trovefs"
	timeit t_rss stream_into "$1" "$MNT/containers/b/$2" || {
		failed "streaming $1 into trovefs"
		t_rss=-
	}
	hwm=$(hwm_kib)
	umount_fs
}

stream_into()
{
	"$GEN" "$1" | dd of="$2" bs=1M iflag=fullblock status=none
}

echo "peak RSS: gen_redislike SIZE | dd of=MNT/containers/b/... bs=1M"
rss_run "$BENCH_SWIFT_BIG" big
HWM_BIG=$hwm
T_BIG=$t_rss
rss_run "$BENCH_SWIFT_SMALL" small
HWM_SMALL=$hwm
T_SMALL=$t_rss
for o in big small; do
	sw_delete "b/$o" &
done
wait

# ---- 4. ls -l of a big pseudo-directory ----

# The objects are trovefs objects (what ls -l is fast on): a copy of one
# small file written through the mount, body and metadata (Content-Type
# with its parameters, X-Object-Meta-*), made by Swift's bulk middleware
# from pax tars whose xattrs it turns into that metadata.
cat > "$W/mktar.py" << 'EOF'
import io
import sys
import tarfile

# mktar.py BODY FIRST COUNT PREFIX 'Header: value'... > tar
body = open(sys.argv[1], 'rb').read()
first, count, prefix = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pax = {}
for h in sys.argv[5:]:
    k, v = h.split(':', 1)
    k = k.strip().lower()
    if k == 'content-type':
        pax['SCHILY.xattr.user.mime_type'] = v.strip()
    elif k.startswith('x-object-meta-'):
        pax['SCHILY.xattr.user.meta.' + k[len('x-object-meta-'):]] = v.strip()
with tarfile.open(fileobj=sys.stdout.buffer, mode='w|',
                  format=tarfile.PAX_FORMAT) as t:
    for i in range(first, first + count):
        ti = tarfile.TarInfo('%s%06d' % (prefix, i))
        ti.size = len(body)
        ti.pax_headers = pax
        t.addfile(ti, io.BytesIO(body))
EOF

# ls_worker J DEADLINE: bulk-uploads batches J, J+JOBS, ... until all are
# sent or DEADLINE (epoch s) passes; a request cut by the deadline leaves
# the objects it created so far
ls_worker()
{
	local b
	local n
	local left

	for ((b = $1; b * LS_BATCH < BENCH_SWIFT_LS; b += BENCH_SWIFT_LS_JOBS)); do
		left=$(($2 - $(date +%s)))
		[ "$left" -gt 0 ] || return 0
		n=$((BENCH_SWIFT_LS - b * LS_BATCH))
		[ "$n" -le "$LS_BATCH" ] || n=$LS_BATCH
		# a request cut at the deadline breaks mktar's pipe: quiet
		"$PY" "$W/mktar.py" "$W/tmpl.body" $((b * LS_BATCH)) "$n" \
			many/obj "${TMPL_HDRS[@]}" 2> /dev/null |
			curl -sS -H "@$HDR" -H 'Accept: application/json' \
				--max-time "$left" -T - \
				"$URL/ls?extract-archive=tar" \
				> "$W/bulk.$b.json" 2>&1 || true
	done
}

ls_l()
{
	ls -l "$1" > /dev/null
}

# heads_since LINE: HEADs of objects in container ls in the proxy log
# after its line LINE
heads_since()
{
	tail -n +"$(($1 + 1))" "$PLOG" | grep -c ' HEAD /v1/[^/]*/ls/' || true
}

# rclone_ls [FLAG]: rclone mount of container ls with FLAG, ls -l of many/
# cold (with a deadline: rclone HEADs every object for its mtime) and warm;
# sets t_rc_cold ("> LIMIT (est. S)" when cut), t_rc_warm, rc_heads
rclone_ls()
{
	local deadline=$((SECONDS + MOUNT_TIMEOUT))
	local l0
	local rc=0

	t_rc_cold=-
	t_rc_warm=-
	rc_heads=-
	# shellcheck disable=SC2086
	rclone mount -q $1 sw:ls "$MNT2" >> "$W/rclone-mount.log" 2>&1 &
	RCLONE_PID=$!
	while ! mountpoint -q "$MNT2" && [ "$SECONDS" -lt "$deadline" ]; do
		sleep 0.05
	done
	if mountpoint -q "$MNT2"; then
		drop_caches
		l0=$(wc -l < "$PLOG")
		timeit t_rc_cold timeout "$BENCH_SWIFT_RCLONE_TIME" \
			ls -l "$MNT2/many" > /dev/null || rc=$?
		rc_heads=$(heads_since "$l0")
		if [ "$rc" = 124 ]; then
			# cut: estimate the whole from the HEAD rate so far
			t_rc_cold="> $BENCH_SWIFT_RCLONE_TIME (est. $(div \
				"$(div "$N_LS" "$rc_heads" 6)" \
				"$(div 1 "$t_rc_cold" 6)" 0))"
		elif [ "$rc" != 0 ]; then
			failed "ls -l on rclone mount ${1:-} (cold)"
			t_rc_cold=-
		else
			timeit t_rc_warm ls_l "$MNT2/many" || t_rc_warm=-
		fi
		fusermount3 -u "$MNT2" 2> /dev/null ||
			fusermount3 -u -z "$MNT2" || true
	else
		failed "rclone mount did not mount within ${MOUNT_TIMEOUT}s"
	fi
	kill "$RCLONE_PID" 2> /dev/null || true
	wait "$RCLONE_PID" 2> /dev/null || true
	RCLONE_PID=
}

T_LS_COLD=-
T_LS_WARM=-
T_RC_COLD=-
T_RC_WARM=-
T_RCS_COLD=-
T_RCS_WARM=-
RC_HEADS=-
N_LS=0
HEADS=-
if [ "$HAVE_FS" = 1 ]; then
	mount_fs "conf=$CONF" || die "cannot mount trovefs"
	echo 0 > "$MNT/containers/b/tmpl"
	umount_fs
	sw -o "$W/tmpl.body" b/tmpl || die "cannot GET the template object"
	mapfile -t TMPL_HDRS < <(sw -I b/tmpl | tr -d '\r' |
		grep -i '^content-type:\|^x-object-meta-')
	echo "ls:       $BENCH_SWIFT_LS copies of a trovefs object in ls/many/," \
		"bulk upload ($LS_BATCH a request, $BENCH_SWIFT_LS_JOBS at once," \
		"at most ${BENCH_SWIFT_LS_TIME}s)"
	t0=$(now)
	deadline=$(($(date +%s) + BENCH_SWIFT_LS_TIME))
	for ((j = 0; j < BENCH_SWIFT_LS_JOBS; j++)); do
		ls_worker "$j" "$deadline" &
		LS_PIDS+=($!)
	done
	for p in "${LS_PIDS[@]}"; do
		wait "$p" || true
	done
	LS_PIDS=()
	t_mk=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }')
	# Swift goes on extracting what a cut request had sent already:
	# the count is final once it stops moving
	N_LS=-1
	for ((i = 0; i < 60; i++)); do
		n=$(sw -I ls | tr -d '\r' |
			sed -n 's/^[Xx]-[Cc]ontainer-[Oo]bject-[Cc]ount: //p') ||
			n=0
		[ "$n" != "$N_LS" ] || break
		N_LS=$n
		sleep 2
	done
	printf 'ls:       %s objects created in %ss (%s/s, not scored)\n' \
		"$N_LS" "$t_mk" "$(div "$N_LS" "$t_mk" 0)"
	if [ "$N_LS" -lt "$BENCH_SWIFT_LS" ]; then
		note "only $N_LS of $BENCH_SWIFT_LS objects within" \
			"${BENCH_SWIFT_LS_TIME}s: the ls rows are for $N_LS"
	fi

	mount_fs "conf=$CONF" || die "cannot mount trovefs"
	drop_caches
	l0=$(wc -l < "$PLOG")
	echo "ls:       ls -l MNT/containers/ls/many (remounted, caches dropped)"
	timeit T_LS_COLD ls_l "$MNT/containers/ls/many" || {
		failed "ls -l (cold)"
		T_LS_COLD=-
	}
	HEADS=$(heads_since "$l0")
	timeit T_LS_WARM ls_l "$MNT/containers/ls/many" || T_LS_WARM=-
	n=$(find "$MNT/containers/ls/many" -mindepth 1 -maxdepth 1 -printf . |
		wc -c) || n=0
	[ "$n" -eq "$N_LS" ] || failed "ls shows $n objects, not $N_LS"
	umount_fs

	echo "ls:       rclone mount sw:ls MNT2, ls -l MNT2/many (at most" \
		"${BENCH_SWIFT_RCLONE_TIME}s; then extrapolated from its HEADs)"
	rclone_ls ""
	T_RC_COLD=$t_rc_cold
	T_RC_WARM=$t_rc_warm
	RC_HEADS=$rc_heads
	echo "ls:       the same with rclone mount --use-server-modtime"
	rclone_ls --use-server-modtime
	T_RCS_COLD=$t_rc_cold
	T_RCS_WARM=$t_rc_warm
fi

# ---- 4. many small files: a directory copied in ----

# reqs_since LINE: requests in the proxy log after line LINE (what Swift
# logs for its own subrequests, such as a server-side copy's GET, too)
reqs_since()
{
	tail -n +"$(($1 + 1))" "$PLOG" | grep -c ' HTTP/1\.' || true
}

# small_run VAR_T VAR_REQ CMD...: times CMD, counts its Swift requests
small_run()
{
	local l0

	l0=$(wc -l < "$PLOG")
	timeit "$1" "${@:3}" || {
		failed "${*:3}"
		printf -v "$1" '%s' -
	}
	printf -v "$2" '%s' "$(reqs_since "$l0")"
}

rsync_small()
{
	rsync -a "$SMALLS/" "$MNT/containers/small/fs/"
}

rclone_small()
{
	rclone copy -q "$SMALLS" sw:small/rclone
}

swift_small()
{
	(cd "$W" && /usr/bin/swift -q upload --object-name swift small smalls)
}

SMALLS=$W/smalls
mkdir "$SMALLS"
for ((i = 0; i < BENCH_SWIFT_FILES; i++)); do
	head -c $((1024 + i * 97 % 7168)) "$IN" > "$SMALLS/f$i"
done
T_RS=-
R_RS=-
if [ "$HAVE_FS" = 1 ]; then
	echo "small:    rsync -a of $BENCH_SWIFT_FILES files of 1-8 KiB into" \
		"MNT/containers/small/fs/"
	mount_fs "conf=$CONF" || die "cannot mount trovefs"
	small_run T_RS R_RS rsync_small
	umount_fs
fi
echo "small:    rclone copy of the directory to sw:small/rclone"
small_run T_RCS R_RCS rclone_small
echo "small:    swift upload of the directory (small/swift/...)"
small_run T_SWS R_SWS swift_small

# ---- the same files read back out, cold (trovefs: a fresh mount) ----
cp_back_small()
{
	cp -r "$MNT/containers/small/fs" "$W/back-fs"
}

rclone_back_small()
{
	rclone copy -q sw:small/rclone "$W/back-rc"
}

swift_back_small()
{
	mkdir -p "$W/back-sw" &&
		(cd "$W/back-sw" && /usr/bin/swift -q download small \
			--prefix swift/ --remove-prefix)
}

# same_tree NAME DIR: DIR holds the small files, byte for byte
same_tree()
{
	diff -r -q "$SMALLS" "$2" > /dev/null || failed "$1: files differ"
}

T_RB=-
R_RB=-
if [ "$HAVE_FS" = 1 ] && [ "$T_RS" != - ]; then
	echo "small:    cp -r of the $BENCH_SWIFT_FILES files out of a fresh mount"
	mount_fs "conf=$CONF" || die "cannot mount trovefs"
	small_run T_RB R_RB cp_back_small
	umount_fs
	same_tree "cp -r out of trovefs" "$W/back-fs"
fi
echo "small:    rclone copy of sw:small/rclone out"
small_run T_RCB R_RCB rclone_back_small
same_tree "rclone copy out" "$W/back-rc"
echo "small:    swift download of small/swift/"
small_run T_SWB R_SWB swift_back_small
same_tree "swift download" "$W/back-sw"

# ---- report ----

scan_daemon_logs ""

# wrow METRIC TROVEFS_S PEER_S GOAL_RATIO: a speed row, ratio peer / trovefs
wrow()
{
	local r
	local goal=-
	local met=-

	r=$(div "$3" "$2")
	if [ -n "$4" ]; then
		goal=">= ${4}x"
		met=$(meets "$r" '>=' "$4")
	fi
	row "$1" "$2 ($(mbs "$SIZE_B" "$2"))" "$3 ($(mbs "$SIZE_B" "$3"))" \
		"$(xr "$3" "$2")" "$goal" "$met"
}

S=$BENCH_SWIFT_SIZE
wrow "cp $S vs trove pipeline" "$T_FW" "$T_TROVE" 3
wrow "cp $S vs raw curl -T" "$T_FW" "$T_RAW" 1.0
wrow "cp $S vs rclone copy" "$T_FW" "$T_RCLONE" ""
wrow "cp $S vs swift upload slo" "$T_FW" "$T_SLO" ""
wrow "compress_level=0 vs curl" "$T_FW0" "$T_RAW" 0.85
wrow "urandom cp vs curl -T" "$T_FWR" "$T_RAWR" 0.85
if [ -n "$BENCH_SWIFT_ALT" ]; then
	wrow "cp ${ALT_SEG}/${ALT_PAR} vs default" "$T_ALT" "$T_FW" ""
fi
wrow "read cold vs GET stored" "$T_FR" "$T_GETX" 0.8
wrow "  compression=lz4: cp vs curl" "$T_FW4" "$T_RAW" ""
wrow "  compression=lz4: read vs GET" "$T_FR4" "$T_GETX4" 0.8
wrow "  lz4: read vs GET | md5sum" "$T_FR4" "$T_GMD54" ""
wrow "read cold vs GET plain" "$T_FR" "$T_GETRAW" ""
wrow "foreign plain object: read vs GET" "$T_FRAW" "$T_GETRAW" ""
wrow "pinned: cp $S vs raw curl -T" "$T_PW" "$T_PRAW" 1.0
wrow "pinned: compress_level=0 vs curl" "$T_PW0" "$T_PRAW" 0.85
wrow "pinned: urandom cp vs curl -T" "$T_PWR" "$T_PRAWR" 0.85
wrow "pinned: read cold vs GET stored" "$T_PR" "$T_PGET" 0.8
wrow "  pinned, lz4: cp vs raw curl" "$T_PW4" "$T_PRAW" ""
wrow "  pinned, lz4: read vs GET" "$T_PR4" "$T_PGET4" 0.8
row "read-back sha256" "$READ_OK" "-" "-" "ok" "$(is_ok "$READ_OK")"
row "stored bytes (b/x)" "$X_B" "$SIZE_B" "$(div "$X_B" "$SIZE_B" 3)" \
	"-" "-"
row "  compression=lz4 (b/x4)" "$X4_B" "$SIZE_B" \
	"$(div "$X4_B" "$SIZE_B" 3)" "-" "-"
for v in BIG SMALL; do
	b=BENCH_SWIFT_$v
	h=HWM_$v
	t=T_$v
	m=$(div "${!h}" 1024 1)
	row "peak RSS ${!b} (MiB)" "$m" "-" "-" "<= 64" "$(meets "$m" '<=' 64)"
	printf -v "MBS_$v" '%s' "$(mbs "$(to_bytes "${!b}")" "${!t}")"
done
r=$(div "$HWM_BIG" "$HWM_SMALL")
met=$(meets "$r" '<=' 1.25)
if [ "$met" = NO ] && is_num "$HWM_BIG" && is_num "$HWM_SMALL"; then
	met=$(meets "$(div "$((HWM_BIG - HWM_SMALL))" 1024 1)" '<=' 4)
fi
row "  RSS big / small" "$r" "-" "-" "<=1.25x|+4M" "$met"
row "ls -l $N_LS cold vs rclone" "$T_LS_COLD" "$T_RC_COLD" \
	"$(xr "$T_RC_COLD" "$T_LS_COLD")" "<= 3 s" "$(meets "$T_LS_COLD" '<=' 3)"
row "ls -l $N_LS warm vs rclone" "$T_LS_WARM" "$T_RC_WARM" \
	"$(xr "$T_RC_WARM" "$T_LS_WARM")" "-" "-"
row "  HEADs during cold ls -l" "$HEADS" "$RC_HEADS" "-" "-" "-"
row "  rclone --use-server-modtime" "$T_LS_COLD" "$T_RCS_COLD" \
	"$(xr "$T_RCS_COLD" "$T_LS_COLD")" "-" "-"
row "  (warm)" "$T_LS_WARM" "$T_RCS_WARM" \
	"$(xr "$T_RCS_WARM" "$T_LS_WARM")" "-" "-"
N=$BENCH_SWIFT_FILES
# small_rows WHAT T R T_RCLONE R_RCLONE SWIFT_CMD T_SWIFT R_SWIFT: the
# rows of one small-files comparison (times, then requests a file)
small_rows()
{
	row "$1 vs rclone copy" "$2" "$4" "$(xr "$4" "$2")" "-" "-"
	row "  vs $6" "$2" "$7" "$(xr "$7" "$2")" "-" "-"
	row "  requests a file (vs rclone)" "$(div "$3" "$N" 1)" \
		"$(div "$5" "$N" 1)" "-" "-" "-"
	row "  requests a file (vs $6)" "$(div "$3" "$N" 1)" \
		"$(div "$8" "$N" 1)" "-" "-" "-"
}
small_rows "rsync -a $N small files" "$T_RS" "$R_RS" "$T_RCS" "$R_RCS" \
	"swift upload" "$T_SWS" "$R_SWS"
small_rows "cp -r $N small files out" "$T_RB" "$R_RB" "$T_RCB" "$R_RCB" \
	"swift download" "$T_SWB" "$R_SWB"

echo
print_rows
echo
echo "ratio: peer time / trovefs time (higher is better for trovefs)"
echo "MB/s: 10^6 bytes of input per second; '$S' rows are of $SIZE_B bytes"
echo "daemon CPU: write ${CPU_FW:-}s, read ${CPU_FR:-}s (lz4: ${CPU_FR4:-}s," \
	"foreign plain: ${CPU_FRAW:-}s)"
echo "streamed: $BENCH_SWIFT_BIG in ${T_BIG}s ($MBS_BIG MB/s)," \
	"$BENCH_SWIFT_SMALL in ${T_SMALL}s ($MBS_SMALL MB/s)"
print_failed
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "total Swift bench time: $(awk -v a="$T_START" -v b="$(now)" \
	'BEGIN { printf "%.0f", b - a }')s"
exit 0
