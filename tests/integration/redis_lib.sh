# shellcheck shell=bash
# redis_lib.sh - helpers of the Redis datastore tests (test_redis.sh,
# test_redis_swift.sh); sourced by bash after lib.sh's t_init, not a test
# (run.sh runs test_*.sh only).
#
# Skips (77) when redis-server is missing and tests/services/redis.sh
# cannot install it. Every server started with start_redis is stopped by
# pid at exit (trap redis_cleanup, which then calls t_cleanup).
#
# RS                    path of tests/services/redis.sh
# start_redis VAR DIR [CONF_LINES...]   starts one in DIR, VAR = its port
# digest PORT           DEBUG DIGEST of a live server's data set
# digest_rdb FILE       the digest of FILE loaded in a fresh server
# fill PORT             one key of every type, 200 strings, a 300 KB one
# no_leftovers DIR      DIR holds no file of a recover within 10 s

RS="$T_ROOT/tests/services/redis.sh"
command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ||
	bash "$RS" start "$T/probe" >/dev/null 2>&1 || true
command -v redis-server >/dev/null 2>&1 || t_skip "redis-server not available"
bash "$RS" stop "$T/probe" >/dev/null 2>&1 || true

T_REDIS_DIRS=()
redis_cleanup() {
	local d
	for d in "${T_REDIS_DIRS[@]:-}"; do
		[ -n "$d" ] && bash "$RS" stop "$d" >/dev/null 2>&1
	done
	t_cleanup
}
trap redis_cleanup EXIT

# start_redis VAR DIR [CONF_LINES...] - starts one, sets VAR to its port
start_redis() {
	local var=$1 dir=$2 out
	shift 2
	out=$(bash "$RS" start "$dir" auto "enable-debug-command yes" \
		"repl-diskless-sync-delay 0" "$@") || return 1
	T_REDIS_DIRS+=("$dir")
	eval "$out"
	printf -v "$var" '%s' "$REDIS_PORT"
}

# digest of the data set in a live server
digest() { redis-cli -p "$1" DEBUG DIGEST; }
# digest_rdb FILE - loads FILE in a fresh server and prints its digest
digest_rdb() {
	local d port out
	d=$(mktemp -d "$T/load.XXXXXX")
	cp "$1" "$d/dump.rdb"
	out=$(bash "$RS" start "$d" auto "enable-debug-command yes" \
		"dbfilename dump.rdb") || { echo "load-failed"; return; }
	eval "$out"
	port=$REDIS_PORT
	redis-cli -p "$port" DEBUG DIGEST
	bash "$RS" stop "$d" >/dev/null 2>&1
	rm -rf "$d"
}

fill() {
	local p=$1 i
	{
		for i in $(seq 1 200); do echo "SET str:$i value-$i-$RANDOM"; done
		echo "RPUSH list a b c d e f"
		echo "SADD set x y z"
		echo "ZADD zset 1 one 2 two 3.5 three"
		echo "HSET hash f1 v1 f2 v2 f3 v3"
		echo "XADD stream 1-1 k v"
		echo "XADD stream 2-1 k2 v2"
		echo "SET volatile v EX 100000"
		echo "PEXPIRE str:1 90000000"
		echo "SET big $(head -c 300000 /dev/zero | tr '\0' x)"
	} | redis-cli -p "$p" >/dev/null
}

# no_leftovers DIR - within 10 s DIR holds no name of a recover's (the
# old files, their trash, the staged file): the old files are removed on
# a background thread after the recover returned. The names are ours
# (no newlines): ls -A | grep sees the dot files a glob would need two
# patterns for.
# shellcheck disable=SC2010
no_leftovers() {
	local i
	for i in $(seq 1 100); do
		ls -A "$1" | grep -q trovefs || return 0
		sleep 0.1
	done
	ls -A "$1" | grep trovefs
	return 1
}
