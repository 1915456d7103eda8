#!/bin/sh
# test_trove_cli.sh - proves that backends/trove_codec.c reads and writes
# what OpenStack Trove's "gzip | openssl enc -aes-256-cbc" pipeline does,
# in both directions, against the real openssl and gzip tools.
#
# Uses $TROVEFS_BUILD/tests/tools/trove_tool (default ./build). Prints one
# "ok - ..." / "not ok - ..." line per check and "N passed, M failed" at
# the end; exits 0 only if every check passed. No FUSE, no root needed.
set -eu

BUILD=${TROVEFS_BUILD:-./build}
TOOL=$BUILD/tests/tools/trove_tool

for t in openssl gzip cmp; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "not ok - '$t' not found (make deps installs it)"
		echo "0 passed, 1 failed"
		exit 1
	fi
done
if [ ! -x "$TOOL" ]; then
	echo "not ok - '$TOOL' not built (make tools)"
	echo "0 passed, 1 failed"
	exit 1
fi

STATE=$(mktemp -d "${TMPDIR:-/tmp}/trove-cli.XXXXXX")
trap 'rm -rf "$STATE"' EXIT
trap 'exit 1' INT TERM HUP

passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}

not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1"
}

# The passphrase files: openssl -pass file: and trove_tool read line one.
printf 'correct horse battery staple\n' >"$STATE/key"
printf 'not the passphrase\n' >"$STATE/wrong"
chmod 0600 "$STATE/key" "$STATE/wrong"

# Inputs: empty, one byte, 1 MiB random, about 5 MiB compressible text.
: >"$STATE/empty"
printf 'x' >"$STATE/byte"
head -c 1048576 /dev/urandom >"$STATE/random"
awk 'BEGIN { for (i = 0; i < 100000; i++)
	printf "row %d of the backup, value %d, trove says hello\n", i, i % 97 }' \
	>"$STATE/text"
INPUTS="empty byte random text"

# openssl's option words for each trove_tool variant.
ossl_md() {
	case $1 in
	md5) echo "-md md5" ;;
	sha256) echo "-md sha256" ;;
	pbkdf2) echo "-pbkdf2 -iter 10000 -md sha512" ;;
	esac
}

# (a) our encoder -> openssl enc -d | gzip -d, for every variant.
for v in sha256 md5 pbkdf2; do
	for f in $INPUTS; do
		in=$STATE/$f
		out=$STATE/$f.$v.ours
		back=$STATE/$f.$v.back
		# shellcheck disable=SC2046
		if "$TOOL" enc "$v" "$STATE/key" <"$in" >"$out" &&
			openssl enc -d -aes-256-cbc $(ossl_md "$v") \
				-pass "file:$STATE/key" <"$out" \
				2>"$STATE/err" | gzip -d >"$back" &&
			cmp -s "$in" "$back"; then
			ok "enc $v $f: openssl + gzip read it back"
		else
			not_ok "enc $v $f: openssl + gzip read it back"
		fi
	done
done

# (b) gzip | openssl enc -> our decoder, for every variant.
for v in md5 sha256 pbkdf2; do
	for f in $INPUTS; do
		in=$STATE/$f
		enc=$STATE/$f.$v.ossl
		back=$STATE/$f.$v.dec
		# shellcheck disable=SC2046
		if gzip -c <"$in" | openssl enc -aes-256-cbc -salt \
				$(ossl_md "$v") -pass "file:$STATE/key" \
				>"$enc" 2>"$STATE/err" &&
			"$TOOL" dec "$STATE/key" <"$enc" >"$back" &&
			cmp -s "$in" "$back"; then
			ok "dec $v $f: reads gzip | openssl enc"
		else
			not_ok "dec $v $f: reads gzip | openssl enc"
		fi
	done
done

# gzip run on a named file stores the name in the header (FNAME).
gzip -c "$STATE/text" >"$STATE/text.gz"
if openssl enc -aes-256-cbc -salt -md sha256 -pass "file:$STATE/key" \
		<"$STATE/text.gz" >"$STATE/named.enc" 2>"$STATE/err" &&
	"$TOOL" dec "$STATE/key" <"$STATE/named.enc" >"$STATE/named.dec" &&
	cmp -s "$STATE/text" "$STATE/named.dec"; then
	ok "dec sha256: gzip header with a file name"
else
	not_ok "dec sha256: gzip header with a file name"
fi

# (c) a wrong passphrase is rejected as such, for every variant.
for v in md5 sha256 pbkdf2; do
	rc=0
	"$TOOL" dec "$STATE/wrong" <"$STATE/text.$v.ossl" >/dev/null \
		2>"$STATE/err" || rc=$?
	if [ "$rc" -eq 1 ] && grep -q EKEYREJECTED "$STATE/err"; then
		ok "dec $v: wrong passphrase fails with EKEYREJECTED"
	else
		not_ok "dec $v: wrong passphrase: exit $rc, $(cat "$STATE/err")"
	fi
done

# (d) a truncated backup fails, wherever it is cut.
size=$(wc -c <"$STATE/text.sha256.ossl")
for cut in 8 16 24 32 40 $((size / 2)) $((size - 16)) $((size - 1)); do
	rc=0
	head -c "$cut" "$STATE/text.sha256.ossl" >"$STATE/cut"
	"$TOOL" dec "$STATE/key" <"$STATE/cut" >/dev/null 2>"$STATE/err" ||
		rc=$?
	if [ "$rc" -eq 1 ] && grep -q EBADMSG "$STATE/err"; then
		ok "dec: cut at $cut of $size bytes fails with EBADMSG"
	else
		not_ok "dec: cut at $cut of $size bytes fails with EBADMSG (exit $rc)"
	fi
done

# A damaged gzip trailer (CRC32) inside valid encryption is caught.
gzip -c <"$STATE/random" >"$STATE/bad.gz"
gzsize=$(wc -c <"$STATE/bad.gz")
crc0=$(od -An -tu1 -j $((gzsize - 8)) -N1 "$STATE/bad.gz" | tr -d ' ')
if [ "$crc0" -eq 0 ]; then
	newbyte='\001'
else
	newbyte='\000'
fi
# shellcheck disable=SC2059
printf "$newbyte" | dd of="$STATE/bad.gz" bs=1 seek=$((gzsize - 8)) \
	conv=notrunc 2>/dev/null
rc=0
openssl enc -aes-256-cbc -salt -md sha256 -pass "file:$STATE/key" \
	<"$STATE/bad.gz" 2>"$STATE/err" |
	"$TOOL" dec "$STATE/key" >/dev/null 2>"$STATE/err" || rc=$?
if [ "$rc" -eq 1 ] && grep -q EBADMSG "$STATE/err"; then
	ok "dec: bad gzip CRC32 fails with EBADMSG"
else
	not_ok "dec: bad gzip CRC32 fails with EBADMSG (exit $rc)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
