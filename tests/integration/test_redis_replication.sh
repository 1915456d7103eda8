#!/bin/bash
# test_redis_replication.sh - replication pseudo-files (datastores/NAME/
# replication/) against real redis-server instances on loopback:
# A master, B and C its replicas. Reads, replica_of (name, "HOST PORT",
# "none", garbage, replica of a replica, self), promote of B under a
# steady writer (no write acknowledged by the old source after the fence
# is lost), eject after kill -9 of the source (the most current replica
# wins), eject while the source lives. P, a source with requirepass and
# a password_file, and R, its replica: replica_of gives R the source's
# masterauth (link up, data flows, persisted), and following a source
# without a password clears a stale one. U, not configured, with P's
# password: P made its replica by "HOST PORT" keeps its masterauth, so
# the link stays down and the write succeeds with one warning.
#
# Everything goes through the mount. Servers are started and stopped by
# tests/services/redis.sh, each in its own dir; only their pids are
# signalled.
. "$(dirname "$0")/lib.sh"
t_init

HERE=$(cd "$(dirname "$0")" && pwd)
REDIS_SH=$HERE/../services/redis.sh
STOPPED_PID=""
WRITER_PID=""

stop_all() {
	[ -n "$STOPPED_PID" ] && kill -CONT "$STOPPED_PID" 2>/dev/null
	[ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null
	for n in a b c p r u; do
		[ -d "$T/redis/$n" ] && bash "$REDIS_SH" stop "$T/redis/$n" 2>/dev/null
	done
	t_cleanup
}
trap stop_all EXIT

# start_node NAME [PASSWORD] - a server in $T/redis/NAME (with
# requirepass PASSWORD); sets P_NAME (port).
start_node() {
	local dir=$T/redis/$1 try rc out
	for try in 1 2 3; do
		rc=0
		out=$(REDIS_PASSWORD=${2:-} bash "$REDIS_SH" start "$dir" auto \
			"repl-diskless-sync-delay 0" 2>"$T/redis-$1.err") || rc=$?
		[ $rc -eq 0 ] && break
		[ $rc -eq 77 ] && t_skip "$(tail -1 "$T/redis-$1.err")"
		rm -rf "$dir"	# port taken meanwhile: pick another
	done
	[ $rc -eq 0 ] || { cat "$T/redis-$1.err"; echo "not ok - cannot start redis $1"; exit 1; }
	eval "P_$1=$(printf '%s\n' "$out" | sed -n 's/^export REDIS_PORT=//p')"
}
start_node a
start_node b
start_node c
(umask 077 && openssl rand -hex 16 > "$T/p-password")
PW=$(cat "$T/p-password")
start_node p "$PW"
start_node r
start_node u "$PW"
H=127.0.0.1

rcli() {	# rcli PORT ARGS...
	local p=$1
	shift
	redis-cli -h $H -p "$p" "$@"
}

info_field() {	# info_field PORT KEY
	rcli "$1" INFO replication | tr -d '\r' | sed -n "s/^$2://p"
}

# wait_for SECONDS CMD... - polls CMD until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
}

link_up() {
	[ "$(info_field "$1" master_link_status)" = up ]
}

online_replicas() {	# online_replicas MASTER_PORT COUNT
	[ "$(rcli "$1" INFO replication | grep -c '^slave[0-9]*:.*state=online')" = "$2" ]
}

caught_up() {	# caught_up REPLICA_PORT MASTER_PORT
	local want
	want=$(info_field "$2" master_repl_offset)
	[ -n "$want" ] && [ "$(info_field "$1" slave_repl_offset)" = "$want" ]
}

# The datastores, for the daemon.
t_write_conf "$(printf '[redis:%s]\nhost = %s\nport = %s\ntimeout = 2\n' \
	a $H "$P_a" b $H "$P_b" c $H "$P_c" r $H "$P_r"
	printf '[redis:p]\nhost = %s\nport = %s\ntimeout = 2\npassword_file = %s\n' \
	$H "$P_p" "$T/p-password")"
t_mount || exit 1
for n in a b c p r; do
	[ -d "$MNT/datastores/$n/replication" ] || {
		echo "not ok - no $MNT/datastores/$n/replication"
		exit 1
	}
done

rd() {	# rd NAME FILE
	cat "$MNT/datastores/$1/replication/$2"
}

wr() {	# wr NAME FILE DATA - fails with the strerror text on stderr
	bash -c 'echo "$1" > "$2"' _ "$3" "$MNT/datastores/$1/replication/$2"
}

# Expected daemon log lines.
t_allow "replica_of: (expected|unknown datastore|refusing)"
t_allow "cannot connect|Connection refused|source still alive"
t_allow "unreachable|Resource temporarily unavailable|timed out|no data"
t_allow "promote: not a replica|eject: no reachable replica"

# ---- set up and read ----
t_check "replica_of NAME (b follows a)" wr b replica_of a
t_check "replica_of HOST PORT (c follows a)" wr c replica_of "$H $P_a"
t_check "b's link comes up" wait_for 15 link_up "$P_b"
t_check "c's link comes up" wait_for 15 link_up "$P_c"
rcli "$P_a" SET k v >/dev/null
t_check "b catches up" wait_for 10 caught_up "$P_b" "$P_a"
# a replica's link is up before its master counts it online (the master
# still sends the RDB): wait for the master's view too
t_check "a sees both replicas online" wait_for 15 online_replicas "$P_a" 2

t_eq "a's role" "$(rd a role)" "master"
t_eq "b's role" "$(rd b role)" "replica"
t_eq "a's source is empty" "$(rd a source)" ""
t_eq "b's source" "$(rd b source)" "$H $P_a"
t_eq "b's link" "$(rd b link)" "up"
t_eq "a's link" "$(rd a link)" "none"
t_eq "a's lag" "$(rd a lag)" "0"
LAG_B=$(rd b lag)
t_check "b's lag is a number of seconds" test "$LAG_B" -ge 0
t_eq "b's offset is a's offset" "$(rd b offset)" "$(info_field "$P_a" master_repl_offset)"
t_check "a's replicas list b and c" sh -c "
	out='$(rd a replicas)'
	echo \"\$out\" | grep -q '^$H $P_b state=online offset=[0-9]* lag=[0-9]*\$' &&
	echo \"\$out\" | grep -q '^$H $P_c state=online offset='"
t_eq "b's replicas are its source's" "$(rd b replicas | wc -l)" "2"
CANDS=$(rd b candidates)
t_check "candidates list both replicas with offset, io age and link" sh -c "
	echo '$CANDS' | grep -q '^$H $P_b offset=[0-9]* master_last_io_seconds_ago=[0-9]* master_link_status=up\$' &&
	echo '$CANDS' | grep -q '^$H $P_c offset=[0-9]* master_last_io_seconds_ago=[0-9]* master_link_status=up\$'"
t_check "candidates say which is chosen and why" sh -c \
	"echo '$CANDS' | grep -qE '^chosen: $H ($P_b|$P_c) \\(largest offset [0-9]+'"
# An RDB transfer (a sync backup, redis-cli --rdb) is listed in INFO as
# slaveN:...,port=0,...: it must not break the files nor count as a
# replica. The diskless delay keeps it listed long enough to look.
rdb_stream_listed() {
	rcli "$P_a" INFO replication | grep -q '^slave[0-9]*:.*,port=0,'
}
rcli "$P_a" CONFIG SET repl-diskless-sync-delay 5 >/dev/null
redis-cli -h $H -p "$P_a" --rdb "$T/stream.rdb" >/dev/null 2>&1 &
STREAM_PID=$!
t_check "an RDB transfer from a is listed with port=0" \
	wait_for 5 rdb_stream_listed
t_eq "a's replicas during an RDB transfer: b and c only" \
	"$(rd a replicas | cut -d' ' -f2 | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "$P_b" "$P_c" | sort | tr '\n' ' ')"
t_check "b's candidates during an RDB transfer" sh -c \
	"echo '$(rd b candidates)' | grep -q '^chosen: $H'"
t_check "the RDB transfer was still running" rdb_stream_listed
wait "$STREAM_PID"
rcli "$P_a" CONFIG SET repl-diskless-sync-delay 0 >/dev/null
t_check "replica_of was persisted in b's config" \
	grep -q "^replicaof $H $P_a\$" "$T/redis/b/redis.conf"
t_check "a replica refuses writes (read-only)" \
	sh -c "redis-cli -h $H -p $P_b SET x 1 | grep -q READONLY"

# ---- replica_of ----
t_check "echo none detaches b" wr b replica_of none
t_eq "b is a master" "$(rd b role)" "master"
t_check "the detach was persisted" sh -c "! grep -q '^replicaof' '$T/redis/b/redis.conf'"
t_check "echo HOST PORT re-attaches b" wr b replica_of "$H $P_a"
t_eq "b follows a again" "$(rd b source)" "$H $P_a"
t_check "detach again" wr b replica_of none
t_check "echo a's NAME attaches b" wr b replica_of a
t_eq "b follows a by name" "$(rd b source)" "$H $P_a"
t_check_fails "garbage: three words" "Invalid argument" wr b replica_of "x y z"
t_check_fails "garbage: port 0" "Invalid argument" wr b replica_of "$H 0"
t_check_fails "garbage: port 65536" "Invalid argument" wr b replica_of "$H 65536"
t_check_fails "garbage: unknown name" "Invalid argument" wr b replica_of nosuch
t_check_fails "garbage: empty" "Invalid argument" wr b replica_of ""
t_check_fails "replica of a replica refused (name)" "Invalid argument" wr b replica_of c
t_check_fails "replica of a replica refused (address)" "Invalid argument" \
	wr b replica_of "$H $P_c"
t_check_fails "replica of itself refused" "Invalid argument" wr a replica_of a
t_check_fails "a master with replicas is not made a replica" "Invalid argument" \
	wr a replica_of "$H $P_b"
t_eq "after the refusals b still follows a" "$(rd b source)" "$H $P_a"
t_eq "after the refusals a is still the master" "$(rd a role)" "master"
t_check_fails "read-only files refuse writes" "ermission denied" wr a role x
t_allow "datastores/a/replication/role: read-only"
t_log_has "... with one line" "datastores/a/replication/role: read-only"
t_check_fails "promote on the master" "Invalid argument" wr a promote 1

# ---- a source with a password: masterauth ----
# P has requirepass and its datastore a password_file; R has neither.
pcli() {
	REDISCLI_AUTH=$PW redis-cli -h $H -p "$P_p" "$@"
}
masterauth_of() {	# masterauth_of PORT
	rcli "$1" CONFIG GET masterauth | sed -n 2p
}
r_has() {	# r_has KEY VALUE
	[ "$(rcli "$P_r" GET "$1")" = "$2" ]
}
pcli SET pk1 before >/dev/null
# Redis's default delay: r's link stays down > 3 s while p, which lists
# r at once, waits for more replicas; that is no link failure to warn of
pcli CONFIG SET repl-diskless-sync-delay 5 >/dev/null
t_check "replica_of a source with a password, by name (r follows p)" \
	wr r replica_of p
t_check "no warning while r's sync waits (p lists r)" sh -c \
	"! grep -q \"redis 'r': replica_of: the link\" '$LOG'"
t_eq "r follows p" "$(rd r source)" "$H $P_p"
t_check "r's link to p comes up" wait_for 15 link_up "$P_r"
t_eq "r's link file says up" "$(rd r link)" "up"
t_check "what p held is on r" wait_for 10 r_has pk1 before
pcli SET pk2 after >/dev/null
t_check "a key written on p appears on r" wait_for 10 r_has pk2 after
t_eq "r's masterauth is p's password" "$(masterauth_of "$P_r")" "$PW"
t_check "masterauth was persisted in r's config" \
	grep -qx "masterauth \"\\{0,1\\}$PW\"\\{0,1\\}" "$T/redis/r/redis.conf"
t_check "r's server log has no authentication failure" sh -c \
	"! grep -qE 'NOAUTH|Unable to AUTH' '$T/redis/r/redis.log'"
t_check "p's password is in no daemon log line" sh -c "! grep -qF '$PW' '$LOG'"
t_check "replica_of none detaches r" wr r replica_of none
t_eq "r is a master" "$(rd r role)" "master"
t_eq "the detach leaves masterauth" "$(masterauth_of "$P_r")" "$PW"
# one from an earlier source that a source without a password refuses
rcli "$P_r" CONFIG SET masterauth stale-one >/dev/null
t_check "replica_of a source without a password (r follows a)" \
	wr r replica_of a
t_eq "masterauth is cleared" "$(masterauth_of "$P_r")" ""
t_check "the cleared masterauth was persisted" sh -c \
	"! grep -q '^masterauth' '$T/redis/r/redis.conf'"
t_check "r's link to a comes up" wait_for 15 link_up "$P_r"
t_check "r detached again" wr r replica_of none
t_eq "p is still a master" "$(rd p role)" "master"
# U is no datastore: its masterauth is not known, p's is left as it is
# (none), U refuses p's link; the write succeeds and says so once.
t_allow "replica_of: the link to '$H:$P_u' \\($H $P_u\\) is not up yet"
t_check "replica_of an unconfigured source (p follows U's address)" \
	wr p replica_of "$H $P_u"
t_eq "p's masterauth is left as it was" \
	"$(pcli CONFIG GET masterauth | sed -n 2p)" ""
t_eq "one warning: the link to U is not up yet" \
	"$(grep -c "redis 'p': replica_of: the link to '$H:$P_u' .*is not up yet.*see the server's log" "$LOG")" 1
t_eq "p's link file says down" "$(rd p link)" "down"
t_check "p detached again" wr p replica_of none
t_eq "p is a master again" "$(rd p role)" "master"
t_check "b's link is up before promote" wait_for 15 link_up "$P_b"
t_check "c's link is up before promote" wait_for 15 link_up "$P_c"

# ---- promote B under a steady writer ----
rcli "$P_a" SET ctr 0 >/dev/null
: > "$T/acked"
(
	while :; do
		v=$(redis-cli -h $H -p "$P_a" INCR ctr 2>&1)
		case $v in
		[0-9]*) echo "$v" >> "$T/acked" ;;
		*) echo "$v" > "$T/writer_err"; touch "$T/writer_done"; exit 0 ;;
		esac
	done
) &
WRITER_PID=$!
wait_for 10 test -s "$T/acked"
sleep 1
t_check "promote b" wr b promote 1
t_check "the writer stops on its own" wait_for 15 test -e "$T/writer_done"
kill "$WRITER_PID" 2>/dev/null
wait "$WRITER_PID" 2>/dev/null
WRITER_PID=""
LAST=$(tail -n 1 "$T/acked")
NACK=$(wc -l < "$T/acked")
echo "# writer: $NACK acknowledged INCRs, last $LAST; then: $(cat "$T/writer_err" 2>/dev/null)"
t_check "the writer had writes acknowledged" test "${LAST:-0}" -gt 0
t_check "the old source refuses writes after the switch (READONLY)" \
	grep -q READONLY "$T/writer_err"
FINAL=$(rcli "$P_b" GET ctr)
t_check "no acknowledged write lost: new source has ctr $FINAL >= $LAST" \
	test "${FINAL:-0}" -ge "${LAST:-1}"
t_eq "b is the master" "$(rd b role)" "master"
t_eq "a follows b" "$(rd a source)" "$H $P_b"
t_eq "c follows b" "$(rd c source)" "$H $P_b"
t_check "a's link to b comes up" wait_for 15 link_up "$P_a"
t_check "c's link to b comes up" wait_for 15 link_up "$P_c"
t_check "a is read-only" sh -c "redis-cli -h $H -p $P_a SET x 1 | grep -q READONLY"
t_check "the switch was persisted in a's config" \
	grep -q "^replicaof $H $P_b\$" "$T/redis/a/redis.conf"
t_check_fails "eject while the source lives" "Device or resource busy" \
	wr c eject 1
t_check_fails "eject on the live source's own file" "Device or resource busy" \
	wr b eject 1
# A stalled source (SIGSTOP: the kernel accepts, nothing answers) is not a
# dead one: promoting a replica would make two masters once it goes on.
STOPPED_PID=$(cat "$T/redis/b/redis.pid")
kill -STOP "$STOPPED_PID"
t_check_fails "eject while the source is stalled" "Device or resource busy" \
	wr c eject 1
kill -CONT "$STOPPED_PID"
STOPPED_PID=""
t_eq "after the refused eject c still follows b" "$(rd c source)" "$H $P_b"
t_eq "after the refused eject b is still the master" "$(rd b role)" "master"
t_allow "not known to be gone"

# ---- eject: kill -9 the source ----
# LOW would win a tie on address; freeze it while 32 MB go through B so
# that HIGH, the other, is the most current when B dies.
if [ "$P_a" -lt "$P_c" ]; then LOW=a; HIGH=c; else LOW=c; HIGH=a; fi
P_LOW=$(eval echo "\$P_$LOW")
P_HIGH=$(eval echo "\$P_$HIGH")
STOPPED_PID=$(cat "$T/redis/$LOW/redis.pid")
kill -STOP "$STOPPED_PID"
for i in 1 2 3 4; do
	head -c 8000000 /dev/zero | tr '\0' x |
		redis-cli -h $H -p "$P_b" -x SET "big$i" >/dev/null
done
t_check "$HIGH catches up with b" wait_for 30 caught_up "$P_HIGH" "$P_b"
t_check "a frozen replica is listed as unreachable" sh -c \
	"echo '$(rd b candidates)' | grep -q '^$H $P_LOW unreachable\$'"
B_PID=$(cat "$T/redis/b/redis.pid")
kill -9 "$B_PID"
t_check "b is gone" wait_for 10 sh -c "! redis-cli -h $H -p $P_b PING"
kill -CONT "$STOPPED_PID"
STOPPED_PID=""
t_check "$LOW sees its source down" wait_for 15 sh -c \
	"[ \"\$(redis-cli -h $H -p $P_LOW INFO replication | tr -d '\r' | sed -n 's/^master_link_status://p')\" = down ]"
OFF_LOW=$(info_field "$P_LOW" slave_repl_offset)
OFF_HIGH=$(info_field "$P_HIGH" slave_repl_offset)
echo "# offsets after the kill: $LOW=$OFF_LOW $HIGH=$OFF_HIGH"
t_check "$HIGH is more current than $LOW" test "$OFF_HIGH" -gt "$OFF_LOW"
t_check "candidates choose $HIGH by offset" sh -c \
	"echo '$(rd $LOW candidates)' | grep -q '^chosen: $H $P_HIGH (largest offset $OFF_HIGH)\$'"
t_check "echo 1 > eject" wr "$LOW" eject 1
t_eq "the most current replica ($HIGH) is the master" "$(rd "$HIGH" role)" "master"
t_eq "the other ($LOW) follows it" "$(rd "$LOW" source)" "$H $P_HIGH"
t_check "$LOW's link to $HIGH comes up" wait_for 30 link_up "$P_LOW"
t_eq "the new master has every write" "$(rcli "$P_HIGH" STRLEN big4)" "8000000"
t_check "$LOW catches up with the new master" wait_for 30 caught_up "$P_LOW" "$P_HIGH"
t_eq "$LOW has every write" "$(rcli "$P_LOW" STRLEN big4)" "8000000"
t_check_fails "eject again: the new source lives" "Device or resource busy" \
	wr "$LOW" eject 1
n0=$(wc -l < "$LOG")
t_check_fails "eject of dead b: no replica of it is left" "No such device" \
	wr b eject 1
t_eq "... in one line naming b and eject" \
	"$(tail -n +$((n0 + 1)) "$LOG" | grep -c '^trovefs: \(warning\|error\):')" 1
t_log_has "... with eject's own verdict" "redis 'b': eject failed: No such device \\(.*eject: "
t_check_fails "reading a dead node's role" "Connection refused" rd b role

t_check "unmount" t_umount
t_done
