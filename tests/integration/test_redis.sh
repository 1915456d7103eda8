#!/bin/bash
# test_redis.sh - the Redis datastore through a real mount against real
# redis-server instances on loopback (tests/services/redis.sh): live
# dump.rdb in sync and bgsave mode, backups into the store, restore/,
# in-place recover with AOF off and on and through the default start
# (whose server must stop on SIGTERM), the old files removed in the
# background and trash a dead daemon left removed, a failing start
# command, a corrupt backup, AUTH, and bad input to every control file.
# Data is compared with DEBUG DIGEST of a fresh redis-server loading the
# RDB. The store is local: (lib.sh's default); test_redis_swift.sh runs
# backup, restore/ and recover on Swift. Helpers shared with it are in
# redis_lib.sh.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
t_init
# shellcheck source=tests/integration/redis_lib.sh
. "$(dirname "$0")/redis_lib.sh"

start_redis P1 "$T/r1" || { echo "not ok - cannot start redis"; exit 1; }
start_redis P2 "$T/r2" || exit 1
start_redis P3 "$T/r3" "requirepass s3cret" || exit 1
start_redis P4 "$T/r4" || exit 1
D1=$T/r1
D4=$T/r4
c1() { redis-cli -p "$P1" "$@"; }
c2() { redis-cli -p "$P2" "$@"; }

# rdb_get FILE KEY - loads FILE in a fresh server and prints GET KEY
rdb_get() {
	local d port out
	d=$(mktemp -d "$T/load.XXXXXX")
	cp "$1" "$d/dump.rdb"
	out=$(bash "$RS" start "$d" auto "dbfilename dump.rdb") ||
		{ echo "load-failed"; return; }
	eval "$out"
	port=$REDIS_PORT
	redis-cli -p "$port" GET "$2"
	bash "$RS" stop "$d" >/dev/null 2>&1
	rm -rf "$d"
}
# npre - how many safety backups restore/r1 lists (NAME-pre-recover[-N])
npre() { ls "$MNT/restore/r1" | grep -c -- '-pre-recover'; }

# term_stops DIR - SIGTERM to the server of DIR (its pid file) stops it.
# A server recover started must not inherit the daemon's blocked or
# ignored signals (libfuse blocks TERM). A zombie counts as stopped; 5 s
# is a generous bound: an ignored TERM never ends it.
gone() {
	[ -r "/proc/$1/stat" ] || return 0
	case "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null)" in
	Z* | X* | "") return 0 ;;
	esac
	return 1
}
term_stops() {
	local pid i
	pid=$(cat "$1/redis.pid") || return 1
	[ -n "$pid" ] && kill -TERM "$pid" || return 1
	for i in $(seq 1 50); do
		gone "$pid" && return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 1
}

fill "$P1"
fill "$P2"
c1 SAVE >/dev/null
sum0=$(t_sha "$D1/dump.rdb")
mtime0=$(stat -c %Y.%N "$D1/dump.rdb")

# the start command fails once while $T/fail-start exists
cat > "$T/start-r1.sh" <<EOF
#!/bin/sh
if [ -e "$T/fail-start" ]; then rm -f "$T/fail-start"; exit 1; fi
exec redis-server "$D1/redis.conf"
EOF
chmod 755 "$T/start-r1.sh"
(umask 077 && echo s3cret > "$T/pw" && echo wrong > "$T/badpw")

# r4 runs the way Docker's image starts Redis: appendonly yes on the
# command line (its config file says nothing). With such a start command
# the restarted server loads no RDB: a recover must fail and roll back.
cat > "$T/start-r4.sh" <<EOF
#!/bin/sh
exec redis-server "$D4/redis.conf" --appendonly yes
EOF
chmod 755 "$T/start-r4.sh"
# r4's stop command: the calls after the Nth fail while
# $T/stop-r4-fail-after holds N (the count is in $T/stop-r4-n)
cat > "$T/stop-r4.sh" <<EOF
#!/bin/sh
n=\$(( \$(cat "$T/stop-r4-n" 2>/dev/null || echo 0) + 1 ))
echo \$n > "$T/stop-r4-n"
if [ -e "$T/stop-r4-fail-after" ] && [ \$n -gt "\$(cat "$T/stop-r4-fail-after")" ]; then
	exit 1
fi
exec kill -TERM "\$(cat "$D4/redis.pid")"
EOF
chmod 755 "$T/stop-r4.sh"
bash "$RS" stop "$D4" >/dev/null 2>&1
"$T/start-r4.sh" || exit 1
for i in $(seq 1 100); do
	redis-cli -p "$P4" PING 2>/dev/null | grep -q PONG && break
	sleep 0.1
done

t_write_conf "
[redis:r1]
port = $P1
config_file = $D1/redis.conf
start_command = $T/start-r1.sh
timeout = 5
start_timeout = 30
[redis:r2]
host = 127.0.0.1
port = $P2
mode = bgsave
save_timeout = 20
[redis:auth]
port = $P3
password_file = $T/pw
[redis:bad]
port = $P3
password_file = $T/badpw
[redis:r4]
port = $P4
config_file = $D4/redis.conf
start_command = $T/start-r4.sh
stop_command = $T/stop-r4.sh
start_timeout = 30
"
t_mount || exit 1
DS=$MNT/datastores

t_eq "datastores/ lists the datastores" "$(ls "$DS" | tr '\n' ' ')" \
	"auth bad r1 r2 r4 "
t_eq "a datastore's files" "$(ls "$DS/r1" | tr '\n' ' ')" \
	"backup dump.rdb progress recover replication status "
t_eq "restore/ lists the datastores" "$(ls "$MNT/restore" | tr '\n' ' ')" \
	"auth bad r1 r2 r4 "
t_eq "no backups yet" "$(ls "$MNT/restore/r1" | wc -l)" "0"

# ---- live dump, sync mode
want1=$(digest "$P1")
t_check "cp of the live dump.rdb (sync)" cp "$DS/r1/dump.rdb" "$T/live1.rdb"
t_eq "the live RDB loads with the same digest" "$(digest_rdb "$T/live1.rdb")" "$want1"
t_eq "sync mode leaves the server's dump.rdb untouched (content)" \
	"$(t_sha "$D1/dump.rdb")" "$sum0"
t_eq "sync mode leaves the server's dump.rdb untouched (mtime)" \
	"$(stat -c %Y.%N "$D1/dump.rdb")" "$mtime0"
t_check "redis-check-rdb accepts it" redis-check-rdb "$T/live1.rdb"
# a server with repl-diskless-sync no sends its RDB with "$len" framing
# (after saving it to disk), not "$EOF:": read the same way
saves() { c1 INFO persistence | tr -d '\r' | sed -n 's/^rdb_saves://p'; }
saves0=$(saves)
c1 CONFIG SET repl-diskless-sync no > /dev/null
t_check "cp of the live dump.rdb, \$len framing" cp "$DS/r1/dump.rdb" "$T/live1len.rdb"
c1 CONFIG SET repl-diskless-sync yes > /dev/null
t_check "the server saved to disk for it (so it sent \$len)" test "$(saves)" -gt "$saves0"
t_eq "it loads with the same digest" "$(digest_rdb "$T/live1len.rdb")" "$want1"

# ---- live dump, bgsave mode
want2=$(digest "$P2")
t_check "cp of the live dump.rdb (bgsave)" cp "$DS/r2/dump.rdb" "$T/live2.rdb"
t_eq "the bgsave RDB loads with the same digest" "$(digest_rdb "$T/live2.rdb")" "$want2"
t_check "bgsave mode wrote the server's dump.rdb" test -s "$T/r2/dump.rdb"

# A diskless replica sync (here redis-cli --rdb, read slowly) runs in a
# fork that makes BGSAVE answer "already in progress" and that ends
# without changing LASTSAVE: the backup must wait for it, then BGSAVE.
for i in 1 2 3 4; do
	head -c 3000000 /dev/urandom | base64 -w0 | c2 -x SET "big$i" >/dev/null
done
(redis-cli -p "$P2" --rdb - 2>/dev/null | { sleep 4; cat >/dev/null; }) &
SLOW_PID=$!
for i in $(seq 1 50); do
	c2 INFO persistence | grep -q '^rdb_bgsave_in_progress:1' && break
	sleep 0.1
done
t_check "a diskless sync runs on r2" \
	sh -c "redis-cli -p $P2 INFO persistence | grep -q '^rdb_bgsave_in_progress:1'"
t_check "bgsave-mode backup while a diskless sync runs" \
	bash -c "echo 1 > '$DS/r2/backup'"
wait "$SLOW_PID"
c2 DEL big1 big2 big3 big4 >/dev/null

# ---- backup, restore/
t_check "echo 1 > backup" bash -c "echo 1 > '$DS/r1/backup'"
B1=$(ls "$MNT/restore/r1" | grep -v latest | head -1)
t_check "restore/r1 lists the backup" test -n "$B1"
t_check "the backup is named by UTC time" \
	bash -c "echo '$B1' | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'"
t_eq "latest points to it" "$(readlink "$MNT/restore/r1/latest")" "$B1"
t_eq "a backup dir holds dump.rdb" "$(ls "$MNT/restore/r1/$B1")" "dump.rdb"
t_check "the stored object is in the container" \
	test -f "$STORE/database_backups/r1/$B1/dump.rdb"
t_check "cp of the restored dump.rdb" cp "$MNT/restore/r1/latest/dump.rdb" "$T/b1.rdb"
t_eq "the restored RDB loads with the same digest" "$(digest_rdb "$T/b1.rdb")" "$want1"
t_eq "restore/ shows the plain size" "$(stat -c %s "$MNT/restore/r1/$B1/dump.rdb")" \
	"$(stat -c %s "$T/b1.rdb")"
t_check "status says ok" grep -q "^last_result: ok" "$DS/r1/status"
t_check "status names the backup" grep -q "^last_backup: $B1" "$DS/r1/status"
t_check "progress shows bytes" grep -q "^bytes_done: [1-9]" "$DS/r1/progress"
t_check_fails "restore/ is read-only" "Read-only file system" \
	bash -c "echo x > '$MNT/restore/r1/$B1/dump.rdb'"
# what is not a backup under the prefix is not listed (its lookup failed)
# and never latest: a directory with dump.rdb one level down, a name given
# by hand
BK=$MNT/containers/database_backups/r1
mkdir -p "$BK/2097-01-01T00:00:00Z/sub"
cp "$T/b1.rdb" "$BK/2097-01-01T00:00:00Z/sub/dump.rdb"
mkdir "$BK/zz-by-hand"
cp "$T/b1.rdb" "$BK/zz-by-hand/dump.rdb"
t_eq "restore/r1 lists backups only" "$(ls "$MNT/restore/r1" | tr '\n' ' ')" \
	"$B1 latest zz-by-hand "
t_eq "latest is still the backup made" "$(readlink "$MNT/restore/r1/latest")" "$B1"
t_check "find restore/ sees no vanished entry" find "$MNT/restore/r1" -name dump.rdb
t_check "a backup named by hand reads back" cmp "$MNT/restore/r1/zz-by-hand/dump.rdb" "$T/b1.rdb"
rm -r "$BK/2097-01-01T00:00:00Z" "$BK/zz-by-hand"

# ---- recover, AOF off
c1 SET str:1 changed >/dev/null
c1 DEL list >/dev/null
c1 SET newkey 1 >/dev/null
pid_before=$(c1 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
t_check "recover (AOF off)" bash -c "echo '$B1' > '$DS/r1/recover'"
t_eq "the data is the backup's again" "$(digest "$P1")" "$want1"
pid_after=$(c1 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
t_check "the server was restarted" test "$pid_before" != "$pid_after"
t_check "a safety backup was taken" \
	sh -c "ls '$MNT/restore/r1' | grep -q -- '-pre-recover\$'"
t_check "status says ok after recover" grep -q "^last_result: ok" "$DS/r1/status"
t_check "the safety backup holds the changed data" \
	sh -c "cp '$MNT/restore/r1/'*-pre-recover/dump.rdb '$T/safety.rdb'"
t_check "the safety backup differs from the backup" \
	test "$(digest_rdb "$T/safety.rdb")" != "$want1"
t_check "the old dump file is removed (AOF off)" no_leftovers "$D1"

t_check "the server recover started stops on SIGTERM" term_stops "$D1"
t_check "restart after SIGTERM" sh -c "bash '$RS' start '$D1' >/dev/null"
t_eq "the restarted server has the backup's data" "$(digest "$P1")" "$want1"

# ---- recover, AOF on (Redis 7 multi-part AOF)
c1 CONFIG SET appendonly yes >/dev/null
c1 CONFIG REWRITE >/dev/null
for i in $(seq 1 100); do
	[ "$(c1 INFO persistence | tr -d '\r' | sed -n 's/^aof_rewrite_in_progress://p')" = 0 ] && break
	sleep 0.1
done
c1 SET str:2 changed-again >/dev/null
c1 SADD set extra >/dev/null
# trash of a daemon that died before removing it: a file and an AOF dir
echo old > "$D1/.dump.rdb.trovefs-trash.1.1"
mkdir "$D1/.dump.rdb.trovefs-trash.1.2"
echo old > "$D1/.dump.rdb.trovefs-trash.1.2/appendonly.aof.1.base.rdb"
# the config file the recover rewrites keeps its owner and mode (a server
# running as "redis" must still read it)
chown 65534:65534 "$D1/redis.conf"
chmod 640 "$D1/redis.conf"
t_check "recover (AOF on)" bash -c "echo latest > '$DS/r1/recover'"
t_eq "the config file keeps its owner and mode" \
	"$(stat -c '%u:%g %a' "$D1/redis.conf")" "65534:65534 640"
t_check "the recover removed the dead daemon's trash" \
	sh -c "! ls -A '$D1' | grep -q 'trovefs-trash\.1\.[12]\$'"
t_log_has "the log names the trash removed" \
	"redis 'r1': removed '$D1/.dump.rdb.trovefs-trash.1.2', left by an earlier recover"
# latest is the newest backup made, not the safety backup the last
# recover took (that would undo the recover)
t_eq "recover latest chose the newest backup made" "$(digest "$P1")" "$want1"
S1=$(ls "$MNT/restore/r1" | grep -- '-pre-recover$' | head -1) # the first
t_check "recover of the safety backup by name (AOF on)" \
	bash -c "echo '$S1' > '$DS/r1/recover'"
t_eq "the data is the safety backup's (AOF on)" "$(digest "$P1")" \
	"$(digest_rdb "$T/safety.rdb")"
t_check "recover by name (AOF on)" bash -c "echo '$B1' > '$DS/r1/recover'"
t_eq "the data is the backup's (AOF on)" "$(digest "$P1")" "$want1"
t_eq "latest still names it" "$(readlink "$MNT/restore/r1/latest")" "$B1"
t_eq "AOF is on again" "$(c1 CONFIG GET appendonly | tail -1)" "yes"
t_check "the config file says appendonly yes" grep -q "^appendonly yes" "$D1/redis.conf"
t_check "the AOF dir has a manifest" sh -c "ls '$D1/appendonlydir/'*.manifest"
t_check "no leftovers in the data dir" no_leftovers "$D1"
c1 SET after-recover 1 >/dev/null
want_aof=$(digest "$P1")
bash "$RS" stop "$D1" >/dev/null 2>&1
t_check "restart on the AOF" sh -c "bash '$RS' start '$D1' >/dev/null"
t_eq "the AOF is consistent after a restart" "$(digest "$P1")" "$want_aof"

# ---- a start command that fails: the old data keeps serving
c1 SET str:3 before-failed-recover >/dev/null
want_cur=$(digest "$P1")
touch "$T/fail-start"
t_check_fails "recover whose start command fails" "Input/output error" \
	bash -c "echo '$B1' > '$DS/r1/recover'"
t_eq "the old data serves again" "$(digest "$P1")" "$want_cur"
t_check "status reports the failure" grep -q "^last_result: error" "$DS/r1/status"
t_check "no leftovers after the rollback" no_leftovers "$D1"
t_allow "start-r1.sh' failed|recover from .* failed|rolled back"

# ---- a corrupt backup is refused before the server is stopped
obj=$STORE/database_backups/r1/$B1/dump.rdb
size=$(stat -c %s "$obj")
t_flip "$obj" $((size / 2))
pid_before=$(c1 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
t_check_fails "recover from a corrupt backup" "Bad message" \
	bash -c "echo '$B1' > '$DS/r1/recover'"
pid_after=$(c1 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
t_eq "the server was not stopped" "$pid_after" "$pid_before"
t_eq "the data is unchanged" "$(digest "$P1")" "$want_cur"
t_check_fails "reading the corrupt backup fails" "Bad message" \
	cat "$MNT/restore/r1/$B1/dump.rdb"
t_allow "does not verify|cannot decode|corrupt|authentication|tag|bad frame|recover from"

# ---- restore/ reads are checked as an RDB too: a backup whose store
# frames authenticate (trovefs stored the bytes it was given) but whose
# RDB CRC-64 does not match fails its last read; the same bytes with the
# CRC intact read back
cat "$DS/r1/dump.rdb" > "$T/live.rdb"
/usr/bin/python3 - "$T/live.rdb" "$T/badcrc.rdb" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0x01
open(sys.argv[2], "wb").write(b)
PY
BADB=2020-01-01T00:00:00Z
GOODB=2020-01-02T00:00:00Z
mkdir -p "$MNT/containers/database_backups/r1/$BADB" \
	"$MNT/containers/database_backups/r1/$GOODB"
cp "$T/badcrc.rdb" "$MNT/containers/database_backups/r1/$BADB/dump.rdb"
cp "$T/live.rdb" "$MNT/containers/database_backups/r1/$GOODB/dump.rdb"
t_check_fails "reading a backup whose RDB CRC is wrong fails" "Bad message" \
	cat "$MNT/restore/r1/$BADB/dump.rdb"
t_log_has "... one line names it" \
	"r1/$BADB/dump.rdb' is not a valid RDB file: CRC-64 mismatch"
t_eq "... in one line" "$(grep -c "$BADB/dump.rdb' is not a valid RDB" "$LOG")" 1
t_check "the same bytes with their CRC read back" \
	cmp "$MNT/restore/r1/$GOODB/dump.rdb" "$T/live.rdb"
t_check "... also read from the end first (tail -c)" \
	bash -c "tail -c 100 '$MNT/restore/r1/$GOODB/dump.rdb' | cmp - <(tail -c 100 '$T/live.rdb')"
rm -r "$MNT/containers/database_backups/r1/$BADB" \
	"$MNT/containers/database_backups/r1/$GOODB"
t_allow "is not a valid RDB file: CRC-64 mismatch"

# ---- bad input
t_check_fails "garbage backup name" "No such file" \
	bash -c "echo no-such-backup > '$DS/r1/recover'"
t_check "status shows the refused recover" \
	grep -q "^last_operation: recover no-such-backup" "$DS/r1/status"
t_check_fails "a path as backup name" "No such file" \
	bash -c "echo ../../etc > '$DS/r1/recover'"
t_check_fails "empty recover" "Invalid argument" \
	bash -c "printf '\n' > '$DS/r1/recover'"
nb0=$(ls "$MNT/restore/r1" | wc -l)
t_check_fails "a second write on one open backup file" "Invalid argument" \
	bash -c "(echo a; echo b) > '$DS/r1/backup'"
t_eq "the two writes took one backup" "$(ls "$MNT/restore/r1" | wc -l)" "$((nb0 + 1))"
# ">>" right after ">": the kernel sends the append at the size it noted
t_check "echo 1 > backup; echo 1 >> backup" \
	bash -c "echo 1 > '$DS/r1/backup' && echo 1 >> '$DS/r1/backup'"
t_eq "... took two backups" "$(ls "$MNT/restore/r1" | wc -l)" "$((nb0 + 3))"
t_check_fails "write to status" "Permission denied" bash -c "echo x > '$DS/r1/status'"
t_check_fails "write to progress" "Permission denied" bash -c "echo x > '$DS/r1/progress'"
t_check_fails "write to dump.rdb" "Permission denied" bash -c "echo x > '$DS/r1/dump.rdb'"
t_check_fails "read of backup" "Permission denied" cat "$DS/r1/backup"
t_check_fails "read of recover" "Permission denied" cat "$DS/r1/recover"
t_allow "datastores/r1/(status|progress|dump.rdb): read-only|datastores/r1/(backup|recover): a control file"
t_log_has "one line says status is read-only" "datastores/r1/status: read-only"
# grep -r opens every control file: a repeat within a minute is not logged
t_check_fails "write to status again" "Permission denied" bash -c "echo x > '$DS/r1/status'"
t_check_fails "read of recover again" "Permission denied" cat "$DS/r1/recover"
t_eq "... the recover line is logged once" \
	"$(grep -c "datastores/r1/recover: a control file" "$LOG")" 1
t_eq "... and the status line once" \
	"$(grep -c "datastores/r1/status: read-only" "$LOG")" 1
t_log_has "one line says recover is for writing" \
	"datastores/r1/recover: a control file: open it for writing only"
t_check_fails "unknown datastore" "No such file" ls "$DS/nope"
t_check_fails "unknown file" "No such file" cat "$DS/r1/nope"
t_check_fails "unknown backup in restore/" "No such file" ls "$MNT/restore/r1/nope"
t_allow "refused \\(EROFS\\): only containers/ is writable"
t_check_fails "new files in datastores/" "Read-only file system" touch "$DS/r1/new"
t_log_has "it is logged" "create of '/datastores/r1/new' refused \\(EROFS\\)"
t_check_fails "mkdir in restore/" "Read-only file system" mkdir "$MNT/restore/r1/x"
t_check_fails "random access to the live dump" "Invalid argument" \
	dd if="$DS/r1/dump.rdb" of=/dev/null bs=4096 skip=10 count=1
t_allow "read sequentially only|cannot recover: no backup|refused: write the whole request at once"

# ---- the safety backup is skipped only when a backup holds the data
# A fresh process has no replication backlog: the backup's SYNC creates
# one, and with it a new master_replid, which the backup must record.
bash "$RS" stop "$D1" >/dev/null 2>&1
t_check "restart r1 (no replication backlog)" \
	sh -c "bash '$RS' start '$D1' >/dev/null"
t_eq "r1 has no replication backlog" \
	"$(c1 INFO replication | tr -d '\r' | sed -n 's/^repl_backlog_active://p')" "0"
t_check "backup of r1 (no write after it)" bash -c "echo 1 > '$DS/r1/backup'"
B3=$(ls "$MNT/restore/r1" | grep -v -e latest -e pre-recover | tail -1)
obj3=$STORE/database_backups/r1/$B3/dump.rdb
t_eq "the backup records the server's run id" \
	"$(getfattr --only-values -n user.trovefs.redis-run-id "$obj3" 2>/dev/null)" \
	"$(c1 INFO server | tr -d '\r' | sed -n 's/^run_id://p')"
t_check "the backup records the dirty counter and last save" \
	sh -c "getfattr -n user.trovefs.redis-dirty '$obj3' &&
		getfattr -n user.trovefs.redis-last-save '$obj3' >/dev/null"
n0=$(npre)
t_check "recover right after the backup" bash -c "echo '$B3' > '$DS/r1/recover'"
t_log_has "the log says no safety backup was needed" \
	"recover 'r1': current data is already in backup '$B3'; no safety backup needed"
t_eq "no safety backup was taken" "$(npre)" "$n0"
t_eq "the data is unchanged" "$(digest "$P1")" "$want_cur"
t_check "status says ok after the skipped safety backup" \
	grep -q "^last_result: ok" "$DS/r1/status"

t_check "backup of r1 (a write after it)" bash -c "echo 1 > '$DS/r1/backup'"
B4=$(ls "$MNT/restore/r1" | grep -v -e latest -e pre-recover | tail -1)
c1 SET written-after-backup yes >/dev/null
n0=$(npre)
t_check "recover after a write" bash -c "echo '$B4' > '$DS/r1/recover'"
t_eq "a safety backup was taken" "$(npre)" "$((n0 + 1))"
S4=$(sed -n "s/.*recovered from '$B4' (safety backup '\(.*\)')$/\1/p" "$LOG")
t_check "the log names the safety backup" test -n "$S4" -a "$S4" != "$B4"
t_check "cp of that safety backup" cp "$MNT/restore/r1/$S4/dump.rdb" "$T/s4.rdb"
t_eq "the safety backup holds the write" "$(rdb_get "$T/s4.rdb" written-after-backup)" "yes"
t_eq "the server holds the backup's data" "$(c1 GET written-after-backup)" ""
t_eq "the data is the backup's" "$(digest "$P1")" "$want_cur"

# A full resync replaces all data yet leaves run_id, the dirty counter
# and the save time and count alone: master_replid must tell.
t_check "backup of r1 (before a resync)" bash -c "echo 1 > '$DS/r1/backup'"
B6=$(sed -n 's/^last_backup: //p' "$DS/r1/status")
synced() {
	c1 INFO replication | tr -d '\r' | grep -q '^master_link_status:up' &&
		c1 INFO replication | tr -d '\r' | grep -q '^master_sync_in_progress:0'
}
c1 REPLICAOF 127.0.0.1 "$P2" >/dev/null
for i in $(seq 1 100); do synced && break; sleep 0.1; done
t_check "r1 synced from r2" synced
c1 REPLICAOF NO ONE >/dev/null
want_r2=$(digest "$P2")
t_eq "r1 holds r2's data" "$(digest "$P1")" "$want_r2"
n0=$(npre)
t_check "recover after a full resync" bash -c "echo '$B6' > '$DS/r1/recover'"
t_eq "a safety backup was taken after the resync" "$(npre)" "$((n0 + 1))"
S6=$(sed -n "s/.*recovered from '$B6' (safety backup '\(.*\)')$/\1/p" "$LOG")
t_check "cp of that safety backup" cp "$MNT/restore/r1/$S6/dump.rdb" "$T/s6.rdb"
t_eq "the safety backup holds r2's data" "$(digest_rdb "$T/s6.rdb")" "$want_r2"
t_eq "r1 holds the backup's data" "$(digest "$P1")" "$want_cur"

# ---- AUTH
t_check "AUTH with the right password" cp "$DS/auth/dump.rdb" "$T/auth.rdb"
t_check_fails "AUTH with a wrong password" "Permission denied" \
	cat "$DS/bad/dump.rdb"
t_log_has "the log names the datastore" "redis 'bad'.*(WRONGPASS|invalid)"
t_allow "redis 'bad'"

# ---- the restarted server must have loaded the backup
fill "$P4"
t_check "backup of r4" bash -c "echo 1 > '$DS/r4/backup'"
B5=$(sed -n 's/^last_backup: //p' "$DS/r4/status")
redis-cli -p "$P4" SET after-r4-backup 1 >/dev/null
want4=$(digest "$P4")
t_check_fails "recover whose start command turns AOF on" "Input/output error" \
	bash -c "echo '$B5' > '$DS/r4/recover'"
t_log_has "the log says why" \
	"redis 'r4': the server came up with AOF on \\(aof_enabled:1\\)"
t_eq "r4 serves its previous data again" "$(digest "$P4")" "$want4"
t_check "r4's status reports the failure" \
	grep -q "^last_result: error: Input/output error (EIO)" "$DS/r4/status"
t_check "no leftovers in r4's data dir" no_leftovers "$D4"
t_allow "redis 'r4'|datastore 'r4'"

# A rollback that cannot stop the server (its stop command fails the
# second time) moves nothing under it and starts no second server.
rm -f "$T/stop-r4-n"
echo 1 > "$T/stop-r4-fail-after"
t_check_fails "recover whose rollback cannot stop r4" "Input/output error" \
	bash -c "echo '$B5' > '$DS/r4/recover'"
t_check "r4's old AOF dir is left aside" test -d "$D4/appendonlydir.trovefs-old"
t_log_has "the log says where the previous data is" \
	"redis 'r4': rollback: cannot stop the server: .* '$D4/appendonlydir.trovefs-old'"
t_check "r4's status says the rollback failed" \
	grep -q "^last_result: error: .* during: rollback failed" "$DS/r4/status"
# the way back by hand, as the log says
rm -f "$T/stop-r4-fail-after"
bash "$RS" stop "$D4" >/dev/null 2>&1
rm -rf "$D4/appendonlydir"
mv "$D4/appendonlydir.trovefs-old" "$D4/appendonlydir"
"$T/start-r4.sh"
for i in $(seq 1 100); do
	redis-cli -p "$P4" PING 2>/dev/null | grep -q PONG && break
	sleep 0.1
done
t_eq "by hand, r4 serves its previous data" "$(digest "$P4")" "$want4"

# AOF off at run time but appendonly yes in the config file: a restart
# would load the old AOF, so the recover is refused before any stop
c2 CONFIG SET appendonly yes >/dev/null
for i in $(seq 1 100); do
	[ "$(c2 INFO persistence | tr -d '\r' | sed -n 's/^aof_rewrite_in_progress://p')" = 0 ] && break
	sleep 0.1
done
c2 CONFIG REWRITE >/dev/null
c2 CONFIG SET appendonly no >/dev/null
pid_before=$(c2 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
t_check "backup of r2 (to recover from)" bash -c "echo 1 > '$DS/r2/backup'"
t_check_fails "recover with AOF off but appendonly yes in the config file" \
	"Invalid argument" bash -c "echo latest > '$DS/r2/recover'"
t_log_has "the log says the config file disagrees" \
	"redis 'r2': the server runs with AOF off but '$T/r2/redis.conf' says appendonly yes"
t_eq "r2 was not stopped" \
	"$(c2 INFO server | tr -d '\r' | sed -n 's/^process_id://p')" "$pid_before"
c2 CONFIG REWRITE >/dev/null
t_check "r2's config file no longer says appendonly yes" \
	sh -c "! grep -q '^appendonly yes' '$T/r2/redis.conf'"

# ---- recover through the default start (redis-server CONF --daemonize
# yes, no shell in between that would reset the signal mask)
c2 SET before-r2-backup 1 >/dev/null
want2b=$(digest "$P2")
t_check "backup of r2" bash -c "echo 1 > '$DS/r2/backup'"
B2=$(ls "$MNT/restore/r2" | grep -v -e latest -e pre-recover | tail -1)
c2 SET after-r2-backup 1 >/dev/null
t_check "recover r2 (default start)" bash -c "echo '$B2' > '$DS/r2/recover'"
t_eq "r2 holds the backup's data" "$(digest "$P2")" "$want2b"
t_check "no leftovers in r2's data dir" no_leftovers "$T/r2"
t_check "the server recover started (default start) stops on SIGTERM" \
	term_stops "$T/r2"
t_check "restart r2" sh -c "bash '$RS' start '$T/r2' >/dev/null"

# ---- a replica is not recovered: its source's resync would replace the
# recovered data seconds after the recover said it worked
c2 REPLICAOF 127.0.0.1 "$P1" >/dev/null
npre2=$(ls "$MNT/restore/r2" | grep -c pre-recover)
pid_before=$(c2 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
t_check_fails "recover of a replica" "Device or resource busy" \
	bash -c "echo '$B2' > '$DS/r2/recover'"
t_eq "the replica was not stopped" \
	"$(c2 INFO server | tr -d '\r' | sed -n 's/^process_id://p')" "$pid_before"
t_eq "no safety backup was taken" "$(ls "$MNT/restore/r2" | grep -c pre-recover)" "$npre2"
t_log_has "the refusal names the source" \
	"redis 'r2': cannot recover a replica \(of 127.0.0.1:$P1\)"
c2 REPLICAOF NO ONE >/dev/null

# ---- server down
bash "$RS" stop "$T/r2" >/dev/null 2>&1
t_check_fails "dump of a stopped server" "Connection refused" cat "$DS/r2/dump.rdb"
n0=$(wc -l < "$LOG")
t_check_fails "backup of a stopped server" "Connection refused" \
	bash -c "echo 1 > '$DS/r2/backup'"
t_eq "... one line, naming the backup and the cause" \
	"$(tail -n +$((n0 + 1)) "$LOG" | grep -E '^trovefs: (error|warning):' |
		grep -c "backup '.*' failed: Connection refused (redis 'r2': cannot connect")" 1
t_eq "... and no other" "$(tail -n +$((n0 + 1)) "$LOG" | grep -cE '^trovefs: (error|warning):')" 1
n0=$(wc -l < "$LOG")
t_check_fails "recover with the server stopped" "Connection refused" \
	bash -c "echo latest > '$DS/r2/recover'"
t_eq "... one line" "$(tail -n +$((n0 + 1)) "$LOG" | grep -cE '^trovefs: (error|warning):')" 1
t_log_has "... which says nothing was touched" \
	"recover from '.*' failed before the server was touched: Connection refused"
t_allow "redis 'r2'|datastore 'r2'"

t_check "unmount" t_umount
t_scan_log
t_done
