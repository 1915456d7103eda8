#!/bin/bash
# test_swift_interop.sh - trovefs and the other Swift tools share objects:
# what `swift upload` (plain, --use-slo, a DLO) and `rclone copy` stored
# reads back through containers/ byte-identical, with its size and
# X-Object-Meta-Mtime in ls -l; a file written with format=trove is a
# valid Trove backup (curl | openssl enc -d | gunzip; "<name>_%08d"
# segments in the same container, hidden from listings; the SLO ETag);
# objects made by Trove's own shell pipeline, a DLO included, read back
# raw; touch and chmod keep what other tools' objects carry; rm of an
# SLO tells what Swift could not delete. Swift is Debian's, started by
# tests/services/swift.sh; exit 77 if it, python3-swiftclient or rclone
# cannot be installed.
. "$(dirname "$0")/lib.sh"
export TROVEFS_TEST_SOURCE=swift

need_pkgs() {
	local missing=""
	[ -x /usr/bin/swift ] || missing="$missing python3-swiftclient"
	command -v rclone >/dev/null || missing="$missing rclone"
	[ -z "$missing" ] && return 0
	[ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null ||
		t_skip "missing:$missing"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
		install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
		t_skip "apt-get install$missing failed"
}
need_pkgs
t_init
export ST_AUTH=$SWIFT_AUTH_URL ST_USER=$SWIFT_USER ST_KEY=$SWIFT_KEY
export RCLONE_CONFIG_SW_TYPE=swift RCLONE_CONFIG_SW_AUTH=$SWIFT_AUTH_URL \
	RCLONE_CONFIG_SW_USER=$SWIFT_USER RCLONE_CONFIG_SW_KEY=$SWIFT_KEY \
	RCLONE_CONFIG_SW_AUTH_VERSION=1
# the swift CLI is Debian's python (pyenv's python3 cannot import it)
SWIFT_CLI="/usr/bin/python3 /usr/bin/swift"
C=$MNT/containers/ic

# ---- objects other tools uploaded
cd "$T/src" || exit 1
t_data plain.bin 3000000 plain
t_data slo.bin $((3 * 1048576 + 17)) slo
t_data dlo.bin $((2 * 1048576 + 5)) dlo
t_data rc.bin 1500000 rc
touch -d '2019-05-06 07:08:09' plain.bin slo.bin dlo.bin rc.bin
t_check "swift upload (plain)" $SWIFT_CLI upload ic plain.bin
t_check "swift upload --use-slo --segment-size" \
	$SWIFT_CLI upload ic slo.bin --use-slo --segment-size 1048576
t_check "swift upload --segment-size (a DLO)" \
	$SWIFT_CLI upload ic dlo.bin --segment-size 1048576
t_check "rclone copy to a swift remote" rclone copy rc.bin sw:ic/rc
cd / || exit 1
t_eq "the DLO is listed with 0 bytes by Swift" \
	"$(t_swift_curl 'ic?format=json&prefix=dlo' | grep -o '"bytes": *[0-9]*' | head -n1 | tr -d ' ')" '"bytes":0'

t_mount || exit 1
for f in plain.bin slo.bin dlo.bin rc/rc.bin; do
	src=$T/src/$(basename "$f")
	t_eq "$f reads back byte-identical" "$(t_sha "$C/$f")" "$(t_sha "$src")"
	t_eq "$f has its size in ls -l" "$(stat -c %s "$C/$f")" "$(stat -c %s "$src")"
	t_eq "$f has its X-Object-Meta-Mtime as mtime" \
		"$(stat -c %Y "$C/$f")" "$(stat -c %Y "$src")"
done
t_eq "ls -l of the container" "$(ls "$C" | tr '\n' ' ')" "dlo.bin plain.bin rc slo.bin "

# ---- format=trove: a valid Trove backup
t_check "unmount" t_umount
t_mount -o format=trove || exit 1
t_text "$T/src/t-small" 2000
t_data "$T/src/t-big" $((3 * 1048576 + 333)) tbig
t_check "cp of a small file (format=trove)" cp "$T/src/t-small" "$C/t-small"
t_check "cp of a file larger than segment_size (format=trove)" cp "$T/src/t-big" "$C/t-big"
trove_decode() {
	t_swift_curl -f "ic/$1" |
		openssl enc -d -aes-256-cbc -md sha256 -pass "file:$KEY" 2>/dev/null |
		gunzip
}
t_eq "curl | openssl enc -d | gunzip gives the small file" \
	"$(trove_decode t-small | sha256sum | cut -d' ' -f1)" "$(t_sha "$T/src/t-small")"
t_eq "curl | openssl enc -d | gunzip gives the large file" \
	"$(trove_decode t-big | sha256sum | cut -d' ' -f1)" "$(t_sha "$T/src/t-big")"
t_eq "both read back through the mount" \
	"$(t_sha "$C/t-small") $(t_sha "$C/t-big")" \
	"$(t_sha "$T/src/t-small") $(t_sha "$T/src/t-big")"
segs=$(t_swift_curl 'ic?prefix=t-big_')
t_eq "its segments are t-big_%08d in the same container" \
	"$(printf '%s\n' "$segs" | grep -cxE 't-big_[0-9]{8}')" 4
t_eq "and only those" "$(printf '%s\n' "$segs" | grep -c .)" 4
t_swift_curl 'ic/t-big?multipart-manifest=get' > "$T/manifest.json"
want=$(/usr/bin/python3 -c '
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
print("\"%s\"" % hashlib.md5("".join(s["hash"] for s in m).encode()).hexdigest())
' "$T/manifest.json")
t_eq "its ETag is the SLO ETag (md5 of the segment md5s)" \
	"$(t_swift_curl -I ic/t-big | tr -d '\r' | sed -n 's/^etag: //Ip')" "$want"
t_eq "its segments are not listed in the mount" \
	"$(ls "$C" | grep -c '^t-big_')" 0
t_eq "ls -l shows the plain size" "$(stat -c %s "$C/t-big")" "$(stat -c %s "$T/src/t-big")"
# rsync writes ".r-big.XXXXXX" and renames it: the segments follow
mkdir -p "$T/src/rs"
t_data "$T/src/rs/r-big" $((2 * 1048576 + 5)) rbig
t_check "rsync of a large file (format=trove)" rsync -a "$T/src/rs/" "$C/"
t_eq "its segments are named after the final name" \
	"$(t_swift_curl 'ic?prefix=r-big_' | grep -cxE 'r-big_[0-9]{8}')" 3
t_eq "no segment of rsync's temp name is left" \
	"$(t_swift_curl 'ic?prefix=.r-big' | grep -c .)" 0
t_eq "it decrypts with openssl + gunzip" \
	"$(trove_decode r-big | sha256sum | cut -d' ' -f1)" "$(t_sha "$T/src/rs/r-big")"
t_eq "it reads back through the mount" "$(t_sha "$C/r-big")" "$(t_sha "$T/src/rs/r-big")"
# Trove's format has no index: a read behind the decoder restarts it. The
# kernel's read-ahead sends several reads at once and FUSE threads deliver
# them out of order; the reads overtaken must not restart the decoder
t_data "$T/src/t-48" $((48 * 1048576)) t48
t_check "cp of a 48 MiB file (format=trove)" cp "$T/src/t-48" "$C/t-48"
t_check "unmount" t_umount
t_mount -o format=trove,log_level=debug || exit 1
t_allow 'debug: '
t_check "it reads back through the mount, cold" cmp "$C/t-48" "$T/src/t-48"
t_eq "without decoding again from the start" \
	"$(grep -c "decoding again from the start" "$LOG")" 0
rm -f "$C/t-48" "$T/src/t-48"

# ---- objects Trove's shell pipeline made: shown raw, as stored
t_text "$T/src/db.sql" 30000
gzip -c "$T/src/db.sql" |
	openssl enc -aes-256-cbc -salt -md sha256 -pass "file:$KEY" 2>/dev/null |
	t_swift_curl -f -o /dev/null -X PUT -T - ic/trove-single.gz.enc
gzip -c "$T/src/db.sql" |
	openssl enc -aes-256-cbc -salt -md sha256 -pass "file:$KEY" 2>/dev/null > "$T/dlo.enc"
split -b 100000 -d -a 8 "$T/dlo.enc" "$T/dlo.part."
i=1
for p in "$T"/dlo.part.*; do
	t_swift_curl -f -o /dev/null -X PUT -T "$p" "ic/trove-dlo.gz.enc_$(printf '%08d' $i)"
	i=$((i + 1))
done
t_swift_curl -f -o /dev/null -X PUT -H 'X-Object-Manifest: ic/trove-dlo.gz.enc_' \
	--data-binary '' ic/trove-dlo.gz.enc
# the guest agent's own SLO layout: segments named after the backup id (a
# UUID), the name up to its first dot ("<id>_%08d" by "<id>.xbstream.gz.enc")
TA=5b0e1c7a-2f4d-4e8b-9c1a-7d3e5f6a8b9c
i=0
mf=""
for p in "$T"/dlo.part.*; do
	seg=${TA}_$(printf '%08d' $i)
	t_swift_curl -f -o /dev/null -X PUT -T "$p" "ic/$seg"
	mf="$mf${mf:+,}{\"path\": \"/ic/$seg\", \"etag\": \"$(md5sum < "$p" | cut -d' ' -f1)\", \"size_bytes\": $(stat -c %s "$p")}"
	i=$((i + 1))
done
t_swift_curl -f -o /dev/null -X PUT --data-binary "[$mf]" \
	"ic/$TA.xbstream.gz.enc?multipart-manifest=put"
t_eq "the agent's segments (<id>_*) are not listed" \
	"$(ls "$C" | grep -c "^$TA")" 1
for o in trove-single.gz.enc trove-dlo.gz.enc $TA.xbstream.gz.enc; do
	t_eq "$o reads back as a curl GET gives it" \
		"$(t_sha "$C/$o")" "$(t_swift_curl -f "ic/$o" | sha256sum | cut -d' ' -f1)"
	t_eq "$o has the size of the GET in ls -l" "$(stat -c %s "$C/$o")" \
		"$(t_swift_curl -f "ic/$o" | wc -c)"
	t_eq "$o decrypts to the dump" \
		"$(openssl enc -d -aes-256-cbc -md sha256 -pass "file:$KEY" < "$C/$o" 2>/dev/null |
			gunzip | sha256sum | cut -d' ' -f1)" \
		"$(t_sha "$T/src/db.sql")"
done
# ---- touch and chmod of objects other tools made: a Swift POST replaces
# X-Object-Manifest, Content-Type, Content-Encoding, X-Delete-At and all
# X-Object-Meta-*, so trovefs repeats what it does not change
hdr() {
	t_swift_curl -I "$1" | tr -d '\r' | sed -n "s/^$2: //Ip"
}
t_swift_curl -f -o /dev/null -X PUT ic_segs
printf 'hello ' | t_swift_curl -f -o /dev/null -X PUT --data-binary @- ic_segs/d/1
printf 'world' | t_swift_curl -f -o /dev/null -X PUT --data-binary @- ic_segs/d/2
t_swift_curl -f -o /dev/null -X PUT -H 'X-Object-Manifest: ic_segs/d/' \
	--data-binary '' ic/m-dlo
printf 'not really gzip' | t_swift_curl -f -o /dev/null -X PUT \
	-H 'Content-Type: text/csv' -H 'Content-Encoding: gzip' \
	-H 'Content-Disposition: attachment' -H 'X-Delete-At: 4102444800' \
	-H 'X-Object-Meta-Foo_Bar: keep me' -H 'X-Object-Meta-Note: café' \
	--data-binary @- ic/m-plain
# names another client stores show once the mount's last complete listing
# of the directory is 1 s old (docs/SWIFT.md, "Listings and stat"); until
# then a create that would open an existing file asks for the name, so
# touch or >> of an object stored meanwhile does not replace it
ls "$C" > /dev/null
printf 'theirs' | t_swift_curl -f -o /dev/null -X PUT --data-binary @- ic/t-new
t_check "touch of an object stored right after a listing" touch "$C/t-new"
t_eq "keeps its bytes" "$(t_swift_curl -f ic/t-new)" "theirs"
printf 'theirs' | t_swift_curl -f -o /dev/null -X PUT --data-binary @- ic/t-app
printf ' ours' >> "$C/t-app"
t_eq ">> to one appends" "$(cat "$C/t-app")" "theirs ours"
rm -f "$C/t-new" "$C/t-app"
sleep 1.2
t_check "touch -d of a DLO" touch -d '2020-01-01 00:00:00 UTC' "$C/m-dlo"
t_eq "the DLO keeps its X-Object-Manifest" "$(hdr ic/m-dlo x-object-manifest)" \
	"ic_segs/d/"
t_eq "the DLO still reads its segments" "$(t_swift_curl -f ic/m-dlo)" "hello world"
t_eq "the DLO has the new mtime" "$(stat -c %Y "$C/m-dlo")" 1577836800
t_check "chmod 600 of an object with system metadata" chmod 600 "$C/m-plain"
t_eq "it keeps its Content-Type" "$(hdr ic/m-plain content-type)" "text/csv"
t_eq "it keeps its Content-Encoding" "$(hdr ic/m-plain content-encoding)" "gzip"
t_eq "it keeps its Content-Disposition" \
	"$(hdr ic/m-plain content-disposition)" "attachment"
t_eq "it keeps its X-Delete-At" "$(hdr ic/m-plain x-delete-at)" "4102444800"
t_eq "it keeps metadata trovefs cannot hold (foreign key, UTF-8)" \
	"$(hdr ic/m-plain x-object-meta-foo-bar)|$(hdr ic/m-plain x-object-meta-note)" \
	"keep me|café"
t_eq "it has the new mode" "$(stat -c %a "$C/m-plain")" 600
t_eq "it reads as before" "$(cat "$C/m-plain")" "not really gzip"

# a file this mount has just stored is renamed without a HEAD of it (the
# Swift store remembers its one PUT for 5 s). Another client made it an
# SLO meanwhile: the COPY asks for the manifest all the same, so the new
# name is their SLO and their segments stay (docs/SWIFT.md "Renames")
printf 'part one ' | t_swift_curl -f -o /dev/null -X PUT --data-binary @- ic_segs/r1
printf 'part two' | t_swift_curl -f -o /dev/null -X PUT --data-binary @- ic_segs/r2
echo ours > "$C/just-put"
t_swift_curl -f -o /dev/null -X PUT --data-binary \
	'[{"path": "/ic_segs/r1"}, {"path": "/ic_segs/r2"}]' \
	'ic/just-put?multipart-manifest=put'
h0=$(grep -c "HEAD /v1/AUTH_test/ic/just-put " "$SWIFT_DIR/log/proxy.log")
t_check "mv of a file just stored, since made an SLO by another client" \
	mv "$C/just-put" "$C/moved"
t_eq "sends no HEAD of it" \
	"$(($(grep -c "HEAD /v1/AUTH_test/ic/just-put " "$SWIFT_DIR/log/proxy.log") - h0))" 0
t_eq "the new name is their SLO" "$(hdr ic/moved x-static-large-object)" True
t_eq "with their bytes" "$(t_swift_curl -f ic/moved)" "part one part two"
t_eq "the old name is gone" \
	"$(t_swift_curl -o /dev/null -w '%{http_code}' -I ic/just-put)" 404
t_eq "their segments stay" "$(t_swift_curl -f ic_segs/r1)" "part one "

# an SLO whose first segment is gone: Swift answers its GET 409, which is
# an I/O error on a file (ENOTEMPTY is for a container that is not empty)
printf 'first' | t_swift_curl -f -o /dev/null -X PUT --data-binary @- ic_segs/b1
printf 'second' | t_swift_curl -f -o /dev/null -X PUT --data-binary @- ic_segs/b2
t_swift_curl -f -o /dev/null -X PUT --data-binary \
	'[{"path": "/ic_segs/b1"}, {"path": "/ic_segs/b2"}]' \
	'ic/broken?multipart-manifest=put'
t_swift_curl -f -o /dev/null -X DELETE ic_segs/b1
sleep 1.2 # as above
t_allow "swift GET 'ic/broken': HTTP 409"
t_check_fails "an SLO missing a segment reads EIO" "Input/output error" \
	cat "$C/broken"
t_check "unmount" t_umount

# ---- rm of an SLO: DELETE ?multipart-manifest=delete answers 200 even
# when deletes inside it fail (the first failure's status is the errno). test:tester3 may write ic_rw and only
# read ic_ro: its rm of an SLO in ic_rw with a segment in ic_ro deletes
# the manifest and leaves that segment (logged); its rm of an SLO in
# ic_ro fails, and the object stays
for c in ic_rw ic_ro; do
	acl=(-H 'X-Container-Read: test:tester3')
	[ $c = ic_rw ] && acl+=(-H 'X-Container-Write: test:tester3')
	t_swift_curl -f -o /dev/null -X PUT "${acl[@]}" $c
	printf '%s segment' $c | t_swift_curl -f -o /dev/null -X PUT --data-binary @- $c/seg
done
t_swift_curl -f -o /dev/null -X PUT --data-binary \
	'[{"path": "/ic_ro/seg"}, {"path": "/ic_rw/seg"}]' \
	'ic_rw/leaky?multipart-manifest=put'
t_swift_curl -f -o /dev/null -X PUT --data-binary '[{"path": "/ic_ro/seg"}]' \
	'ic_ro/stuck?multipart-manifest=put'
(umask 077 && echo testing3 > "$T/swift-key3" &&
	printf '[swift:ro]\nauth_url = %s\nuser = test:tester3\nkey_file = %s\n' \
		"$SWIFT_AUTH_URL" "$T/swift-key3" >> "$CONF")
t_mount swift:ro || exit 1
t_allow "swift DELETE 'ic_ro/stuck'|cannot delete 'ic_ro/stuck'"
t_allow "deleted 'ic_rw/leaky', but not all of its segments"
t_check_fails "rm of an SLO whose manifest the user may not delete: EACCES" \
	"Permission denied" rm "$MNT/containers/ic_ro/stuck"
t_eq "... and it is still there" \
	"$(t_swift_curl -o /dev/null -w '%{http_code}' -I ic_ro/stuck)" 200
t_check "rm of an SLO with a segment Swift does not delete" \
	rm "$MNT/containers/ic_rw/leaky"
t_eq "... removes it" \
	"$(t_swift_curl -o /dev/null -w '%{http_code}' -I ic_rw/leaky)" 404
t_log_has "... and says what is left" \
	"deleted 'ic_rw/leaky', but not all of its segments: .*ic_ro/seg"
t_check "unmount" t_umount
t_done
