# ports.sh - free loopback ports for the test services (sourced by bash).
#
# Ports are picked below the kernel's ephemeral range (32768+ here): a
# client connection's local port there makes a later bind() fail although
# nothing listens, which a connect() probe cannot see. Each service uses
# its own band so that parallel starts rarely collide, and a port counts
# as free only if no socket of any state uses it (ss), not just when
# nothing listens.

# port_free PORT - true if no local TCP socket uses PORT.
port_free() {
	if command -v ss >/dev/null 2>&1; then
		[ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# port_listened PORT - true if something listens on PORT. Use this, not
# port_free, to decide whether a port saved by an earlier start can be
# used again: our own stopped servers leave TIME_WAIT sockets behind.
port_listened() {
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# port_pick LO HI [COUNT] - prints P in [LO, HI) such that P..P+COUNT-1
# are all free (COUNT defaults to 1); fails after 200 tries.
port_pick() {
	local lo=$1 hi=$2 n=${3:-1} p i ok _
	for _ in $(seq 1 200); do
		p=$((lo + RANDOM % (hi - lo - n + 1)))
		ok=1
		for ((i = 0; i < n; i++)); do
			port_free $((p + i)) || { ok=0; break; }
		done
		if [ $ok = 1 ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
