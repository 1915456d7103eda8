#!/bin/bash
# test_swift_layout.sh - objects in Trove's segment layout (format=trove:
# "<key>_%08d" segments and "<key>_m<level>-%08d" sub-manifests in the
# object's own container) replaced, renamed and overwritten unsuccessfully
# on a Swift whose SLO manifests take 10 entries, with 1 MiB segments, so
# 25 MiB is a nested manifest. After each step the object reads back and
# the container holds exactly the parts its manifests name: nothing of
# the object replaced is left, nothing of the live one is gone. Last, a
# copy cut short by kill -9: its parts are hidden and `trovefs gc`
# removes exactly them. Swift is
# Debian's, started by tests/services/swift.sh; exit 77 if it cannot run.
. "$(dirname "$0")/lib.sh"
export TROVEFS_TEST_SOURCE=swift
export SWIFT_SLO_MAX_SEGMENTS=10
t_init
t_mount -o format=trove || exit 1
C=$MNT/containers/tl
mkdir "$C" || exit 1
t_data "$T/src/a25" $((25 * 1048576 + 3)) aaa
t_data "$T/src/b25" $((25 * 1048576 + 5)) bbb
t_data "$T/src/c5" $((5 * 1048576 + 1)) ccc

# slo_parts K - the names of every part of the SLO tl/K, read from its
# manifests recursively, sorted (parts of tl only)
slo_parts() {
	t_swift_curl -o /dev/null tl
	SU=$SWIFT_STORAGE_URL TOK=$T_SWIFT_TOKEN /usr/bin/python3 - "tl/$1" 2>/dev/null <<'PY'
import json, os, sys, urllib.parse, urllib.request

def get(path):
    url = "%s/%s?multipart-manifest=get" % (os.environ["SU"],
                                            urllib.parse.quote(path))
    req = urllib.request.Request(url, headers={"X-Auth-Token": os.environ["TOK"]})
    return json.load(urllib.request.urlopen(req))

out = []
def walk(path):
    for e in get(path):
        name = e["name"].lstrip("/")
        out.append(name.split("/", 1)[1])
        if e.get("sub_slo"):
            walk(name)

walk(sys.argv[1])
print("\n".join(sorted(out)))
PY
}
# names K - what tl holds under "K_" (the parts of K in Trove's layout)
names() {
	t_swift_curl "tl?prefix=$1_"
}
# status K - the HTTP status of a GET of tl/K
status() {
	t_swift_curl -o /dev/null -w '%{http_code}' "tl/$1"
}
# reads K SRC - K reads back as SRC through the mount, with a cold cache
reads() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
	t_eq "$1 reads back" "$(t_sha "$C/$1" 2>&1)" "$(t_sha "$2")"
	t_eq "$1 is whole in Swift (GET)" "$(status "$1")" 200
}
# parts_only K - tl holds exactly the parts K's manifests name
parts_only() {
	local want
	want=$(slo_parts "$1")
	t_check "$1 is an SLO with parts" test -n "$want"
	t_eq "tl holds exactly the parts of $1" "$(names "$1")" "$want"
}

# ---- replacing an object: the new one stays whole, the old one goes
t_check "cp of 25 MiB (a nested manifest)" cp "$T/src/a25" "$C/obj"
reads obj "$T/src/a25"
parts_only obj
before=$(names obj)
t_check "cp of another 25 MiB over it" cp "$T/src/b25" "$C/obj"
reads obj "$T/src/b25"
parts_only obj
t_eq "the new parts reuse no name of the old ones" \
	"$(comm -12 <(printf '%s\n' "$before") <(names obj))" ""
t_check "cp of 5 MiB (a flat manifest) over it" cp "$T/src/c5" "$C/obj"
reads obj "$T/src/c5"
parts_only obj
t_check "cp of 25 MiB over the flat one" cp "$T/src/a25" "$C/obj"
reads obj "$T/src/a25"
parts_only obj

# ---- renames: the segments follow the name, nested manifests included,
# and an object renamed onto stays whole until it is replaced
t_check "cp of 25 MiB to n1" cp "$T/src/a25" "$C/n1"
t_check "mv n1 n2 (nested)" mv "$C/n1" "$C/n2"
reads n2 "$T/src/a25"
parts_only n2
t_eq "no part of n1 is left" "$(names n1)" ""
t_check "cp of 25 MiB to d" cp "$T/src/b25" "$C/d"
t_check "cp of 5 MiB to s" cp "$T/src/c5" "$C/s"
t_check "mv s d (flat onto nested)" mv "$C/s" "$C/d"
reads d "$T/src/c5"
parts_only d
t_eq "no part of s is left" "$(names s)" ""
t_check "mv n2 d (nested onto flat)" mv "$C/n2" "$C/d"
reads d "$T/src/a25"
parts_only d
t_eq "no part of n2 is left" "$(names n2)" ""
t_check "cp of 25 MiB to e" cp "$T/src/b25" "$C/e"
t_check "mv d e (nested onto nested)" mv "$C/d" "$C/e"
reads e "$T/src/a25"
parts_only e
t_eq "ls shows the objects only" "$(ls "$C" | tr '\n' ' ')" "e obj "
t_eq "tl holds nothing else" \
	"$(t_swift_curl tl | grep -vE '^(e|obj)(_|$)')" ""

# ---- an overwrite that fails (a backward seek: EOPNOTSUPP) after 3 MiB
# went up leaves the object it would have replaced as it was
t_allow "writing 'tl/old-.*' again at offset 0 .* is not supported"
for src in c5 a25; do
	t_check "cp of $src to old-$src" cp "$T/src/$src" "$C/old-$src"
	/usr/bin/python3 - "$C/old-$src" > "$T/py.out" 2>&1 <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, os.urandom(3 * 1048576 + 100))
os.lseek(fd, 0, os.SEEK_SET)
try:
    os.write(fd, b"x")
    print("write ok")
except OSError as e:
    print("write:", os.strerror(e.errno))
try:
    os.close(fd)
    print("close ok")
except OSError as e:
    print("close:", os.strerror(e.errno))
PY
	t_eq "the overwrite of old-$src fails" "$(tr '\n' ' ' < "$T/py.out")" \
		"write: Operation not supported close: Operation not supported "
	reads "old-$src" "$T/src/$src"
	parts_only "old-$src"
done

# ---- a daemon killed mid-copy: the parts it wrote are marked as one
# upload's (Content-Type), not shown, and `trovefs gc` removes exactly
# them - with a sub-manifest of theirs (one Trove-made nesting would
# have PUT), and nothing of a live object or of anyone's "x_00000001"
printf 'not a part\n' > "$T/foreign"
t_swift_curl -X PUT -T "$T/foreign" -o /dev/null tl/foreign_00000001
t_data "$T/src/k" $((3 * 1048576 + 512 * 1024)) kkk
/usr/bin/python3 - "$T/src/k" "$C/k" > /dev/null 2>&1 <<'PY' &
import sys, time
data = open(sys.argv[1], "rb").read()
fd = open(sys.argv[2], "wb", buffering=0)
fd.write(data)
time.sleep(120)  # held open until the daemon is killed
PY
writer=$!
for _ in $(seq 1 100); do
	[ "$(names k | grep -c .)" -ge 3 ] && break
	sleep 0.1
done
t_check "the copy's segments went up before the kill ($(names k | grep -c .))" \
	test "$(names k | grep -c .)" -ge 3
t_kill9 "$writer"
killed=$(names k | grep -c .)
t_eq "... but no object" "$(status k)" 404
marked=$(t_swift_curl "tl?format=json&prefix=k_" |
	grep -o '"content_type": *"application/x-trovefs-segment; *upload=[0-9a-f]\{32\}"' |
	sort -u | wc -l)
t_eq "... its parts are marked as one upload's" "$marked" 1
# a sub-manifest of those parts, as the writer PUTs before its top one
upload=$(t_swift_curl "tl?format=json&prefix=k_" |
	grep -o 'upload=[0-9a-f]\{32\}' | head -n 1)
man=$(t_swift_curl "tl?format=json&prefix=k_" | /usr/bin/python3 -c '
import json, sys
print(json.dumps([{"path": "/tl/" + e["name"], "etag": e["hash"],
                   "size_bytes": e["bytes"]} for e in json.load(sys.stdin)]))')
code=$(printf '%s' "$man" | t_swift_curl -X PUT -o /dev/null -w '%{http_code}' \
	-H "Content-Type: application/x-trovefs-segment; $upload" --data-binary @- \
	'tl/k_m0-00000000?multipart-manifest=put')
t_eq "... and a sub-manifest of theirs" "$code" 201
t_mount -o format=trove || exit 1
t_eq "ls shows no part of the killed copy, and anyone's x_00000001" \
	"$(ls "$C" | tr '\n' ' ')" "e foreign_00000001 obj old-a25 old-c5 "
t_umount
gc() { "$TROVEFS" gc -o "conf=$CONF" "$@"; }
gc swift:test tl > "$T/gc1.out" 2>&1
t_check "gc: the grace period keeps fresh parts" grep -qx '0 segments removed' "$T/gc1.out"
gc --dry-run --grace=0 swift:test tl > "$T/gc2.out" 2>&1
t_eq "gc --dry-run lists the killed copy's parts and its sub-manifest" \
	"$(grep -c '^tl/k_' "$T/gc2.out")" "$((killed + 1))"
t_eq "gc --dry-run lists nothing else" "$(grep -c '^tl' "$T/gc2.out")" "$((killed + 1))"
t_eq "gc --dry-run removes nothing" "$(names k | grep -c .)" "$((killed + 1))"
gc --grace=0 swift:test tl > "$T/gc3.out" 2>&1
t_check "gc removes them" \
	grep -qx "$((killed + 1)) segments removed" "$T/gc3.out"
t_eq "gc: nothing of the killed copy is left" "$(names k)" ""
t_eq "gc: anyone's x_00000001 is left" "$(status foreign_00000001)" 200
t_mount -o format=trove || exit 1
for k in e obj old-a25 old-c5; do
	parts_only "$k"
done
reads e "$T/src/a25"
reads obj "$T/src/a25"
reads old-a25 "$T/src/a25"

t_check "unmount" t_umount
t_done
