#!/bin/bash
# test_faults.sh - bad inputs and failures: a daemon killed mid-copy, bit
# flips, truncation, a wrong key, a full disk, unsafe key files. Each gets
# a clear errno and a log line, and nothing already stored is lost.
. "$(dirname "$0")/lib.sh"
t_init
t_mount || exit 1
C=$MNT/containers/c
mkdir "$C"
t_data "$T/src/a" 3000000 a
t_text "$T/src/b" 30000
cp "$T/src/a" "$C/a"
cp "$T/src/b" "$C/b"
cp "$T/src/b" "$C/victim"
cp "$T/src/a" "$C/short"

# ---- kill -9 mid-copy ----
{ head -c 5000000 "$T/src/a"; sleep 30; } | cp /dev/stdin "$C/interrupted" 2>/dev/null &
cp_pid=$!
for _ in $(seq 50); do
	[ -e "$C/interrupted" ] && [ "$(stat -c %s "$C/interrupted" 2>/dev/null || echo 0)" -gt 1000000 ] && break
	sleep 0.1
done
t_kill9 "$cp_pid"
t_check "remount after kill -9" t_mount
t_eq "earlier objects are intact (a)" "$(t_sha "$C/a")" "$(t_sha "$T/src/a")"
t_eq "earlier objects are intact (b)" "$(t_sha "$C/b")" "$(t_sha "$T/src/b")"
t_check_fails "the interrupted object is absent" "No such file" stat "$C/interrupted"
t_eq "no staging file is left behind" "$(find "$STORE/.trovefs/tmp" -type f | wc -l)" "0"

# ---- a cp killed mid-way over an existing file ----
# its files are flushed as it dies: not a commit, the old file stays
t_allow "is not stored: its writer was killed"
mkfifo "$T/fifo"
for sig in TERM KILL; do
	cp "$T/src/a" "$C/kept-$sig"
	cp "$T/fifo" "$C/kept-$sig" &
	cp_pid=$!
	exec 7> "$T/fifo"
	head -c 700000 "$T/src/b" >&7
	for _ in $(seq 50); do
		[ "$(stat -c %s "$C/kept-$sig")" = 700000 ] && break
		sleep 0.1
	done
	kill -"$sig" "$cp_pid"
	wait "$cp_pid" 2>/dev/null
	exec 7>&-
	t_eq "cp killed by SIG$sig: the old file is unchanged" \
		"$(t_sha "$C/kept-$sig")" "$(t_sha "$T/src/a")"
done
t_log_has "the kill is logged with the file's name" \
	"c/kept-TERM' is not stored: its writer was killed by signal 15"
t_log_has "... for SIGKILL too" "c/kept-KILL' is not stored: its writer was killed by signal 9"

# ---- the daemon stopped (SIGTERM) with a file being written ----
# the writer gets an error, the old file under the name stays, one line
t_allow "is not stored: its writer was cut off by the unmount"
cp "$T/src/a" "$C/cut"
mkfifo "$T/cut.fifo"
cp "$T/cut.fifo" "$C/cut" 2>"$T/cut.err" &
cp_pid=$!
exec 7> "$T/cut.fifo"
head -c 2000000 "$T/src/b" >&7
for _ in $(seq 50); do
	[ "$(stat -c %s "$C/cut")" = 2000000 ] && break
	sleep 0.1
done
kill -TERM "$T_PID"
# libfuse 3.14's own handler made fuse_main() fail on a signal (exit 1)
t_check "the daemon stops on SIGTERM with exit code 0" wait "$T_PID"
T_PID=""
exec 7>&- # the writer's end of the copy: cp now closes its file
wait "$cp_pid"
t_eq "the writer's close() fails" "$?" "1"
t_check "with ENOTCONN" grep -q "Transport endpoint is not connected" "$T/cut.err"
t_check "the mount is gone" sh -c "! mountpoint -q '$MNT'"
t_log_has "the stop is logged" "info: stopped by SIGTERM: unmounted"
t_log_has "the cut-off file is logged" \
	"'c/cut' is not stored: its writer was cut off by the unmount mid-way \([0-9]+ bytes written\); the file under its name is unchanged"
t_check "mount after SIGTERM" t_mount
t_eq "the old file under that name is unchanged" "$(t_sha "$C/cut")" "$(t_sha "$T/src/a")"
t_eq "no staging file is left behind" "$(find "$STORE/.trovefs/tmp" -type f | wc -l)" "0"

# ---- close() in another thread than open()'s ----
# FUSE names the calling thread; the commit belongs to the whole process
t_allow "cannot store"
t_check_fails "close() in another thread reports a failed commit" \
	"Is a directory" python3 -c 'import os, sys, threading
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, b"x" * 40000)
os.makedirs(sys.argv[2] + "/in-the-way")  # the commit cannot land
err = []
def close():
    try:
        os.close(fd)
    except OSError as e:
        err.append(e)
t = threading.Thread(target=close)
t.start()
t.join()
if err:
    raise err[0]' "$C/threaded" "$STORE/c/threaded"
rm -r "$STORE/c/threaded"
t_check "a file closed by another thread reads back at once" \
	python3 -c 'import os, sys, threading
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.write(fd, b"y" * 40000)
t = threading.Thread(target=os.close, args=(fd,))
t.start()
t.join()
assert open(sys.argv[1], "rb").read() == b"y" * 40000' "$C/threaded2"

# ---- corruption ----
t_umount
t_flip "$STORE/c/victim" 5000
sz=$(stat -c %s "$STORE/c/short")
truncate -s $((sz - 100)) "$STORE/c/short"
t_mount
t_allow "corrupt|truncated|authentic"
t_check_fails "a flipped bit fails the read" "Bad message" cat "$C/victim"
cat "$C/victim" > "$T/partial" 2>/dev/null
t_check "only verified bytes are returned (a prefix of the source)" \
	cmp -n "$(stat -c %s "$T/partial")" "$T/partial" "$T/src/b"
t_log_has "the flipped bit is logged with the object's name" "c/victim"
t_check_fails "a truncated object fails the read" "Bad message" cat "$C/short"
t_log_has "the truncation is logged with the object's name" "c/short"
t_eq "the other objects still read (a)" "$(t_sha "$C/a")" "$(t_sha "$T/src/a")"

# ---- wrong key ----
t_umount
mv "$KEY" "$T/good-key"
(umask 077 && openssl rand -hex 32 > "$KEY")
t_mount
t_allow "wrong key"
t_check_fails "a wrong key fails the read with EIO" "Input/output error" cat "$C/a"
t_log_has "the wrong key is logged with the object's name" "wrong key.*c/a|c/a.*wrong key"
t_umount
mv "$T/good-key" "$KEY"
t_mount
t_eq "with the right key it reads again" "$(t_sha "$C/a")" "$(t_sha "$T/src/a")"
t_umount

# ---- unsafe key and config files ----
chmod 644 "$KEY"
t_check_fails "a key file readable by others is refused" "chmod 600" \
	"$TROVEFS" -f -o "conf=$CONF" "local:$STORE" "$MNT"
chmod 600 "$KEY"
chmod 644 "$CONF"
t_check_fails "a config naming a key readable by others is refused" "chmod 600" \
	"$TROVEFS" -f -o "conf=$CONF" "local:$STORE" "$MNT"
chmod 600 "$CONF"
t_check_fails "an unknown source is refused" "unknown source" \
	"$TROVEFS" -f -o "conf=$CONF" "ftp:x" "$MNT"
printf '[trovefs]\nkey_file = %s\nbogus = 1\n' "$KEY" > "$T/bad.conf"
chmod 600 "$T/bad.conf"
t_check_fails "a bad config line is reported with its line number" "bad.conf:3" \
	"$TROVEFS" -f -o "conf=$T/bad.conf" "local:$STORE" "$MNT"
t_check "no failed start left a mount" sh -c "! mountpoint -q '$MNT'"

# ---- disk full ----
mkdir -p "$T/small"
if mount -t tmpfs -o size=4m tmpfs "$T/small" 2>/dev/null; then
	T_EXTRA_MOUNTS+=("$T/small")
	t_mount "local:$T/small/store"
	mkdir "$C"
	t_allow "No space left on device"
	t_data "$T/src/big" 8000000 big
	n0=$(wc -l < "$LOG")
	t_check_fails "a copy larger than the disk fails with ENOSPC" \
		"No space left on device" cp "$T/src/big" "$C/big"
	t_eq "... with one line" "$(tail -n +$((n0 + 1)) "$LOG" | grep -c '^trovefs: \(warning\|error\):')" 1
	t_check_fails "nothing is visible under its name" "No such file" stat "$C/big"
	t_eq "no staging file is left behind" "$(find "$T/small/store/.trovefs/tmp" -type f | wc -l)" "0"
	t_check "a small file still fits afterwards" cp "$T/src/b" "$C/b"
	t_eq "and reads back" "$(t_sha "$C/b")" "$(t_sha "$T/src/b")"
	t_umount
else
	t_not_ok "cannot mount a small tmpfs for the disk-full case"
fi

t_done
