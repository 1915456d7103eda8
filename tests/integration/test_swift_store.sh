#!/usr/bin/env bash
# test_swift_store.sh - the Swift store against a real Swift (Debian's,
# started by tests/services/swift.sh in a temp dir), through
# tests/tools/swift_tool: no FUSE yet. Checks are verified with curl on the
# server side. Prints "ok - ..." / "not ok - ..." lines and
# "N passed, N failed"; exit 77 (skip) if Swift cannot be run here.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TROVEFS_BUILD=${TROVEFS_BUILD:-$ROOT/build}
TOOL=${SWIFT_TOOL:-$TROVEFS_BUILD/tests/tools/swift_tool}
SVC=$ROOT/tests/services/swift.sh
PASS=0
FAIL=0

[ -x "$TOOL" ] || { echo "not ok - no $TOOL (make tools)"; exit 1; }
command -v curl >/dev/null || { echo "SKIP: no curl"; exit 77; }

T=$(mktemp -d /tmp/trovefs-swift.XXXXXX)
# Swift's data on tmpfs when possible: the object server fsyncs every
# PUT, and 10,050 of them on disk take over a minute
SD=$(mktemp -d /dev/shm/trovefs-swift.XXXXXX 2>/dev/null) || SD=$T/swift
cleanup() {
	bash "$SVC" stop "$SD" >/dev/null 2>&1 || true
	rm -rf "$T" "$SD"
}
trap cleanup EXIT

env_out=$(bash "$SVC" start "$SD" 2>"$T/swift-start.log")
rc=$?
if [ $rc -eq 77 ]; then
	tail -n 20 "$T/swift-start.log" >&2
	echo "SKIP test_swift_store: $(grep SKIP "$T/swift-start.log" | tail -n1)"
	exit 77
elif [ $rc -ne 0 ]; then
	cat "$T/swift-start.log"
	echo "not ok - swift did not start"
	exit 1
fi
eval "$env_out"

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
nok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
# check NAME EXPECTED ACTUAL
check() {
	if [ "$2" = "$3" ]; then ok "$1"; else nok "$1: expected [$2] got [$3]"; fi
}

(umask 077 && printf '%s\n' "$SWIFT_KEY" >"$T/key" &&
	printf 'wrong\n' >"$T/badkey")
CONF=$T/swift.conf
cat >"$CONF" <<EOF
[swift:test]
auth_url = $SWIFT_AUTH_URL
auth_version = 1
user = $SWIFT_USER
key_file = $T/key
segment_size = 1M
parallel = 3
retry_budget = 10
EOF
st() { "$TOOL" "$CONF" "$@"; }

TOK=$(curl -s -D - -o /dev/null -H "X-Auth-User: $SWIFT_USER" \
	-H "X-Auth-Key: $SWIFT_KEY" "$SWIFT_AUTH_URL" | tr -d '\r' |
	sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
# raw URL of container/object (already encoded by the caller)
raw() { curl -s -H "X-Auth-Token: $TOK" "$@"; }

C=c1
check "create container" "" "$(st mkc $C 2>&1)"
check "create existing container -> EEXIST" 1 "$(st mkc $C >/dev/null 2>&1; echo $?)"
st mkc $C 2>&1 | grep -q EEXIST && ok "EEXIST named" || nok "EEXIST named"

# ---- small object
printf 'hello world\n' >"$T/small"
st put $C small mtime=1700000000.000000001 mode=644 <"$T/small"
check "small put/get identical" "$(md5sum <"$T/small")" "$(st get $C small | md5sum)"
check "small head" "12 mtime=1700000000.000000001 mode=644" "$(st head $C small)"
check "small listing carries meta" "small 12 full mtime=1700000000.000000001 mode=644" \
	"$(st ls $C small)"
check "small stored as one object" "" \
	"$(raw -I "$SWIFT_STORAGE_URL/$C/small" | tr -d '\r' | grep -i '^x-static-large-object')"
check "empty object" "0" "$(st put $C empty </dev/null && st head $C empty)"

# ---- SLO: 5 MiB in 1 MiB segments
head -c $((5 * 1048576 + 12345)) /dev/urandom >"$T/big"
st put $C big mode=600 <"$T/big"
check "SLO put/get identical" "$(md5sum <"$T/big")" "$(st get $C big | md5sum)"
check "SLO is a static large object" "True" \
	"$(raw -I "$SWIFT_STORAGE_URL/$C/big" | tr -d '\r' | sed -n 's/^x-static-large-object: //Ip')"
check "SLO segments in hidden container" 6 "$(raw "$SWIFT_STORAGE_URL/$C+segments" | grep -c .)"
check "SLO listing size" "big $((5 * 1048576 + 12345)) full mode=600" "$(st ls $C big)"
check "segments container not listed" "" "$(st lsc | grep -F '+segments')"
check "range read across segments" \
	"$(dd if="$T/big" bs=1 skip=1048570 count=20 2>/dev/null | md5sum)" \
	"$(raw -H 'Range: bytes=1048570-1048589' "$SWIFT_STORAGE_URL/$C/big" | md5sum)"

# ---- exactly one segment stays a plain object
head -c 1048576 /dev/urandom >"$T/one"
st put $C one <"$T/one"
check "exactly segment_size is one PUT" "" \
	"$(raw -I "$SWIFT_STORAGE_URL/$C/one" | tr -d '\r' | grep -i '^x-static-large-object')"
check "one-segment get identical" "$(md5sum <"$T/one")" "$(st get $C one | md5sum)"

# ---- awkward names
for name in "a b.txt" "caf$(printf '\xc3\xa9') $(printf '\xf0\x9f\x98\x80').txt" \
	"100%.txt" "q?x=1&y=2" "hash#tag" "amp&and+plus" "dir with space/f;x"; do
	printf '%s' "$name" | st put $C "$name" mode=644
	check "name '$name' round trip" "$name" "$(st get $C "$name")"
	check "name '$name' listed" "$name 1" \
		"$(st ls $C "$name" | sed "s/ [0-9]* full.*//;s/^\(.*\)$/\1 1/" | head -n1)"
	st rm $C "$name" && ok "name '$name' deleted" || nok "name '$name' deleted"
done

# ---- delimiter / subdirs
for k in d/a d/b d/sub/x d/sub/y d/sub2/z top; do
	printf x | st put $C "$k"
done
printf '' | st put $C "d/marker/"
check "delimiter at root" "big d/ empty one small top" \
	"$(st ls $C "" / | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
check "delimiter under d/" "d/a d/b d/marker/ d/sub/ d/sub2/" \
	"$(st ls $C d/ / | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
check "subdir entries flagged" "d/sub/ subdir" "$(st ls $C d/ / | grep '^d/sub/ ')"
check "marker listed as object" "d/marker/ 0 full" "$(st ls $C d/marker/ /)"

# ---- foreign object: listing partial, HEAD has X-Object-Meta-Mtime
printf 'foreign' | raw -X PUT -T - -H 'X-Object-Meta-Mtime: 1600000000.5' \
	-H 'Content-Type: text/plain' "$SWIFT_STORAGE_URL/$C/foreign" -o /dev/null
check "foreign object listed as partial" "foreign 7 partial" "$(st ls $C foreign)"
check "foreign object head has mtime" "7 mtime=1600000000.5" "$(st head $C foreign)"

# ---- set_meta keeps content
st setmeta $C big mode=640 mtime=5
check "set_meta on SLO keeps data" "$(md5sum <"$T/big")" "$(st get $C big | md5sum)"
check "set_meta replaces meta" "$((5 * 1048576 + 12345)) mode=640 mtime=5" "$(st head $C big)"
check "set_meta listing" "big $((5 * 1048576 + 12345)) full mode=640 mtime=5" "$(st ls $C big)"
st setmeta $C small mode=600
check "set_meta on small keeps data" "$(md5sum <"$T/small")" "$(st get $C small | md5sum)"
check "set_meta missing -> ENOENT" 1 "$(st setmeta $C nope mode=1 2>/dev/null; echo $?)"

# ---- rename
st mv $C small $C small2
check "rename small: data" "$(md5sum <"$T/small")" "$(st get $C small2 | md5sum)"
check "rename small: meta" "12 mode=600" "$(st head $C small2)"
check "rename small: source gone" 1 "$(st head $C small >/dev/null 2>&1; echo $?)"
st mv $C big $C big2
check "rename SLO: data" "$(md5sum <"$T/big")" "$(st get $C big2 | md5sum)"
check "rename SLO: still an SLO" "True" \
	"$(raw -I "$SWIFT_STORAGE_URL/$C/big2" | tr -d '\r' | sed -n 's/^x-static-large-object: //Ip')"
check "rename SLO: segments kept" 6 "$(raw "$SWIFT_STORAGE_URL/$C+segments" | grep -c .)"
check "rename missing -> ENOENT" 1 "$(st mv $C nope $C nope2 2>/dev/null; echo $?)"

# ---- overwrite an SLO: old segments go
st put $C big2 <"$T/small"
check "overwrite SLO: new data" "$(md5sum <"$T/small")" "$(st get $C big2 | md5sum)"
check "overwrite SLO: old segments deleted" 0 "$(raw "$SWIFT_STORAGE_URL/$C+segments" | grep -c .)"

# ---- delete of an SLO removes its segments
st put $C big3 <"$T/big"
check "second SLO segments" 6 "$(raw "$SWIFT_STORAGE_URL/$C+segments" | grep -c .)"
st rm $C big3
check "delete SLO: object gone" 1 "$(st head $C big3 >/dev/null 2>&1; echo $?)"
check "delete SLO: segments gone" 0 "$(raw "$SWIFT_STORAGE_URL/$C+segments" | grep -c .)"
check "delete missing -> ENOENT" 1 "$(st rm $C big3 2>/dev/null; echo $?)"

# ---- commit atomicity: abort leaves nothing
st put-abort $C aborted <"$T/big"
check "abort: no object" 1 "$(st head $C aborted >/dev/null 2>&1; echo $?)"
check "abort: no segments" 0 "$(raw "$SWIFT_STORAGE_URL/$C+segments" | grep -c .)"
check "writer on missing container -> ENOENT" 1 \
	"$(st put nocontainer x </dev/null 2>/dev/null; echo $?)"

# ---- containers
check "delete non-empty container -> ENOTEMPTY" "ENOTEMPTY" \
	"$(st rmc $C 2>&1 | grep -o ENOTEMPTY)"
st mkc empty1
check "delete empty container" "" "$(st rmc empty1 2>&1)"
check "delete missing container -> ENOENT" "ENOENT" "$(st rmc empty1 2>&1 | grep -o ENOENT)"

# ---- listing with pagination: 10,050 objects (bulk extract of a tar)
L=many
st mkc $L
# four archives at once keep proxy, object and container servers busy
for part in 1 2 3 4; do
	mkdir -p "$T/tar$part/a" "$T/tar$part/b"
done
(for i in $(seq 1 5025); do
	part=$((i % 4 + 1))
	: >"$T/tar$part/a/$(printf '%05d' "$i")"
	: >"$T/tar$part/b/$(printf '%05d' "$i")"
done)
start=$SECONDS
for part in 1 2 3 4; do
	tar -C "$T/tar$part" -cf "$T/many$part.tar" a b
	raw -X PUT -T "$T/many$part.tar" -H 'Accept: application/json' \
		"$SWIFT_STORAGE_URL/$L?extract-archive=tar" -o "$T/extract$part.json" &
done
wait
echo "# bulk upload of 10050 objects took $((SECONDS - start)) s"
check "bulk created 10050" 10050 "$(cat "$T"/extract?.json |
	grep -o '"Number Files Created": [0-9]*' | awk '{s += $NF} END {print s}')"
check "paginated listing of 10050" 10050 "$(st ls $L | wc -l)"
check "paginated listing sorted, unique" 10050 "$(st ls $L | awk '{print $1}' | sort -u | wc -l)"
check "prefix listing" 5025 "$(st ls $L b/ | wc -l)"
check "delimiter listing of many" "a/ subdir|b/ subdir" "$(st ls $L "" / | paste -sd'|')"

# ---- statfs from account headers (the updater catches up in ~1 s)
for i in $(seq 1 30); do
	sf=$(st statfs)
	[ "$(echo "$sf" | awk '{print $2}')" -ge 10050 ] 2>/dev/null && break
	sleep 0.5
done
check "statfs objects" 1 "$(echo "$sf" | awk '{print ($2 >= 10050 && $1 > 0) ? 1 : 0}')"
# only a reseller admin may set an account's quota
ATOK=$(curl -s -D - -o /dev/null -H 'X-Auth-User: admin:admin' \
	-H 'X-Auth-Key: admin' "$SWIFT_AUTH_URL" | tr -d '\r' |
	sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
curl -s -o /dev/null -X POST -H "X-Auth-Token: $ATOK" \
	-H 'X-Account-Meta-Quota-Bytes: 1000000000' "$SWIFT_STORAGE_URL"
sf=$(st statfs)
check "statfs total from quota" 1000000000 "$(echo "$sf" | awk '{print $3}')"

# ---- errors of authentication
sed "s|key_file = .*|key_file = $T/badkey|" "$CONF" >"$T/bad.conf"
check "wrong key -> EACCES" "EACCES" "$("$TOOL" "$T/bad.conf" lsc 2>&1 | grep -o 'EACCES' | head -n1)"
sed "s|auth_url = .*|auth_url = http://127.0.0.1:1/auth/v1.0|; s|retry_budget = .*|retry_budget = 0|" \
	"$CONF" >"$T/down.conf"
check "auth server down -> EHOSTUNREACH" "EHOSTUNREACH" \
	"$("$TOOL" "$T/down.conf" lsc 2>&1 | grep -o 'EHOSTUNREACH' | head -n1)"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
