#!/usr/bin/env bash
# test_swift_keystone.sh - the Swift store behind a real Keystone v3
# (Debian's, started by tests/services/keystone.sh with a Swift proxy
# using authtoken + keystoneauth): password and application-credential
# auth, the token cached and fetched again once after a 401, catalog
# lookup by region and interface, read-only credentials, Keystone down
# versus bad credentials, secrets kept out of argv and logs. Through
# tests/tools/swift_tool first; then, when the daemon can mount swift:
# sources here (root, /dev/fuse), through a real mount.
#
# Prints "ok - ..." / "not ok - ..." and "N passed, N failed"; exit 77 if
# Keystone or Swift cannot be installed or run here.
# TROVEFS_KEYSTONE_DIR=DIR reuses (and leaves running) a keystone.sh DIR.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
TOOL=${SWIFT_TOOL:-$TROVEFS_BUILD/tests/tools/swift_tool}
SVC=$ROOT/tests/services/keystone.sh

[ -x "$TOOL" ] || { echo "not ok - no $TOOL (make tools)"; exit 1; }
command -v curl >/dev/null || t_skip "no curl"

T=$(mktemp -d /tmp/trovefs-ks.XXXXXX)
LOG=$T/daemon.log
: >"$LOG"
KS_OWN=""
ks_cleanup() {
	t_cleanup_mount
	if [ -n "$KS_OWN" ]; then
		bash "$SVC" stop "$KS_OWN" >/dev/null 2>&1 || true
		rm -rf "$KS_OWN"
	fi
	rm -rf "$T"
}
# lib.sh's t_cleanup also removes $T; the mount part is undone here
t_cleanup_mount() {
	if [ -n "${MNT:-}" ] && mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -uz "$MNT" 2>/dev/null || true
	fi
	if [ -n "$T_PID" ] && kill -0 "$T_PID" 2>/dev/null; then
		kill "$T_PID" 2>/dev/null || true
		wait "$T_PID" 2>/dev/null || true
	fi
	T_PID=""
}
trap ks_cleanup EXIT

if [ -n "${TROVEFS_KEYSTONE_DIR:-}" ]; then
	KD=$TROVEFS_KEYSTONE_DIR
else
	# tmpfs when possible: the object server fsyncs every PUT
	KS_OWN=$(mktemp -d /dev/shm/trovefs-ks.XXXXXX 2>/dev/null) ||
		KS_OWN=$T/keystone
	KD=$KS_OWN
fi
t0=$(date +%s.%N)
rc=0
env_out=$(bash "$SVC" start "$KD" 2>"$T/ks-start.log") || rc=$?
if [ $rc -eq 77 ]; then
	tail -n 40 "$T/ks-start.log" | sed 's/^/    # /' >&2
	t_skip "$(grep SKIP "$T/ks-start.log" | tail -n 1)"
elif [ $rc -ne 0 ]; then
	sed 's/^/    # /' "$T/ks-start.log" | tail -n 20
	echo "not ok - keystone.sh start failed"
	exit 1
fi
eval "$env_out"
echo "# keystone.sh start took $(awk -v a="$t0" -v b="$(date +%s.%N)" \
	'BEGIN { printf "%.1f", b - a }') s"
PROXY_LOG=$KEYSTONE_DIR/log/proxy.log

# ---- helpers

# kconf NAME LINES... - $T/NAME.conf, a [swift:NAME] section on Keystone
kconf() {
	local name=$1
	shift
	{
		printf '[swift:%s]\nauth_url = %s\nauth_version = 3\n' \
			"$name" "$KEYSTONE_AUTH_URL"
		printf 'segment_size = 1M\nretry_budget = 3\n'
		printf '%s\n' "$@"
	} >"$T/$name.conf"
}

# kt NAME OP ARGS... - swift_tool on $T/NAME.conf; its stderr (debug
# level: the auth lines) goes to $T/last.err and is kept in $T/tool.log
kt() {
	local name=$1 rc=0
	shift
	SWIFT_TOOL_DEBUG=1 "$TOOL" "$T/$name.conf" "$@" 2>"$T/last.err" ||
		rc=$?
	cat "$T/last.err" >>"$T/tool.log"
	# for t_check_fails, which reads the command's output
	grep -v ': debug: \|: info: ' "$T/last.err" >&2
	return $rc
}

# has DESC ERE FILE... - passes if a line of FILE matches ERE
has() {
	local desc=$1
	shift
	if grep -qE -- "$@"; then
		t_ok "$desc"
	else
		t_not_ok "$desc"
		tail -n 3 "${@: -1}" | sed 's/^/    # /'
	fi
}
# has_not DESC ERE FILE... - passes if no line matches
has_not() {
	local desc=$1
	shift
	if grep -qE -- "$@"; then
		t_not_ok "$desc"
	else
		t_ok "$desc"
	fi
}

# auth lines of the last kt
auths() { grep -c "authenticated '" "$T/last.err"; }
# the storage URL the last kt used
last_url() {
	sed -n "s/.*authenticated '[^']*'; storage url '\([^']*\)'.*/\1/p" \
		"$T/last.err" | tail -n 1
}
proxy_401s() { grep -c ' HTTP/1\.[01] 401 ' "$PROXY_LOG" || true; }

# JSON bodies with secrets go through 0600 files, never argv
admin_token() {
	(umask 077 && printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' \
		"$(head -n1 "$KEYSTONE_ADMIN_PASSWORD_FILE")" >"$T/admin.json")
	curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
		--data-binary "@$T/admin.json" "$KEYSTONE_AUTH_URL/auth/tokens" |
		tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'
}

# Revokes every token of the demo user: Keystone does that when the
# password is set (here to the same value). A token made in the same
# second could be judged revoked too: wait for the next second.
revoke_demo_tokens() {
	local tok code
	tok=$(admin_token)
	(umask 077 && printf '{"user":{"password":"%s"}}' \
		"$(head -n1 "$KEYSTONE_PASSWORD_FILE")" >"$T/pw.json")
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH \
		-H @<(printf 'X-Auth-Token: %s\n' "$tok") \
		-H 'Content-Type: application/json' --data-binary "@$T/pw.json" \
		"$KEYSTONE_AUTH_URL/users/$KEYSTONE_USER_ID")
	rm -f "$T/pw.json"
	sleep 1.1
	[ "$code" = 200 ]
}

# fifo_put NAME C K - starts `put C K` reading from a FIFO on fd 3; the
# test writes to fd 3 and calls fifo_end. FIFO_PID is the tool.
fifo_put() {
	rm -f "$T/fifo"
	mkfifo "$T/fifo"
	SWIFT_TOOL_DEBUG=1 "$TOOL" "$T/$1.conf" put "$2" "$3" \
		<"$T/fifo" >/dev/null 2>"$T/fifo.err" &
	FIFO_PID=$!
	exec 3>"$T/fifo"
}
fifo_end() {
	local rc=0
	exec 3>&-
	wait "$FIFO_PID" || rc=$?
	cat "$T/fifo.err" >>"$T/tool.log"
	cp "$T/fifo.err" "$T/last.err"
	return $rc
}
# waits until the tool has authenticated (the first segment is on its way)
wait_auth() {
	local _
	for _ in $(seq 1 100); do
		grep -q "authenticated '" "$T/fifo.err" && return 0
		sleep 0.1
	done
	return 1
}

# unique names: a reused TROVEFS_KEYSTONE_DIR keeps its containers
C=kc-$$-$RANDOM
C2=kc2-$$-$RANDOM
t_data "$T/data3m" $((3 * 1024 * 1024)) ks
t_data "$T/small" 1000 small
A1=$((1536 * 1024))

# ---- password auth (v3, user + project by name, domains)
kconf pw "user = $KEYSTONE_USER" "domain = $KEYSTONE_USER_DOMAIN" \
	"project = $KEYSTONE_PROJECT" \
	"project_domain = $KEYSTONE_PROJECT_DOMAIN" \
	"key_file = $KEYSTONE_PASSWORD_FILE" "region = $KEYSTONE_REGION"
t_check "password: create container" kt pw mkc "$C"
t_check "password: put" kt pw put "$C" small <"$T/small"
t_eq "password: get is identical" "$(kt pw get "$C" small | t_sha /dev/stdin)" \
	"$(t_sha "$T/small")"
t_eq "password: storage url from the catalog (public, $KEYSTONE_REGION)" \
	"$(last_url)" "$KEYSTONE_SWIFT_URL"
# one process, one token: a 3-segment SLO upload authenticates once
t_check "password: segmented put" kt pw put "$C" big <"$T/data3m"
t_eq "token cached: one authentication for the whole upload" "$(auths)" 1
t_eq "segmented get is identical" "$(kt pw get "$C" big | t_sha /dev/stdin)" \
	"$(t_sha "$T/data3m")"

kconf u2 "user = $KEYSTONE_USER2" "domain = $KEYSTONE_USER2_DOMAIN" \
	"project = $KEYSTONE_PROJECT2" "project_domain = $KEYSTONE_USER2_DOMAIN" \
	"key_file = $KEYSTONE_USER2_PASSWORD_FILE" "region = $KEYSTONE_REGION"
t_check "user and project in domain dom2: put" kt u2 mkc "$C2"
t_eq "dom2 user works in its project's account" "$(last_url)" \
	"http://127.0.0.1:$KEYSTONE_SWIFT_PROXY_PORT/v1/AUTH_$KEYSTONE_PROJECT2_ID"
kconf u2bad "user = $KEYSTONE_USER2" "domain = Default" \
	"project = $KEYSTONE_PROJECT2" "project_domain = $KEYSTONE_USER2_DOMAIN" \
	"key_file = $KEYSTONE_USER2_PASSWORD_FILE" "region = $KEYSTONE_REGION"
t_check_fails "dom2 user looked up in the wrong domain -> EACCES" EACCES \
	kt u2bad lsc

# ---- a 401 (token revoked) is answered by one new authentication
before=$(proxy_401s)
fifo_put pw "$C" revoked
head -c "$A1" "$T/data3m" >&3
if wait_auth; then
	t_check "revoke the tool's token (password change)" revoke_demo_tokens
	tail -c +$((A1 + 1)) "$T/data3m" >&3
	t_check "put across a revoked token succeeds" fifo_end
	t_eq "exactly two authentications (one after the 401)" "$(auths)" 2
	# one 401 per request in flight with the old token: the segment
	# uploads (parallel = 2) can both be under way when it is revoked
	n401=$(($(proxy_401s) - before))
	t_check "Swift answered one 401 per upload in flight ($n401)" \
		test "$n401" -ge 1 -a "$n401" -le 2
	t_eq "object written across the revocation is identical" \
		"$(kt pw get "$C" revoked | t_sha /dev/stdin)" "$(t_sha "$T/data3m")"
else
	fifo_end || true
	t_not_ok "the FIFO put never authenticated"
	sed 's/^/    # /' "$T/fifo.err" | head -n 5
fi

# ---- application credentials
kconf ac "appcred_id = $KEYSTONE_APPCRED_ID" \
	"key_file = $KEYSTONE_APPCRED_SECRET_FILE" "region = $KEYSTONE_REGION"
t_check "app credential (id): put" kt ac put "$C" by-appcred <"$T/small"
t_eq "app credential: same account as the password user" "$(last_url)" \
	"$KEYSTONE_SWIFT_URL"
t_eq "app credential: get" "$(kt ac get "$C" by-appcred | t_sha /dev/stdin)" \
	"$(t_sha "$T/small")"
kconf acn "appcred_name = demo-appcred" "user = $KEYSTONE_USER" \
	"domain = $KEYSTONE_USER_DOMAIN" \
	"key_file = $KEYSTONE_APPCRED_SECRET_FILE" "region = $KEYSTONE_REGION"
t_check "app credential (name + user): get" kt acn get "$C" by-appcred

# ---- read-only credentials: reads work, writes are EACCES
kconf ro "user = $KEYSTONE_READER_USER" "project = $KEYSTONE_PROJECT" \
	"key_file = $KEYSTONE_READER_PASSWORD_FILE" "region = $KEYSTONE_REGION"
t_check "reader: get" kt ro get "$C" small
t_check "reader: list" kt ro ls "$C"
t_check_fails "reader: put -> Permission denied" "Permission denied" \
	kt ro put "$C" ro-put <"$T/small"
has "reader: put is EACCES" EACCES "$T/last.err"
t_check_fails "reader: rm -> EACCES" EACCES kt ro rm "$C" small
t_check_fails "reader: segmented put -> EACCES" EACCES \
	kt ro put "$C" ro-big <"$T/data3m"
t_check_fails "the refused object does not exist" ENOENT kt pw head "$C" ro-put
kconf acro "appcred_id = $KEYSTONE_APPCRED_RO_ID" \
	"key_file = $KEYSTONE_APPCRED_RO_SECRET_FILE" "region = $KEYSTONE_REGION"
t_check "read-only app credential: get" kt acro get "$C" small
t_check_fails "read-only app credential: put -> EACCES" EACCES \
	kt acro put "$C" ro-put <"$T/small"

# ---- catalog: region and interface
kconf cat1 "user = $KEYSTONE_USER" "project = $KEYSTONE_PROJECT" \
	"key_file = $KEYSTONE_PASSWORD_FILE" "region = $KEYSTONE_REGION" \
	"interface = internal"
t_check "region $KEYSTONE_REGION, internal: get" kt cat1 get "$C" small
t_eq "region $KEYSTONE_REGION, internal: the localhost URL" "$(last_url)" \
	"http://localhost:$KEYSTONE_SWIFT_PROXY_PORT/v1/AUTH_$KEYSTONE_PROJECT_ID"
kconf cat2 "user = $KEYSTONE_USER" "project = $KEYSTONE_PROJECT" \
	"key_file = $KEYSTONE_PASSWORD_FILE" "region = $KEYSTONE_REGION2" \
	"interface = internal"
t_check "region $KEYSTONE_REGION2, internal: get" kt cat2 get "$C" small
t_eq "region $KEYSTONE_REGION2, internal: its URL" "$(last_url)" \
	"http://127.0.0.1:$KEYSTONE_SWIFT_PROXY_PORT/v1/AUTH_$KEYSTONE_PROJECT_ID"
kconf cat3 "user = $KEYSTONE_USER" "project = $KEYSTONE_PROJECT" \
	"key_file = $KEYSTONE_PASSWORD_FILE" "region = $KEYSTONE_REGION2"
t_check_fails "region $KEYSTONE_REGION2, public (127.0.0.2, refused) -> EHOSTUNREACH" \
	EHOSTUNREACH kt cat3 get "$C" small
t_eq "region $KEYSTONE_REGION2, public: its URL was used" "$(last_url)" \
	"http://127.0.0.2:$KEYSTONE_SWIFT_PROXY_PORT/v1/AUTH_$KEYSTONE_PROJECT_ID"
kconf cat4 "user = $KEYSTONE_USER" "project = $KEYSTONE_PROJECT" \
	"key_file = $KEYSTONE_PASSWORD_FILE"
t_check_fails "no region, public endpoints in two regions -> EINVAL" EINVAL \
	kt cat4 lsc
has "ambiguous catalog: says to set region" 'several regions: set region' \
	"$T/last.err"
kconf cat5 "user = $KEYSTONE_USER" "project = $KEYSTONE_PROJECT" \
	"key_file = $KEYSTONE_PASSWORD_FILE" "region = RegionNine"
t_check_fails "unknown region -> ENOENT" ENOENT kt cat5 lsc

# ---- bad credentials versus Keystone down
(umask 077 && printf 'not-the-password\n' >"$T/wrong")
kconf bad "user = $KEYSTONE_USER" "project = $KEYSTONE_PROJECT" \
	"key_file = $T/wrong" "region = $KEYSTONE_REGION"
t_check_fails "wrong password -> EACCES" EACCES kt bad lsc
has "wrong password: logged as refused credentials" \
	"keystone '.*' refused the credentials of 'demo': HTTP 401" "$T/last.err"
kconf acbad "appcred_id = $KEYSTONE_APPCRED_ID" "key_file = $T/wrong" \
	"region = $KEYSTONE_REGION"
t_check_fails "wrong app credential secret -> EACCES" EACCES kt acbad lsc
chmod 644 "$T/wrong"
t_check_fails "key file readable by others is refused" EACCES kt bad lsc
chmod 600 "$T/wrong"

fifo_put pw "$C" during-outage
head -c "$A1" "$T/data3m" >&3
wait_auth || t_not_ok "the FIFO put never authenticated"
t_check "stop Keystone only" bash "$SVC" stop "$KEYSTONE_DIR" keystone
t_check_fails "Keystone down: a new process gets EHOSTUNREACH" EHOSTUNREACH \
	kt pw lsc
has "Keystone down: logged as unreachable" "keystone '.*' unreachable" \
	"$T/last.err"
has_not "Keystone down: not reported as bad credentials" \
	'refused the credentials' "$T/last.err"
# the running upload: Swift cannot validate its token (401), the new
# authentication cannot reach Keystone
tail -c +$((A1 + 1)) "$T/data3m" >&3
if fifo_end; then
	t_not_ok "Keystone down mid-upload: put fails"
else
	t_ok "Keystone down mid-upload: put fails"
fi
has "Keystone down mid-upload: EHOSTUNREACH" EHOSTUNREACH "$T/last.err"
t0=$(date +%s.%N)
t_check "start Keystone again" bash "$SVC" start "$KEYSTONE_DIR"
echo "# Keystone restart took $(awk -v a="$t0" -v b="$(date +%s.%N)" \
	'BEGIN { printf "%.1f", b - a }') s"
t_check "Keystone back: the same config works" kt pw get "$C" small
t_check_fails "the upload cut by the outage left no object" ENOENT \
	kt pw head "$C" during-outage

# ---- secrets: never in argv, never in logs
fifo_put pw "$C" argv-check
head -c 1000 "$T/small" >&3
# until the child has exec'd the tool (it opens the FIFO first)
for _ in $(seq 1 100); do
	[ "$(readlink "/proc/$FIFO_PID/exe")" = "$(readlink -f "$TOOL")" ] && break
	sleep 0.05
done
leak=""
for f in "$KEYSTONE_PASSWORD_FILE" "$KEYSTONE_APPCRED_SECRET_FILE"; do
	s=$(head -n1 "$f")
	tr '\0' '\n' <"/proc/$FIFO_PID/cmdline" | grep -qF -- "$s" && leak="$leak argv"
	tr '\0' '\n' <"/proc/$FIFO_PID/environ" | grep -qF -- "$s" && leak="$leak environ"
done
t_eq "no secret in the tool's argv or environment" "$leak" ""
fifo_end || true

# ---- through a real mount (when this machine and build can mount swift:)
mount_checks() {
	MNT=$T/mnt
	KEY=$T/key
	CONF=$T/trovefs.conf
	mkdir -p "$MNT"
	(umask 077 && openssl rand -hex 32 >"$KEY")
	{
		printf '[trovefs]\nkey_file = %s\n\n' "$KEY"
		cat "$T/pw.conf"
		printf '\n'
		cat "$T/ro.conf"
	} >"$CONF"
	chmod 600 "$CONF"
	if ! t_mount swift:pw; then
		t_not_ok "mount swift:pw (Keystone password)"
		return 0
	fi
	t_ok "mount swift:pw (Keystone password)"
	t_allow "refused the credentials|unreachable|HTTP 401|HTTP 403|Permission denied|No route to host|Couldn't connect"
	mkdir -p "$MNT/containers/$C-m" 2>/dev/null
	t_check "mount: write a file" cp "$T/data3m" "$MNT/containers/$C-m/f"
	t_eq "mount: read it back" "$(t_sha "$MNT/containers/$C-m/f")" \
		"$(t_sha "$T/data3m")"
	n=$(grep -c "authenticated 'demo'" "$LOG")
	t_check "mount: revoke the daemon's token" revoke_demo_tokens
	t_check "mount: write after the revocation" \
		cp "$T/small" "$MNT/containers/$C-m/g"
	t_eq "mount: one new authentication after the revocation" \
		$(($(grep -c "authenticated 'demo'" "$LOG") - n)) 1
	t_eq "mount: read after the revocation" "$(t_sha "$MNT/containers/$C-m/g")" \
		"$(t_sha "$T/small")"
	t_check "mount: stop Keystone" bash "$SVC" stop "$KEYSTONE_DIR" keystone
	t_check_fails "mount: Keystone down -> write fails, not as EACCES" \
		"No route to host" cp "$T/small" "$MNT/containers/$C-m/h"
	t_log_has "mount: Keystone unreachable is logged" "keystone '.*' unreachable"
	t_check "mount: start Keystone" bash "$SVC" start "$KEYSTONE_DIR"
	t_check "mount: works again after Keystone is back" \
		cp "$T/small" "$MNT/containers/$C-m/h"
	t_check "unmount" t_umount

	if t_mount swift:ro; then
		t_ok "mount swift:ro (reader)"
		t_eq "mount read-only credential: read" \
			"$(t_sha "$MNT/containers/$C-m/g")" "$(t_sha "$T/small")"
		t_check_fails "mount read-only credential: write -> Permission denied" \
			"Permission denied" cp "$T/small" "$MNT/containers/$C-m/ro"
		t_check "unmount" t_umount
	else
		t_not_ok "mount swift:ro (reader)"
	fi
}
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ] ||
	! command -v fusermount3 >/dev/null; then
	echo "# mount checks skipped: need root, /dev/fuse and fusermount3"
elif [ ! -x "$TROVEFS" ]; then
	echo "# mount checks skipped: no daemon at $TROVEFS"
else
	mount_checks
fi

# after everything: no secret in any log (tool, daemon)
leak=""
for f in "$KEYSTONE_PASSWORD_FILE" "$KEYSTONE_READER_PASSWORD_FILE" \
	"$KEYSTONE_USER2_PASSWORD_FILE" "$KEYSTONE_APPCRED_SECRET_FILE" \
	"$KEYSTONE_APPCRED_RO_SECRET_FILE" "$T/wrong"; do
	s=$(head -n1 "$f")
	grep -qF -- "$s" "$T/tool.log" "$LOG" && leak="$leak $(basename "$f")"
done
t_eq "no password or secret in the tool or daemon logs" "$leak" ""
# fernet tokens start with gAAAAA
has_not "no token in the logs" gAAAAA "$T/tool.log" "$LOG"
t_allow "refused the credentials|unreachable|HTTP 401|HTTP 403|Permission denied|No route to host|Couldn't connect"
t_done
