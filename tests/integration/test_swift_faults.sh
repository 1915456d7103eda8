#!/bin/bash
# test_swift_faults.sh - the Swift store under faults, with nothing lost:
# a fault-injecting proxy (tests/fakes/fault_proxy.py) in front of a real
# Swift (tests/services/swift.sh) answers 503 bursts, 429/500/401/413,
# stalls, cuts bodies short, damages them, loses answers and resets
# connections; Swift's proxy is
# stopped mid-copy, memcached is restarted (tokens lost), a container is
# deleted behind the mount's back, a daemon is killed mid-copy and
# `trovefs gc` cleans up after it; renames fail half way in both segment
# layouts. First through tests/tools/swift_tool
# (no FUSE), then through a real mount. Every check verifies the server
# side with curl straight to Swift. Exit 77 if Swift cannot run here.
. "$(dirname "$0")/lib.sh"
export TROVEFS_TEST_SOURCE=swift
t_init
SVC=$T_ROOT/tests/services/swift.sh
TOOL=${SWIFT_TOOL:-$TROVEFS_BUILD/tests/tools/swift_tool}
[ -x "$TOOL" ] || { echo "not ok - no $TOOL (make tools)"; exit 1; }
FP_PID=""
FP_LOG=$T/fault.log
PLAN=$T/plan.json

f_cleanup() {
	# FAULTS_KEEP=DIR keeps the logs for a post-mortem
	if [ -n "${FAULTS_KEEP:-}" ]; then
		cp "$LOG" "$FP_LOG" "$FAULTS_KEEP/" 2>/dev/null
	fi
	if [ -n "$FP_PID" ] && kill -0 "$FP_PID" 2>/dev/null; then
		kill "$FP_PID" 2>/dev/null
		wait "$FP_PID" 2>/dev/null
	fi
	t_cleanup
}
trap f_cleanup EXIT

# ---- the fault proxy
echo '[]' > "$PLAN"
/usr/bin/python3 "$T_ROOT/tests/fakes/fault_proxy.py" \
	--upstream "http://127.0.0.1:$SWIFT_PROXY_PORT" --port-file "$T/fp.port" \
	--plan "$PLAN" --log "$FP_LOG" > /dev/null 2> "$T/fp.err" &
FP_PID=$!
for _ in $(seq 1 50); do
	[ -s "$T/fp.port" ] && break
	sleep 0.1
done
[ -s "$T/fp.port" ] || { cat "$T/fp.err"; echo "not ok - fault proxy"; exit 1; }
FP=http://127.0.0.1:$(cat "$T/fp.port")

# [swift:test] goes through the proxy with short timeouts; [swift:direct]
# talks to Swift itself (gc, checks)
(umask 077 && cat > "$CONF" <<EOF
[trovefs]
key_file = $KEY
[swift:test]
auth_url = $FP/auth/v1.0
user = $SWIFT_USER
key_file = $T/swift-key
segment_size = 1M
parallel = 2
retry_budget = 4
stall_timeout = 2
connect_timeout = 2
[swift:direct]
auth_url = $SWIFT_AUTH_URL
user = $SWIFT_USER
key_file = $T/swift-key
EOF
)
# swift_tool reads a bare section: the [swift:test] lines
sed -n '/^\[swift:test\]/,/^\[swift:direct\]/p' "$CONF" | sed '$d' > "$T/tool.conf"
sed 's|^user = .*|user = test:tester|; s|^key_file = .*|key_file = '"$T"'/badkey|' \
	"$T/tool.conf" > "$T/bad.conf"
(umask 077 && echo wrong > "$T/badkey")

st() { "$TOOL" "$T/tool.conf" "$@"; }
# plan JSON - replaces the fault plan (counters restart)
plan() { printf '%s\n' "$1" > "$PLAN"; : > "$FP_LOG"; }
# faults ACTION - how many requests got that fault since the last plan
faults() { grep -c " $1\$" "$FP_LOG" || true; }
# segment objects of container C (direct)
nsegs() { t_swift_curl "$1%2Bsegments" | grep -c . || true; }
SEGRE='segments/.+'

t_data "$T/big" $((5 * 1048576 + 777)) big
BIGSHA=$(t_sha "$T/big")
# fresh names: the test may run on a Swift that ran it before
F=f$RANDOM
t_check "tool: make container $F" st mkc $F

# ---- 503 bursts within the retry budget
plan '[{"method":"PUT","path":"'$SEGRE'","nth":2,"count":3,"status":503}]'
t_check "tool: copy succeeds through a burst of 3 segment 503s" \
	sh -c "'$TOOL' '$T/tool.conf' put $F b1 < '$T/big'"
t_eq "tool: the 503s were answered" "$(faults fault)" 3
plan '[{"method":"GET","path":"/'$F'/b1$","count":3,"status":503}]'
t_eq "tool: read through 3 GET 503s is byte-identical" \
	"$(st get $F b1 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
plan '[{"method":"PUT","path":"/'$F'/b2\\?multipart","count":2,"status":429},{"method":"PUT","path":"/'$F'/b2\\?multipart","nth":3,"count":2,"status":500}]'
t_check "tool: manifest PUT retried through 429s and 500s" \
	sh -c "'$TOOL' '$T/tool.conf' put $F b2 < '$T/big'"
t_eq "tool: ... and reads back identical" \
	"$(st get $F b2 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
# a manifest PUT goes with heartbeat=on: Swift answers 202 at once and
# the outcome comes in the body, where a 503 is retried and a 400 fails
hb='{"method":"PUT","path":"/'$F'/%s\\\\?multipart-manifest=put&heartbeat=on","count":%s,"status":202,"body":"{\\"Response Status\\": \\"%s\\", \\"Errors\\": []}"}'
# shellcheck disable=SC2059
plan "[$(printf "$hb" hb1 1 '503 Service Unavailable')]"
t_check "tool: a manifest PUT whose heartbeat body says 503 is retried" \
	sh -c "'$TOOL' '$T/tool.conf' put $F hb1 < '$T/big'"
t_eq "tool: ... once" "$(faults fault)" 1
t_eq "tool: ... and reads back identical" \
	"$(st get $F hb1 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
# shellcheck disable=SC2059
plan "[$(printf "$hb" hb2 0 '400 Bad Request')]"
t_check_fails "tool: a manifest PUT whose heartbeat body says 400 fails" \
	"EINVAL" sh -c "'$TOOL' '$T/tool.conf' put $F hb2 < '$T/big'"
plan '[]'
t_check_fails "tool: ... no object" "ENOENT" st head $F hb2
t_eq "tool: ... none of its segments left" \
	"$(t_swift_curl "$F%2Bsegments" | grep -c '^hb2/' || true)" 0
plan '[{"method":"PUT","path":"'$SEGRE'","count":3,"action":"reset"}]'
t_check "tool: copy survives 3 connection resets" \
	sh -c "'$TOOL' '$T/tool.conf' put $F b3 < '$T/big'"
t_eq "tool: ... and reads back identical" \
	"$(st get $F b3 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
plan '[{"method":"PUT","path":"'$SEGRE'/00000001$","count":1,"status":413}]'
t_check "tool: a segment answered 413 is cut smaller" \
	sh -c "'$TOOL' '$T/tool.conf' put $F b4 < '$T/big'"
t_eq "tool: ... and reads back identical" \
	"$(st get $F b4 | sha256sum | cut -d' ' -f1)" "$BIGSHA"

# ---- a body damaged in flight: Swift's MD5 of it is not the ETag sent,
# it answers 422, and the segment goes again
plan '[{"method":"PUT","path":"'$SEGRE'/00000001$","count":1,"action":"corrupt"}]'
t_check "tool: a segment damaged in flight is sent again" \
	sh -c "'$TOOL' '$T/tool.conf' put $F b6 < '$T/big'"
t_eq "tool: ... it was damaged once" "$(faults corrupt)" 1
t_check "tool: ... and Swift refused it (422)" grep -q ' 422 pass$' "$FP_LOG"
t_eq "tool: ... it reads back identical" \
	"$(st get $F b6 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
t_check "tool: rm of it" st rm $F b6

# ---- a burst longer than the retry budget: EIO, nothing left
before=$(nsegs $F)
plan '[{"method":"PUT","path":"'$SEGRE'/00000002$","count":0,"status":503}]'
t_check_fails "tool: endless segment 503s fail the copy with EIO" "EIO" \
	sh -c "'$TOOL' '$T/tool.conf' put $F lost < '$T/big'"
# retry_budget = 4 s of backoff from 200 ms: about 5 attempts, not endless
t_check "tool: ... after a bounded number of attempts ($(faults fault))" \
	test "$(faults fault)" -ge 2 -a "$(faults fault)" -le 10
plan '[]'
t_check_fails "tool: ... no object" "ENOENT" st head $F lost
t_eq "tool: ... no segment left" "$(nsegs $F)" "$before"
t_eq "tool: ... none named after it" "$(t_swift_curl "$F%2Bsegments" | grep -c '^lost/' || true)" 0
plan '[{"method":"PUT","path":"/'$F'/lost2\\?multipart","count":0,"status":503}]'
t_check_fails "tool: endless manifest 503s fail the copy" "EIO" \
	sh -c "'$TOOL' '$T/tool.conf' put $F lost2 < '$T/big'"
plan '[]'
t_check_fails "tool: ... no object" "ENOENT" st head $F lost2
t_eq "tool: ... no segment left" "$(nsegs $F)" "$before"

# ---- stalls: the stall timeout fires (the proxy sees the client hang
# up before its stall ends: "stall-abandoned")
plan '[{"method":"PUT","path":"'$SEGRE'/00000001$","count":1,"action":"stall","stall":30}]'
t_check "tool: a segment PUT stalled once is retried" \
	sh -c "'$TOOL' '$T/tool.conf' put $F b5 < '$T/big'"
t_eq "tool: ... after the stall timeout gave up on it" "$(faults stall-abandoned)" 1
t_eq "tool: ... and reads back identical" \
	"$(st get $F b5 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
plan '[{"method":"GET","path":"/'$F'/b1$","count":0,"action":"stall","stall":60}]'
t_check_fails "tool: a GET that always stalls fails with ETIMEDOUT" "ETIMEDOUT" \
	sh -c "'$TOOL' '$T/tool.conf' get $F b1 > /dev/null"
t_check "tool: ... after more than one attempt, each given up by the client" \
	test "$(faults stall)" -ge 2 -a "$(faults stall-abandoned)" = "$(faults stall)"

# ---- cut bodies: detected, retried, never garbage
plan '[{"method":"GET","path":"/'$F'/b1$","count":2,"action":"cut","cut_after":100000}]'
t_eq "tool: read through 2 cut bodies is byte-identical" \
	"$(st get $F b1 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
t_eq "tool: ... both cuts happened" "$(faults cut)" 2
plan '[{"method":"GET","path":"/'$F'/b1$","count":0,"action":"cut","cut_after":100000}]'
st get $F b1 > "$T/cut.out" 2> "$T/cut.err"
t_check "tool: always-cut bodies fail with EIO" grep -q EIO "$T/cut.err"
got=$(stat -c %s "$T/cut.out")
t_eq "tool: ... what was written is a true prefix" \
	"$(head -c "$got" "$T/big" | sha256sum)" "$(sha256sum < "$T/cut.out")"
plan '[{"method":"GET","path":"/'$F'\\?format=json","count":1,"action":"cut","cut_after":40}]'
t_eq "tool: a cut listing is retried" "$(st ls $F | grep -c '^b[0-9] ')" 5

# ---- 401: one re-authentication, then on
plan '[{"method":"GET","path":"/'$F'/b1$","count":1,"status":401}]'
t_eq "tool: a 401 re-authenticates once and reads on" \
	"$(st get $F b1 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
t_eq "tool: ... two authentications" "$(grep -c '^GET /auth/v1.0 ' "$FP_LOG")" 2
plan '[{"method":"GET","path":"/'$F'/b1$","count":0,"status":401}]'
t_check_fails "tool: a 401 that stays is EACCES" "EACCES" st get $F b1
plan '[]'

# ---- a wrong key: EACCES naming the account
"$TOOL" "$T/bad.conf" lsc > /dev/null 2> "$T/bad.err"
t_check "tool: wrong key -> EACCES" grep -q EACCES "$T/bad.err"
t_check "tool: ... the log names the account" grep -q "test:tester" "$T/bad.err"

# ---- memcached restarted mid-copy: tokens lost, re-authenticated
# shellcheck disable=SC1091
. "$SWIFT_DIR/ports"
svc_pid() {
	local pid
	pid=$(cat "$SWIFT_DIR/run/$1.pid" 2>/dev/null) || return 1
	tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$SWIFT_DIR/" ||
		return 1
	echo "$pid"
}
# svc_stop NAME - stops one Swift process by its pid file; waits <= 5 s
svc_stop() {
	local pid
	pid=$(svc_pid "$1") || return 1
	kill "$pid"
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
memcached_restart() {
	svc_stop memcached || return 1
	memcached -d -P "$SWIFT_DIR/run/memcached.pid" -l 127.0.0.1 \
		-p "$MEMCACHED_PORT" -U 0 -m 64 -c 1024 -u "$(id -un)" \
		< /dev/null >> "$SWIFT_DIR/log/memcached.log" 2>&1 || return 1
	T_SWIFT_TOKEN=""	# lib.sh's token for t_swift_curl is gone
	for _ in $(seq 1 50); do
		svc_pid memcached > /dev/null && return 0
		sleep 0.1
	done
	return 1
}
# the copy waits 3 s in a stalled segment PUT (stall timeout 2 s); the
# retry meets the lost token
plan '[{"method":"PUT","path":"'$SEGRE'/00000002$","count":1,"action":"stall","stall":3}]'
"$TOOL" "$T/tool.conf" put $F b6 < "$T/big" 2> "$T/mc.err" &
cp_pid=$!
sleep 1
t_check "memcached restarted" memcached_restart
wait "$cp_pid"
t_eq "tool: copy across a memcached restart succeeds" "$?" 0
t_check "tool: ... after a 401" grep -q ' 401 pass$' "$FP_LOG"
t_eq "tool: ... and reads back identical" \
	"$(st get $F b6 | sha256sum | cut -d' ' -f1)" "$BIGSHA"
plan '[]'

# ---- through the mount
t_allow 'swift (PUT|GET|HEAD|DELETE|POST) .*(HTTP [0-9]+|Timeout|Couldn|Failure|Recv|Send|Server returned)'
t_allow 'cannot (upload|commit|write|read|authenticate|list|open|store)'
t_allow "authenticate|refused|test:tester"
M=m$RANDOM
C=$MNT/containers/$M
if ! t_mount; then
	t_not_ok "mount of swift:test"
	t_done
	exit 1
fi
t_check "mount: mkdir container" mkdir "$C"
plan '[{"method":"PUT","path":"'$M'%2Bsegments/.+","nth":2,"count":3,"status":503}]'
t_check "mount: cp through a burst of 3 segment 503s" cp "$T/big" "$C/big"
t_eq "mount: ... the 503s were answered" "$(faults fault)" 3
plan '[]'
t_eq "mount: ... reads back identical" "$(t_sha "$C/big")" "$BIGSHA"
# a commit whose answer is lost after Swift stored it, every retry's too:
# the object is what was sent (its ETag says so), so the copy succeeded
# and its segments stay
t_allow "but the object is (that manifest|the one sent): committed"
t_allow "cannot tell whether the manifest was stored"
plan '[{"method":"PUT","path":"/'$M'/lostans\\?multipart-manifest=put","count":0,"action":"lost"}]'
t_check "mount: cp whose manifest PUT answers are all lost succeeds" \
	cp "$T/big" "$C/lostans"
t_check "mount: ... they were lost ($(faults lost))" test "$(faults lost)" -ge 2
plan '[]'
t_log_has "mount: ... one line says the object is the one sent" \
	"swift PUT '$M/lostans': the manifest PUT failed .*, but the object is that manifest: committed"
t_eq "mount: ... it reads back identical" "$(t_sha "$C/lostans")" "$BIGSHA"
t_text "$T/small" 2000
plan '[{"method":"PUT","path":"/'$M'/lostsmall$","count":0,"action":"lost"}]'
t_check "mount: cp of a small file whose PUT answers are all lost succeeds" \
	cp "$T/small" "$C/lostsmall"
plan '[]'
t_eq "mount: ... it reads back identical" "$(t_sha "$C/lostsmall")" "$(t_sha "$T/small")"
# the same, and Swift cannot say what it holds (the manifest's GET
# answers 503):
# close() fails, and the segments stay for whatever Swift did store
nseg0=$(nsegs $M)
t_eq "mount: a close whose commit cannot be confirmed fails" "$(/usr/bin/python3 - "$C/unsure" "$T/big" "$PLAN" "$M" <<'PY'
import sys
dst, src, plan, m = sys.argv[1:]
f = open(dst, "wb")
f.write(open(src, "rb").read())
with open(plan, "w") as p:
    p.write('[{"method":"PUT","path":"/%s/unsure\\\\?multipart-manifest=put",'
            '"count":0,"action":"lost"},{"method":"GET","path":"/%s/unsure\\\\?multipart-manifest=get",'
            '"count":0,"status":503}]' % (m, m))
try:
    f.close()
    print("closed")
except OSError as e:
    print(e.strerror)
PY
)" "Input/output error"
plan '[]'
t_log_has "mount: ... one line says the segments are kept" \
	"swift PUT '$M/unsure': cannot tell whether the manifest was stored .*: its segments are kept"
t_check "mount: ... they are ($(nsegs $M) > $nseg0)" test "$(nsegs $M)" -gt "$nseg0"
t_eq "mount: ... and the object Swift stored reads whole" \
	"$(t_swift_curl -o /dev/null -w '%{http_code}' $M/unsure)" 200
# fsync() waits for the segment uploads in flight: one that failed fails
# the fsync, not only the close (2.5 MiB: two segments handed on, none
# joined by a write yet)
head -c $((5 * 1048576 / 2)) "$T/big" > "$T/part"
plan '[{"method":"PUT","path":"'$M'%2Bsegments/.+/00000001$","count":0,"status":503}]'
t_eq "mount: fsync after a segment upload failed fails" "$(/usr/bin/python3 - "$C/fsyncfail" "$T/part" <<'PY'
import os, sys
f = open(sys.argv[1], "wb", buffering=0)
f.write(open(sys.argv[2], "rb").read())
try:
    os.fsync(f.fileno())
    print("synced")
except OSError as e:
    print("fsync: " + e.strerror)
try:
    f.close()
except OSError:
    pass
PY
)" "fsync: Input/output error"
plan '[]'
t_check_fails "mount: ... and the file is not there" "No such file" stat "$C/fsyncfail"
t_remount || exit 1
plan '[{"method":"GET","path":"/'$M'/big$","count":2,"action":"cut","cut_after":50000},{"method":"GET","path":"/'$M'/big$","nth":3,"count":2,"status":503}]'
t_eq "mount: read through cut bodies and 503s is identical" "$(t_sha "$C/big")" "$BIGSHA"
plan '[]'
before=$(nsegs $M)
plan '[{"method":"PUT","path":"'$M'%2Bsegments/.+/00000002$","count":0,"status":503}]'
t_check_fails "mount: endless 503s fail cp with EIO" "Input/output error" \
	cp "$T/big" "$C/lost"
t_check "mount: ... after a bounded number of attempts ($(faults fault))" \
	test "$(faults fault)" -ge 2 -a "$(faults fault)" -le 10
plan '[]'
t_check_fails "mount: ... no file" "No such file" stat "$C/lost"
t_eq "mount: ... no object" "$(t_swift_curl -o /dev/null -w '%{http_code}' -I $M/lost)" 404
t_eq "mount: ... no segment left" "$(nsegs $M)" "$before"
t_remount || exit 1
plan '[{"method":"GET","path":"/'$M'/big$","count":0,"action":"stall","stall":60}]'
t_check "mount: a read that always stalls fails" \
	sh -c "! timeout 40 cat '$C/big' > /dev/null"
t_check "mount: ... each stall given up by the client ($(faults stall-abandoned))" \
	test "$(faults stall)" -ge 1 -a "$(faults stall-abandoned)" = "$(faults stall)"
plan '[]'
t_eq "mount: ... and the next read works" "$(t_sha "$C/big")" "$BIGSHA"

# memcached restart: the mount's token is lost
t_check "memcached restarted" memcached_restart
: > "$FP_LOG"
t_check "mount: cp after a memcached restart" cp "$T/big" "$C/after-mc"
t_eq "mount: ... re-authenticated once" "$(grep -c '^GET /auth/v1.0 ' "$FP_LOG")" 1
t_eq "mount: ... reads back identical" "$(t_sha "$C/after-mc")" "$BIGSHA"

# a container deleted behind the mount's back
mkdir "$C/../gone" && echo x > "$C/../gone/f"
t_swift_curl -X DELETE -o /dev/null gone/f
# a loaded object server updates the container listing later: until then
# the container is not empty for Swift (409)
for _ in $(seq 1 40); do
	code=$(t_swift_curl -X DELETE -o /dev/null -w '%{http_code}' gone)
	[ "$code" = 409 ] || break
	sleep 0.25
done
t_eq "the container is deleted behind the mount's back" "$code" 204
# the mount still has the file's stat cached: the open does not ask, its
# first read does
t_allow "'gone/f' was deleted before its first read; reads fail with ENOENT"
t_check_fails "mount: a deleted container reads ENOENT" "No such file" \
	cat "$C/../gone/f"
t_check_fails "mount: ... and lists ENOENT" "No such file" ls "$C/../gone"
t_check "mount: ... the daemon lives" kill -0 "$T_PID"
# written into while the mount still knows it: ENOENT from the object's
# PUT, or before the first segment (no segments container made for it)
mkdir "$C/../gone2" && ls "$C/../gone2" > /dev/null
t_swift_curl -X DELETE -o /dev/null gone2
echo small > "$T/small1"
t_check_fails "mount: cp of a small file into a deleted container" \
	"No such file" cp "$T/small1" "$C/../gone2/small"
t_check_fails "mount: ... of a large one" "No such file" \
	cp "$T/big" "$C/../gone2/big"
t_eq "mount: ... no segments container made for it" \
	"$(t_swift_curl -o /dev/null -w '%{http_code}' -I 'gone2%2Bsegments')" 404

# Swift's proxy stopped mid-copy, after 8 segments went up: the cleanup
# stops at the first DELETE that fails instead of spending the retry
# budget (4 s) on each of them (that was >= 8 budgets, ~40 requests):
# counted in the fault proxy's log, which answers 502 while Swift is down
t_allow "segments of '.*' left for 'trovefs gc'"
t_data "$T/huge" $((24 * 1048576)) huge
plan '[{"method":"PUT","path":"'$M'%2Bsegments/.+/00000008$","count":1,"action":"stall","stall":2}]'
cp "$T/huge" "$C/down" 2> "$T/down.err" &
cp_pid=$!
for _ in $(seq 1 100); do
	grep -q '/00000008 0 stall$' "$FP_LOG" && break
	sleep 0.1
done
t_check "swift proxy stopped" svc_stop proxy
wait "$cp_pid"
t_check "mount: cp fails while Swift is down" test $? -ne 0
t_check "mount: ... with an errno" grep -q "Input/output error\|timed out\|No route" "$T/down.err"
# the fault proxy answers 502 for every request Swift's proxy cannot take
dels=$(grep -cE '^(DELETE|POST) .* 502 upstream-down$' "$FP_LOG" || true)
t_check "mount: ... its cleanup tried one delete's retry budget, not one per segment ($dels)" \
	test "$dels" -ge 1 -a "$dels" -le 10
t_log_has "mount: ... the leftovers are logged once, for gc" \
	"[0-9]+ segments of '$M/down' left for 'trovefs gc'"
t_eq "mount: ... in one line" "$(grep -c "segments of '$M/down' left" "$LOG")" 1
t_check "swift restarted" sh -c "bash '$SVC' start '$SWIFT_DIR' > /dev/null 2>&1"
T_SWIFT_TOKEN=""
plan '[]'
t_check_fails "mount: ... no file after the restart" "No such file" stat "$C/down"
t_eq "mount: ... no object" "$(t_swift_curl -o /dev/null -w '%{http_code}' -I $M/down)" 404
t_eq "mount: ... no segments container shown" "$(ls "$MNT/containers" | grep -c segments)" 0
t_check "mount: works again after the restart" cp "$T/big" "$C/again"
t_eq "mount: ... reads back identical" "$(t_sha "$C/again")" "$BIGSHA"
# what the failed copy could not delete while Swift was down
left=$(t_swift_curl "$M%2Bsegments" | grep -c '^down/' || true)
t_check "mount: ... it left segments for gc ($left)" test "$left" -ge 2

# a daemon killed mid-copy
plan '[{"method":"PUT","path":"'$M'%2Bsegments/.+/00000004$","count":0,"action":"stall","stall":60}]'
cp "$T/huge" "$C/killed" 2> /dev/null &
cp_pid=$!
for _ in $(seq 1 100); do
	grep -q '/00000004 0 stall$' "$FP_LOG" && break
	sleep 0.1
done
t_kill9 "$cp_pid"
plan '[]'
killed=$(t_swift_curl "$M%2Bsegments" | grep -c '^killed/' || true)
t_check "kill -9 mid-copy left segments ($killed)" test "$killed" -ge 2
t_eq "... but no object" "$(t_swift_curl -o /dev/null -w '%{http_code}' -I $M/killed)" 404
t_mount || exit 1
t_eq "... segments are not shown as files" "$(ls "$C" | grep -c killed)" 0
t_eq "... nor their container" "$(ls "$MNT/containers" | grep -c segments)" 0
# a live object renamed into another container keeps its segments in mf+segments
O=o$RANDOM
mkdir "$MNT/containers/$O"
t_check "mv of an SLO to another container" mv "$C/again" "$MNT/containers/$O/moved"
live=$(nsegs $M)
t_umount
gc() { "$TROVEFS" gc -o "conf=$CONF" "$@"; }
gc swift:direct $M > "$T/gc1.out" 2>&1
t_check "gc: the grace period keeps fresh segments" grep -qx '0 segments removed' "$T/gc1.out"
gc --dry-run --grace=0 swift:direct $M > "$T/gc2.out" 2>&1
t_eq "gc --dry-run lists the orphans" \
	"$(grep -c '^'$M'+segments/\(killed\|down\)/' "$T/gc2.out")" "$((killed + left))"
t_eq "gc --dry-run lists nothing else" "$(grep -c '^'$M'+segments/' "$T/gc2.out")" "$((killed + left))"
t_eq "gc --dry-run removes nothing" "$(nsegs $M)" "$live"
gc --grace=0 swift:direct $M > "$T/gc3.out" 2>&1
t_check "gc removes them" grep -qx "$((killed + left)) segments removed" "$T/gc3.out"
t_eq "gc: ... they are gone" "$(nsegs $M)" "$((live - killed - left))"
t_eq "gc: ... a run over every container finds nothing more" \
	"$(gc --grace=0 swift:direct 2>&1 | tail -n 1)" "0 segments removed"
t_mount || exit 1
t_eq "gc: live objects read back identical" "$(t_sha "$C/big")" "$BIGSHA"
t_eq "gc: ... the moved one too" "$(t_sha "$MNT/containers/$O/moved")" "$BIGSHA"
t_eq "gc: ... and the one from before" "$(t_sha "$C/after-mc")" "$BIGSHA"
t_check "unmount" t_umount

# ---- a rename that fails half way leaves the source as it was and no
# second object: a source DELETE refused (403) after the copy was made
# undoes the copy (two manifests naming the same segments would each
# delete the other's data on rm), in both layouts; a refused manifest PUT
# leaves an object renamed onto (Trove's layout) whole
t_allow "rename of '.*' failed"
R=r$RANDOM
# head_code C/K - the HTTP status of a HEAD straight to Swift
head_code() { t_swift_curl -o /dev/null -w '%{http_code}' -I "$1"; }
# manifest_entries C/K - the entries of an SLO's manifest
manifest_entries() {
	t_swift_curl "$1?multipart-manifest=get" | grep -o '"name"' | grep -c . || true
}
for fmt in hidden trove; do
	opts=""
	[ $fmt = trove ] && opts="-o format=trove"
	# shellcheck disable=SC2086
	t_mount $opts || exit 1
	mkdir -p "$MNT/containers/$R"
	D=$MNT/containers/$R
	t_check "$fmt: cp to src" cp "$T/big" "$D/src-$fmt"
	t_check "$fmt: cp to dst" cp "$T/huge" "$D/dst-$fmt"
	plan '[{"method":"DELETE","path":"/'$R'/src-'$fmt'$","count":0,"status":403}]'
	t_check_fails "$fmt: mv fails when the source cannot be deleted" \
		"Permission denied" mv "$D/src-$fmt" "$D/new-$fmt"
	plan '[]'
	t_eq "$fmt: ... the source reads back" "$(t_sha "$D/src-$fmt")" "$BIGSHA"
	t_eq "$fmt: ... no copy is left" "$(head_code "$R/new-$fmt")" 404
	t_eq "$fmt: ... nor its segments" \
		"$(t_swift_curl "$R?prefix=new-$fmt" | grep -c . || true)" 0
	# the manifest PUT (Trove's layout) or the manifest copy (hidden)
	t_check "$fmt: cp to src2" cp "$T/big" "$D/src2-$fmt"
	plan '[{"method":"PUT","path":"/'$R'/dst-'$fmt'(\\?|$)","count":0,"status":403}]'
	t_check_fails "$fmt: mv onto dst fails when its manifest is refused" \
		"Permission denied" mv "$D/src2-$fmt" "$D/dst-$fmt"
	plan '[]'
	t_eq "$fmt: ... the source reads back" "$(t_sha "$D/src2-$fmt")" "$BIGSHA"
	t_eq "$fmt: ... dst reads back as before" "$(t_sha "$D/dst-$fmt")" \
		"$(t_sha "$T/huge")"
	if [ $fmt = trove ]; then
		t_eq "$fmt: ... with exactly its segments" \
			"$(t_swift_curl "$R?prefix=dst-${fmt}_" | grep -c .)" \
			"$(manifest_entries "$R/dst-$fmt")"
	fi
	t_check "$fmt: mv works again" mv "$D/src2-$fmt" "$D/dst-$fmt"
	t_eq "$fmt: ... and reads back" "$(t_sha "$D/dst-$fmt")" "$BIGSHA"
	t_check "$fmt: unmount" t_umount
done

# a server-side copy sends nothing until it is done: a rename of a
# foreign 10 MiB object whose copy answers after 4 s (the stall timeout is
# 2 s, the budget 4 s) waits for it rather than failing
t_mount || exit 1
t_data "$T/plain10" $((10 * 1048576)) plain10
t_swift_curl -f -o /dev/null -X PUT -T "$T/plain10" "$R/plain"
plan '[{"method":"PUT","path":"/'$R'/plain-moved$","count":0,"action":"delay","delay":4}]'
t_check "mv of a foreign object whose copy takes longer than the stall timeout" \
	mv "$MNT/containers/$R/plain" "$MNT/containers/$R/plain-moved"
t_eq "... the copy waited once" "$(faults delay)" 1
plan '[]'
t_eq "... it reads back" "$(t_sha "$MNT/containers/$R/plain-moved")" \
	"$(t_sha "$T/plain10")"
t_check "unmount" t_umount

# a wrong key file: EACCES, and the log names the account
sed -i "s|^key_file = $T/swift-key|key_file = $T/badkey|" "$CONF"
t_mount || exit 1
t_check_fails "mount: wrong key -> EACCES" "Permission denied" ls "$MNT/containers"
t_log_has "mount: ... the log names the account" "test:tester"
t_check "unmount" t_umount

t_done
