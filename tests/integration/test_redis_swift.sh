#!/bin/bash
# test_redis_swift.sh - the Redis datastore on a real Swift (swift:test,
# tests/services/swift.sh) with its backups in LZ4 ([container:
# database_backups] compression = lz4): the live dump.rdb, a backup that
# is a Static Large Object of several 1 MiB segments in Swift, restore/,
# an in-place recover (AOF off, default start) with its safety backup in
# Swift, and an unknown backup name. One redis-server (tests/services/
# redis.sh) holds every data type and about 4.5 MiB of incompressible
# strings; data is compared with DEBUG DIGEST of a fresh redis-server
# loading the RDB; and two mounts backing up in the same second.
# test_redis.sh covers the rest on the local: store.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
export TROVEFS_TEST_SOURCE=swift
# segments of 1 MiB whatever the caller set: the backup must span several
TROVEFS_TEST_SEGMENT_SIZE=1M
t_init
# shellcheck source=tests/integration/redis_lib.sh
. "$(dirname "$0")/redis_lib.sh"

start_redis P1 "$T/r1" || { echo "not ok - cannot start redis"; exit 1; }
D1=$T/r1
c1() { redis-cli -p "$P1" "$@"; }

# fill_bulk PORT N - N strings bulk:1..N of 1-2 KiB of base64 of
# pseudo-random bytes: neither the RDB's LZF nor LZ4 shrinks them much,
# so the stored backup is about as large as the RDB.
fill_bulk() {
	t_data "$T/bulk.bin" $(($2 * 1536)) bulk
	base64 -w 2048 "$T/bulk.bin" |
		awk '{ print "SET bulk:" NR " " substr($0, 1, 1024 + (NR * 389) % 1025) }' |
		redis-cli -p "$1" >/dev/null
	rm -f "$T/bulk.bin"
}
# header_comp K - byte 9 of the stored backup object K: its compression
# (docs/FORMAT.md 2.3; 2 = LZ4)
header_comp() {
	t_store_get database_backups "$1" | head -c 10 | tail -c 1 | od -An -tu1 | tr -d ' '
}
# segments K - how many SLO segments the stored object K has
segments() {
	t_swift_curl "database_backups+segments?prefix=$1/" | grep -c .
}

fill "$P1"
fill_bulk "$P1" 3000
c1 SAVE >/dev/null
t_check "the RDB is over 4 MiB" test "$(stat -c %s "$D1/dump.rdb")" -gt $((4 << 20))

t_write_conf "
[redis:r1]
port = $P1
config_file = $D1/redis.conf
timeout = 5
[container:database_backups]
compression = lz4
"
t_check "the config has 1 MiB segments" grep -qx "segment_size = 1M" "$CONF"
t_mount || exit 1
DS=$MNT/datastores

# ---- live dump
want1=$(digest "$P1")
t_check "cp of the live dump.rdb" cp "$DS/r1/dump.rdb" "$T/live.rdb"
t_eq "the live RDB loads with the same digest" "$(digest_rdb "$T/live.rdb")" "$want1"

# ---- backup into Swift
t_check "echo 1 > backup" bash -c "echo 1 > '$DS/r1/backup'"
B1=$(find "$MNT/restore/r1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n')
t_eq "restore/r1 lists one backup" "$(printf '%s' "$B1" | grep -c .)" 1
t_eq "latest points to it" "$(readlink "$MNT/restore/r1/latest")" "$B1"
K1=r1/$B1/dump.rdb
t_eq "Swift's container database_backups lists its object" \
	"$(t_store_names database_backups | grep -cxF "$K1")" 1
t_eq "its header says LZ4" "$(header_comp "$K1")" "2"
t_eq "it is a Static Large Object" \
	"$(t_swift_curl -I "database_backups/$K1" | tr -d '\r' |
		sed -n 's/^x-static-large-object: //Ip')" True
nsegs=$(segments "$K1")
t_check "it spans several segments ($nsegs)" test "$nsegs" -ge 4
t_check "status says ok" grep -q "^last_result: ok" "$DS/r1/status"

# ---- restore/
t_check "cp of restore/r1/latest/dump.rdb" cp "$MNT/restore/r1/latest/dump.rdb" "$T/b1.rdb"
t_eq "the restored RDB loads with the live digest" "$(digest_rdb "$T/b1.rdb")" "$want1"
t_eq "restore/ shows the plain size" "$(stat -c %s "$MNT/restore/r1/$B1/dump.rdb")" \
	"$(stat -c %s "$T/b1.rdb")"

# ---- recover in place (AOF off, default start)
c1 SET str:1 changed >/dev/null
c1 DEL list bulk:7 >/dev/null
c1 SET bulk:8 short >/dev/null
c1 SET newkey 1 >/dev/null
want_changed=$(digest "$P1")
t_check "the data changed" test "$want_changed" != "$want1"
pid_before=$(c1 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
t_check "echo NAME > recover" bash -c "echo '$B1' > '$DS/r1/recover'"
t_eq "the data is the backup's again" "$(digest "$P1")" "$want1"
pid_after=$(c1 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
t_check "the server was restarted" test "$pid_before" != "$pid_after"
KS=$(t_store_names database_backups | grep -x 'r1/.*-pre-recover/dump\.rdb' | head -1)
t_check "a safety backup is in Swift" test -n "$KS"
t_eq "its header says LZ4" "$(header_comp "$KS")" "2"
S=${KS#r1/}
S=${S%/dump.rdb}
t_check "cp of the safety backup" cp "$MNT/restore/r1/$S/dump.rdb" "$T/safety.rdb"
t_eq "the safety backup holds the changed data" "$(digest_rdb "$T/safety.rdb")" \
	"$want_changed"
t_check "status says ok after recover" grep -q "^last_result: ok" "$DS/r1/status"
t_check "no leftovers in the data dir" no_leftovers "$D1"

# ---- a backup that does not exist
t_check_fails "recover of an unknown backup" "No such file" \
	bash -c "echo 2000-01-01T00:00:00Z > '$DS/r1/recover'"
t_check_fails "recover of a garbage name" "No such file" \
	bash -c "echo no-such-backup > '$DS/r1/recover'"
t_eq "the data is unchanged" "$(digest "$P1")" "$want1"
t_allow "cannot recover: no backup '(2000-01-01T00:00:00Z|no-such-backup)'"

# ---- two mounts back up one datastore in the same second: two names
# (the backup's directory marker is a PUT with If-None-Match: *, which
# Swift lets one of them make; before, both took the second's name and
# the last commit replaced the other's backup)
MNT2=$T/mnt2
mkdir -p "$MNT2"
"$TROVEFS" -f -o "conf=$CONF" swift:test "$MNT2" 2>>"$LOG" &
P2=$!
T_EXTRA_MOUNTS+=("$MNT2")
for _ in $(seq 200); do mountpoint -q "$MNT2" && break; sleep 0.1; done
t_check "a second mount of the same store" mountpoint -q "$MNT2"
n0=$(wc -l < "$LOG")
python3 -c 'import time; time.sleep(1.1 - time.time() % 1)'
bash -c "echo 1 > '$DS/r1/backup'" &
b1=$!
bash -c "echo 1 > '$MNT2/datastores/r1/backup'" &
b2=$!
wait $b1; rc1=$?
wait $b2; rc2=$?
t_eq "both backups succeed" "$rc1 $rc2" "0 0"
# their names, from the daemons' lines (a listing may lag the PUTs)
names=$(tail -n +$((n0 + 1)) "$LOG" |
	sed -n "s/.*datastore 'r1': backup '\([^']*\)' done.*/\1/p" | sort -u)
t_eq "... under two names ($(echo $names))" "$(printf '%s\n' "$names" | grep -c .)" 2
for n in $names; do
	t_eq "... $n is in Swift" "$(t_swift_curl -o /dev/null -w '%{http_code}' -I \
		"database_backups/r1/$n/dump.rdb")" 200
done
t_check "unmount the second mount" fusermount3 -u "$MNT2"
wait "$P2"

t_check "unmount" t_umount
t_done
