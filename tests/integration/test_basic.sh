#!/bin/bash
# test_basic.sh - the tree and every namespace op through a real mount on
# the local: store (or on Swift with TROVEFS_TEST_SOURCE=swift, see lib.sh),
# checked through the mount and in the store itself.
. "$(dirname "$0")/lib.sh"
t_init
t_mount || exit 1
C=$MNT/containers/c1

t_eq "root lists the four top directories" \
	"$(ls "$MNT" | tr '\n' ' ')" "containers datastores restore snapshots "
# modes say where names can be made: containers/ only, of these
t_eq "modes of the root and the top directories" \
	"$(stat -c %a "$MNT" "$MNT/containers" "$MNT/restore" "$MNT/snapshots" | tr '\n' ' ')" \
	"555 755 555 555 "
# every line the daemon printed is its own: libfuse 3.14 printed "Ignoring
# invalid max threads value 4294967295" at each mount (fs/main.c)
t_eq "the daemon printed no line that is not its own" \
	"$(grep -v '^trovefs: ' "$LOG" || true)" ""
t_check "mkdir creates a container" mkdir "$C"
t_check "the container exists in the store" t_store_has_container c1
t_check_fails "mkdir of an existing container" "File exists" mkdir "$C"

# create, write, read back
t_text "$T/src/text" 20000
t_data "$T/src/rand" 3000000
t_check "cp of a compressible file" cp "$T/src/text" "$C/text"
t_check "cp of a 3 MB random file" cp "$T/src/rand" "$C/rand"
t_eq "read back equals the source (text)" "$(t_sha "$C/text")" "$(t_sha "$T/src/text")"
t_eq "read back equals the source (random)" "$(t_sha "$C/rand")" "$(t_sha "$T/src/rand")"
t_eq "ls -l shows the plain size" "$(stat -c %s "$C/text")" "$(stat -c %s "$T/src/text")"
stored_is_not_plain() { ! t_store_get c1 text | grep -q 'quick brown fox'; }
t_check "the stored object is not the plain text" stored_is_not_plain
t_check "the stored object is compressed" \
	test "$(t_store_size c1 text)" -lt "$(stat -c %s "$T/src/text")"
t_eq "the stored object carries its format" \
	"$(t_store_meta c1 text trovefs-format)" "tfs1"
t_eq "st_blksize is 1 MiB" "$(stat -c %o "$C/text")" "1048576"
t_eq "tail reads the end (random access)" \
	"$(tail -c 100 "$C/rand" | sha256sum)" "$(tail -c 100 "$T/src/rand" | sha256sum)"
t_eq "dd reads a range in the middle" \
	"$(dd if="$C/rand" bs=4096 skip=300 count=3 2>/dev/null | sha256sum)" \
	"$(dd if="$T/src/rand" bs=4096 skip=300 count=3 2>/dev/null | sha256sum)"

# empty files
t_check "touch creates an empty file" touch "$C/empty"
t_eq "the empty file has size 0" "$(stat -c %s "$C/empty")" "0"
t_eq "the empty file reads as empty" "$(wc -c < "$C/empty")" "0"
# touch's release (the commit of the empty file) can come after the next
# command's open: each pair below used to fail with ENOENT
t_check "touch f; echo x > f; touch g; echo y >> g (20 times)" sh -c "
	for i in \$(seq 20); do
		touch '$C/tw'\$i && echo x > '$C/tw'\$i &&
		touch '$C/ta'\$i && echo y >> '$C/ta'\$i || exit 1
	done"
t_eq "... each holds what was written" \
	"$(cat "$C"/tw* "$C"/ta* | sort | uniq -c | awk '{printf "%s %s;", $1, $2}')" \
	"20 x;20 y;"
rm -f "$C"/tw* "$C"/ta*
cp "$T/src/rand" "$C/tz"
t_eq ": > f; cat f over a stored f reads empty (5 times)" \
	"$(for i in 1 2 3 4 5; do : > "$C/tz"; cat "$C/tz" | wc -c; cp "$T/src/rand" "$C/tz"; done | tr '\n' ' ')" \
	"0 0 0 0 0 "
rm -f "$C/tz"

# metadata
t_check "chmod 600" chmod 600 "$C/text"
t_eq "mode is kept" "$(stat -c %a "$C/text")" "600"
t_check "touch -d sets mtime" touch -d "2001-02-03 04:05:06.123456789 UTC" "$C/text"
t_eq "mtime is kept to the nanosecond" "$(stat -c %y "$C/text" | cut -c1-29)" \
	"$(TZ=UTC0 date -d "2001-02-03 04:05:06.123456789 UTC" '+%Y-%m-%d %H:%M:%S.%N' | cut -c1-29)"

# pseudo-directories
t_check "mkdir -p nested pseudo-dirs" mkdir -p "$C/a/b/c"
t_check "cp into a nested dir" cp "$T/src/text" "$C/a/b/c/t2"
t_eq "readdir of a pseudo-dir" "$(ls "$C/a/b/c")" "t2"
t_check_fails "rmdir of a non-empty dir" "Directory not empty" rmdir "$C/a/b"
t_check_fails "unlink of a dir" "Is a directory" rm "$C/a"
t_check "mkdir then rmdir of an empty dir" sh -c "mkdir '$C/gone' && rmdir '$C/gone'"
t_check_fails "the removed dir is gone" "No such file" stat "$C/gone"

# rename
t_check "mv of a file" mv "$C/rand" "$C/a/rand2"
t_eq "the moved file reads the same" "$(t_sha "$C/a/rand2")" "$(t_sha "$T/src/rand")"
t_check_fails "the old name is gone" "No such file" stat "$C/rand"
t_check "mv of a directory tree" mv "$C/a" "$C/z"
t_eq "the moved tree reads the same" "$(t_sha "$C/z/b/c/t2")" "$(t_sha "$T/src/text")"
t_check_fails "the old tree is gone" "No such file" stat "$C/a"
# a file being replaced reads whole until the new one is stored (the
# kernel knows the new size so far: it cut the read there, a short read)
cp "$T/src/rand" "$C/old"
head -c 100000 "$T/src/text" > "$T/src/new"
{ cat "$T/src/new"; sleep 2; } | cp /dev/stdin "$C/old" &
cp_pid=$!
for _ in $(seq 50); do
	[ "$(stat -c %s "$C/old")" = 100000 ] && break
	sleep 0.1
done
t_eq "cat of a file being replaced gives the old content whole" \
	"$(t_sha "$C/old")" "$(t_sha "$T/src/rand")"
wait "$cp_pid"
t_eq "... and the new one once stored" "$(t_sha "$C/old")" "$(t_sha "$T/src/new")"
rm "$C/old"
t_check "mv over an existing file replaces it" sh -c "cp '$T/src/text' '$C/x1' && mv '$C/x1' '$C/empty'"
t_eq "the replaced file has the new content" "$(t_sha "$C/empty")" "$(t_sha "$T/src/text")"

# truncate; refused writes are logged as warnings
t_allow "is not supported"
t_check "truncate -s 0" truncate -s 0 "$C/empty"
t_eq "the truncated file is empty" "$(stat -c %s "$C/empty")" "0"
t_check "> file truncates and rewrites" sh -c "echo hello > '$C/text'"
t_eq "the rewritten file" "$(cat "$C/text")" "hello"
t_check_fails "truncate to a non-zero size" "Operation not supported" truncate -s 5 "$C/text"
t_check_fails "a write in the middle of a file" "Operation not supported" \
	dd if=/dev/zero of="$C/text" bs=1 count=1 seek=2 conv=notrunc
t_eq "a refused write leaves the file as it was" "$(cat "$C/text")" "hello"
# appending (>>, O_APPEND) stores the file anew, its old bytes first
t_allow "appending to '.*' bytes are stored anew first"
t_check "appending to a stored file (>>)" sh -c "echo world >> '$C/text'"
t_eq "... reads back whole" "$(cat "$C/text")" "hello
world"
t_check "... and again, with dd oflag=append" \
	dd if="$T/src/text" of="$C/text" bs=64k oflag=append conv=notrunc status=none
t_eq "... reads back whole" "$(t_sha "$C/text")" \
	"$(printf 'hello\nworld\n' | cat - "$T/src/text" | sha256sum | cut -d' ' -f1)"
echo hello > "$C/text"
t_check_fails "writing below what was written" "Operation not supported" \
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"abcdef")
os.pwrite(fd, b"x", 2)' "$C/text"
t_eq "... leaves the file as it was" "$(cat "$C/text")" "hello"
t_check_fails "an append after a refused write in the middle" \
	"Operation not supported" python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.pwrite(fd, b"x", 2)
except OSError:
    pass
try:
    os.pwrite(fd, b"more", 6)
finally:
    os.close(fd)' "$C/text"
t_eq "... leaves the file as it was" "$(cat "$C/text")" "hello"
# two appenders at once: the second is refused (EBUSY, one line), the
# first is stored whole; never zeros where the other one's bytes were
printf 'start\n' > "$C/log2"
n0=$(wc -l < "$LOG")
t_check_fails "a second appender while one appends" "Device or resource busy" \
	python3 -c 'import os, sys
a = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
b = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(a, b"A1\n")
try:
    os.write(b, b"B1\n")
finally:
    os.write(a, b"A2\n")
    os.close(a)
    try:
        os.close(b)
    except OSError:
        pass' "$C/log2"
t_eq "... the first one's file is stored" "$(cat "$C/log2")" "start
A1
A2"
t_eq "... with one line" "$(tail -n +$((n0 + 1)) "$LOG" | grep -c '^trovefs: \(warning\|error\):')" 1
t_allow "appending to '.*' refused: another descriptor is writing it"
# a shared mmap of a new file fails (ENODEV) instead of killing with SIGBUS
t_check_fails "mmap of a new file open for read and write" "No such device" \
	python3 -c 'import os, sys, mmap
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC)
os.ftruncate(fd, 8192)
m = mmap.mmap(fd, 8192)
m[0:5] = b"hello"' "$C/mm"
rm -f "$C/mm" "$C/log2"
# a new file opened for writing twice before anything is written (a
# redirection opened again): one file, the output stored
t_check "cmd > f 2> f" sh -c 'sh -c "echo out; echo more" > "$1" 2> "$1"' - "$C/twice"
t_eq "... stores the output" "$(cat "$C/twice")" "out
more"
printf 'old content\n' > "$C/twice"
t_check ": > f; echo y >> f" sh -c ': > "$1"; echo y >> "$1"' - "$C/twice"
t_eq "... stores what was appended to the empty file" "$(cat "$C/twice")" "y"
rm -f "$C/twice"
# open files follow a rename, as on a disk
printf 'abc\n' > "$C/mv1"
t_check "append to a file renamed since its open" sh -c \
	'exec 3>> "$1"; mv "$1" "$2"; echo d >&3 || exit 1; exec 3>&-' - "$C/mv1" "$C/mv2"
t_eq "... goes to the new name" "$(cat "$C/mv2")" "abc
d"
t_check "read a file renamed since its open" sh -c \
	'exec 3< "$1"; mv "$1" "$2"; test "$(cat <&3)" = "abc
d"' - "$C/mv2" "$C/mv3"
rm -f "$C/mv3"
# the store has no holes: "truncate -s 1T" writes a TiB of zeros, and a
# Ctrl-C stops it, storing nothing, with one line
n0=$(wc -l < "$LOG")
t_check "Ctrl-C stops an extending truncate" sh -c \
	'timeout -s INT 2 truncate -s 1T "$1"; [ $? -eq 124 ]' - "$C/huge"
t_check_fails "... and nothing is stored" "No such file" ls "$C/huge"
t_eq "... with one line" "$(tail -n +$((n0 + 1)) "$LOG" | grep -c '^trovefs: \(warning\|error\):')" 1
t_allow "'.*/huge' is not stored: extending it was interrupted"
# a file open for reading stays on the version it opened, also when its
# first read comes after the replacement
t_check_fails "a read after the file was replaced since its open" \
	"Stale file handle" python3 -c 'import os, sys
open(sys.argv[1], "wb").write(b"OLD" * 1000)
os.stat(sys.argv[1])
r = os.open(sys.argv[1], os.O_RDONLY)
open(sys.argv[1], "wb").write(b"NEW" * 10)
os.pread(r, 100000, 0)' "$C/ver"
t_allow "'.*/ver' was replaced between its open and its first read"
rm -f "$C/ver"
# a name longer than a key may be: ENAMETOOLONG and one line
long=$(printf 'd%.0s' $(seq 200))/$(printf 'e%.0s' $(seq 200))
long=$long/$long/$long/x
t_check_fails "a path longer than a key may be" "File name too long" \
	mkdir -p "$C/$long"
t_log_has "... one line says so" "refused \(ENAMETOOLONG\): a name in a container is at most 1024 bytes"
# a name over 255 bytes: that limit is named; two such names sharing
# their first 60 bytes are two paths, each with its line
n0=$(wc -l < "$LOG")
long=$(printf 'n%.0s' $(seq 300))
t_check_fails "a file name over 255 bytes" "File name too long" touch "$C/${long}1"
t_check_fails "... and another" "File name too long" touch "$C/${long}2"
t_eq "... a line each, naming the 255 bytes" \
	"$(tail -n +$((n0 + 1)) "$LOG" | grep -c 'a file or directory name is at most 255 bytes')" 2
t_allow "refused \(ENAMETOOLONG\)"
rm -rf "$C/$(printf 'd%.0s' $(seq 200))"

# sparse files: cp seeks over the holes and extends the tail with
# ftruncate(); the holes are stored as zeros (over an existing file too)
head -c 100000 "$T/src/rand" > "$T/src/sparse"
dd if="$T/src/rand" of="$T/src/sparse" bs=50000 count=1 seek=60 \
	conv=notrunc status=none
truncate -s 5242880 "$T/src/sparse"
t_check "cp --sparse=always of a sparse file" \
	cp --sparse=always "$T/src/sparse" "$C/rand"
t_eq "the holes read back as zeros" "$(t_sha "$C/rand")" "$(t_sha "$T/src/sparse")"
t_eq "the sparse copy has the plain size" "$(stat -c %s "$C/rand")" 5242880
cp "$T/src/text" "$C/sp2"
t_check "cp of a file that is all hole, over a file" \
	sh -c "truncate -s 3M '$T/src/hole' && cp --sparse=always '$T/src/hole' '$C/sp2'"
t_eq "it reads back as zeros" "$(t_sha "$C/sp2")" "$(t_sha "$T/src/hole")"
rm -f "$C/rand" "$C/sp2"
t_check "dd with conv=fsync" dd if="$T/src/text" of="$C/synced" bs=64k conv=fsync status=none
t_eq "the fsynced file" "$(t_sha "$C/synced")" "$(t_sha "$T/src/text")"

# names
t_check "a name with spaces" cp "$T/src/text" "$C/with  spaces and 'quotes'"
t_check "a unicode name" cp "$T/src/text" "$C/ünïcødé-日本語-🙂"
long=$(printf 'L%.0s' $(seq 255))
t_check "a 255-byte name" cp "$T/src/text" "$C/$long"
t_eq "the 255-byte name reads back" "$(t_sha "$C/$long")" "$(t_sha "$T/src/text")"
t_check_fails "a 256-byte name" "File name too long" touch "$C/${long}X"
t_check "names with dots" sh -c "touch '$C/..dots' '$C/a..b' '$C/...'"
t_eq "the dotted names list" "$(ls -A "$C" | grep -cxE '\.\.dots|a\.\.b|\.\.\.')" "3"
t_eq "ls -A lists every name" "$(ls -A "$C" | wc -l)" "10"

# ls -l takes every stat from the listing: READDIRPLUS entries carry the
# attributes, so the kernel sends no LOOKUP per name (libfuse 3.14 drops
# them from entries given at offset 0: fs/vfs_dirsnap.c)
t_check "mkdir for 200 files" mkdir "$C/many"
t_check "200 files for ls -l" sh -c "for i in \$(seq 1 200); do : > '$C/many/f'\$i; done"
t_check "unmount before the debug mount" t_umount
MAIN_LOG=$LOG
LOG=$T/debug.log
t_check "mount with -o debug" t_mount -o debug
before=$(wc -l < "$LOG")
t_eq "ls -l lists the 200 files" "$(ls -l "$C/many" | grep -c ' f[0-9]*$')" "200"
lookups=$(tail -n +"$before" "$LOG" | grep -c 'opcode: LOOKUP' || true)
t_check "ls -l of 200 files sent at most 5 LOOKUPs (sent $lookups)" test "$lookups" -le 5
t_check "unmount the debug mount" t_umount
LOG=$MAIN_LOG
t_check "mount again, with the user's max_idle_threads" \
	t_mount -o max_idle_threads=2

# read-only parts and unknown paths: EROFS, one line per path (a minute)
t_allow "refused \\(EROFS\\): only containers/ is writable"
t_check_fails "writing under restore/" "Read-only file system" touch "$MNT/restore/x"
t_eq "one line for the refused touch" \
	"$(grep -c "of '/restore/x' refused (EROFS): only containers/ is writable" "$LOG")" "1"
t_check_fails "mkdir under datastores/" "Read-only file system" mkdir "$MNT/datastores/x"
echo mv > "$C/mvro"
t_check_fails "mv of a file into restore/" "Read-only file system" mv "$C/mvro" "$MNT/restore/mvro"
t_log_has "... the line names the destination" "rename of '/restore/mvro' refused \\(EROFS\\)"
rm -f "$C/mvro"
t_check_fails "a file in the root" "Read-only file system" touch "$MNT/x"
t_check_fails "an unknown container" "No such file" ls "$MNT/containers/nope"
t_check_fails "an unknown file" "No such file" cat "$C/nope"
t_check_fails "a file in an unknown container" "No such file" touch "$MNT/containers/nope/x"

# containers/ holds containers only; the store holds no FIFOs, sockets or
# devices: EPERM (what mknod(2) gives for a type a filesystem lacks) and
# one log line each, not ENOSYS or a misleading EEXIST/ENOENT
t_allow "cannot create the (file|FIFO|socket|block device) '(containers/)?[a-z0-9/]+': (containers/ holds|the store keeps)"
t_check_fails "touch of a file in containers/" "Operation not permitted" \
	touch "$MNT/containers/afile"
t_check_fails "> a file in containers/" "Operation not permitted" \
	sh -c "echo x > '$MNT/containers/afile'"
t_check_fails "> an existing container" "Is a directory" sh -c "echo x > '$C'"
echo keep > "$C/keep"
t_check_fails "mv of a file into containers/" "Operation not permitted" \
	mv "$C/keep" "$MNT/containers/"
t_eq "the file stays where it was" "$(cat "$C/keep")" "keep"
t_check "a directory still moves into containers/ (copied)" \
	sh -c "mkdir '$C/pd' && echo in-pd > '$C/pd/f' && mv '$C/pd' '$MNT/containers/pd2'"
t_eq "and is a container with the file" "$(cat "$MNT/containers/pd2/f")" "in-pd"
t_check "rm -r of that container" rm -r "$MNT/containers/pd2"
t_check_fails "mkfifo in a container" "Operation not permitted" mkfifo "$C/fifo"
t_check_fails "mkfifo in containers/" "Operation not permitted" mkfifo "$MNT/containers/fifo"
t_check_fails "mkfifo over an existing file" "File exists" mkfifo "$C/keep"
t_check_fails "mkfifo under restore/" "Read-only file system" mkfifo "$MNT/restore/fifo"
t_check_fails "a socket bound in a container" "Operation not permitted" \
	python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('$C/sock')"
t_check_fails "mknod of a device" "Operation not permitted" mknod "$C/dev" b 7 0
t_allow "cannot create 'containers/c1/hard' as a hard link of 'containers/c1/keep'"
t_check_fails "a hard link" "Operation not permitted" ln "$C/keep" "$C/hard"
t_log_has "the refused hard link is logged" "as a hard link of 'containers/c1/keep'"
t_log_has "the refused FIFO is logged" "cannot create the FIFO 'c1/fifo': the store keeps"
t_eq "nothing of these shows in the container" \
	"$(ls "$C" | grep -cE '^(fifo|sock|dev|pd|hard)$' || true)" "0"
t_eq "nor in containers/" "$(ls "$MNT/containers" | grep -cE '^(afile|fifo|keep)$' || true)" "0"
t_check "rm of the kept file" rm "$C/keep"

# statfs
t_check "df works on the mount" df -h "$MNT"
t_check "stat -f reports a name limit of 255" sh -c "[ \"\$(stat -f -c %l '$MNT')\" = 255 ]"

# unlink and rmdir of containers
t_check "rm -r of a tree" rm -r "$C/z"
t_check_fails "the tree is gone" "No such file" stat "$C/z"
t_check_fails "rmdir of a non-empty container" "Directory not empty" rmdir "$C"
t_check "rm -r of the container" rm -r "$C"
t_check_fails "the container is gone" "No such file" stat "$C"
no_container() { ! t_store_has_container c1; }
t_check "nothing is left in the store" no_container

t_check "unmount" t_umount

# byte 9 of a stored tfs1 object: its compression (docs/FORMAT.md 2.3)
header_comp() { t_store_get "$1" "$2" | head -c 10 | tail -c 1 | od -An -tu1 | tr -d ' '; }

# compression=lz4: frames in LZ4 (docs/FORMAT.md, compression 2); any
# mount reads them, whatever its own compression setting
t_check "mount with -o compression=lz4" t_mount -o compression=lz4
C=$MNT/containers/lz
t_check "mkdir of a container" mkdir "$C"
t_check "cp of a compressible file" cp "$T/src/text" "$C/text"
t_check "cp of a random file" cp "$T/src/rand" "$C/rand"
t_eq "the header says LZ4" "$(header_comp lz text)" "2"
t_check "the stored object is compressed" \
	test "$(t_store_size lz text)" -lt "$(stat -c %s "$T/src/text")"
t_eq "read back equals the source (text)" "$(t_sha "$C/text")" "$(t_sha "$T/src/text")"
t_eq "read back equals the source (random)" "$(t_sha "$C/rand")" "$(t_sha "$T/src/rand")"
t_check "unmount" t_umount
t_check "mount with the default compression" t_mount
t_eq "an LZ4 object reads back there too" "$(t_sha "$C/text")" "$(t_sha "$T/src/text")"
t_eq "tail of an LZ4 object (random access)" \
	"$(tail -c 1000 "$C/text" | sha256sum)" "$(tail -c 1000 "$T/src/text" | sha256sum)"
t_check "rm -r of the container" rm -r "$C"
t_check "unmount" t_umount

# per container: [container:NAME] compression = lz4, the rest deflate
t_write_conf "$(printf '[container:lzc]\ncompression = lz4')"
t_check "mount with [container:lzc] compression = lz4" t_mount
t_check "mkdir of lzc and dfl" mkdir "$MNT/containers/lzc" "$MNT/containers/dfl"
t_check "cp into both" sh -c "cp '$T/src/text' '$MNT/containers/lzc/t' && cp '$T/src/text' '$MNT/containers/dfl/t'"
t_eq "lzc's object is LZ4" "$(header_comp lzc t)" "2"
t_eq "dfl's object is deflate" "$(header_comp dfl t)" "1"
t_eq "both read back" "$(t_sha "$MNT/containers/lzc/t") $(t_sha "$MNT/containers/dfl/t")" \
	"$(t_sha "$T/src/text") $(t_sha "$T/src/text")"
t_check "rm -r of both" rm -r "$MNT/containers/lzc" "$MNT/containers/dfl"
t_check "unmount" t_umount
t_write_conf ""
t_check_fails "an unknown compression does not mount" "must be deflate or lz4" \
	"$TROVEFS" -f -o conf="$CONF",compression=zstd "$(t_source)" "$MNT"
t_done
