#!/bin/bash
# test_rsync.sh - rsync, cp -a/-r, mv, rm -r, ls -lR, du, find, tar through
# the mount behave as on a local disk, symlinks included, and rsync's
# temp-file-then-rename costs
# one encode per file. On the local: store, or on Swift with
# TROVEFS_TEST_SOURCE=swift (see lib.sh).
. "$(dirname "$0")/lib.sh"
t_init
command -v rsync >/dev/null || t_skip "no rsync (apt-get install rsync)"
t_mount -o log_level=debug || exit 1
# debug lines are expected here; errors and warnings still are not
t_allow 'debug: '
C=$MNT/containers/backups
mkdir "$C"

S=$T/src/tree
mkdir -p "$S/db/2024" "$S/db/2025" "$S/empty-dir" "$S/deep/a/b/c/d"
t_text "$S/db/2024/dump.sql" 50000
t_data "$S/db/2025/blob.bin" 2500000 blob
t_data "$S/deep/a/b/c/d/leaf" 1234 leaf
: > "$S/zero"
echo small > "$S/small.txt"
chmod 640 "$S/small.txt"
touch -d '2020-01-01 00:00:00' "$S/db/2024/dump.sql"
# symlinks, as a database directory has them (PostgreSQL's pg_tblspc/ and
# a pg_wal moved elsewhere): relative, to a directory, absolute and
# dangling; rsync -a, cp -a and tar must keep them (before: ENOSYS, rsync
# exited 23 and the links were lost)
ln -s dump.sql "$S/db/2024/latest.sql"
ln -s ../deep/a "$S/db/a-link"
ln -s /srv/tablespaces/16384 "$S/db/pg_tblspc-16384"
touch -h -d '2019-05-05 05:05:05' "$S/db/a-link"
nfiles=$(find "$S" -type f | wc -l)
# links DIR [FORMAT]: every symlink under DIR, sorted (default: with its
# mtime in whole seconds: rsync leaves a link created within the second of
# its source's mtime as created, on a local disk too)
links() {
	(cd "$1" && find . -type l -printf "${2:-%p -> %l %TY-%Tm-%Td %TH:%TM:%TS\n}" |
		sed 's/\.[0-9]*$//' | sort)
}

t_check "rsync -a into the mount" rsync -a "$S/" "$C/"
t_eq "every file was stored once (one encode per file)" \
	"$(grep -c "committed '" "$LOG")" "$nfiles"
t_eq "no file was re-encoded for the rename" \
	"$(grep -c "renamed '" "$LOG")" "$nfiles"
t_check "the tree reads back identical (diff -r)" diff -r --no-dereference "$S" "$C"
t_eq "sizes and mtimes are kept" \
	"$(cd "$S" && find . -type f -printf '%p %s %T@\n' | sort)" \
	"$(cd "$C" && find . -type f -printf '%p %s %T@\n' | sort)"
t_eq "modes are kept" "$(stat -c %a "$C/small.txt")" "640"
t_eq "symlinks are kept: targets and mtimes" "$(links "$C")" "$(links "$S")"
t_eq "a link to a file reads through" "$(t_sha "$C/db/2024/latest.sql")" \
	"$(t_sha "$S/db/2024/dump.sql")"
t_eq "ls -l shows a link" "$(ls -l "$C/db/pg_tblspc-16384" | cut -c1)" l
out=$(rsync -a --stats "$S/" "$C/" 2>&1)
t_eq "a second rsync -a transfers nothing" \
	"$(printf '%s\n' "$out" | sed -n 's/^Number of regular files transferred: //p')" "0"
t_eq "and stores nothing" "$(grep -c "committed '" "$LOG")" "$nfiles"

t_check "sha256sum of everything read back equals the source" \
	sh -c "cd '$S' && find . -type f -print0 | sort -z | xargs -0 sha256sum > '$T/sums' && cd '$C' && sha256sum -c --quiet '$T/sums'"

touch -d '2021-06-01 12:00:00' "$S/small.txt"
echo changed > "$S/small.txt"
touch -d '2021-06-01 12:00:00' "$S/small.txt"
out=$(rsync -a --stats "$S/" "$C/" 2>&1)
t_eq "rsync after one change transfers one file" \
	"$(printf '%s\n' "$out" | sed -n 's/^Number of regular files transferred: //p')" "1"
t_eq "the changed file reads back" "$(cat "$C/small.txt")" "changed"

# cp -a, cp -r, mv, rm -r
t_check "cp -a into the mount" cp -a "$S" "$C/copy-a"
t_check "cp -a keeps content, sizes, mtimes" sh -c \
	"cd '$S' && find . -type f -printf '%p %s %T@\n' | sort > '$T/l1' && cd '$C/copy-a' && find . -type f -printf '%p %s %T@\n' | sort > '$T/l2' && cmp '$T/l1' '$T/l2' && diff -r --no-dereference '$S' '$C/copy-a'"
t_eq "cp -a keeps the symlinks" "$(links "$C/copy-a")" "$(links "$S")"
t_check "tar of the tree out of the mount" tar -C "$C/copy-a" -cf "$T/tree.tar" .
mkdir "$T/untar"
t_check "untars with the links" tar -C "$T/untar" -xf "$T/tree.tar"
t_eq "the links came out of the mount as links" "$(links "$T/untar" '%p -> %l\n')" \
	"$(links "$S" '%p -> %l\n')"
t_allow "cannot create the symlink 'containers/link': containers/ holds"
t_check_fails "a symlink cannot be a container" "Operation not permitted" \
	ln -s x "$MNT/containers/link"
t_check_fails "nor over an existing name" "File exists" \
	ln -s x "$C/small.txt"
t_check "cp -r out of the mount" cp -r "$C/copy-a" "$T/out"
t_check "the copy out is identical" diff -r --no-dereference "$S" "$T/out"
t_check "mv of a tree inside the mount" mv "$C/copy-a" "$C/moved"
t_check "the moved tree is identical" diff -r --no-dereference "$S" "$C/moved"
t_check "mv of a file out of the mount" mv "$C/moved/small.txt" "$T/moved-out.txt"
t_eq "the file moved out" "$(cat "$T/moved-out.txt")" "changed"
t_check_fails "and is gone from the mount" "No such file" stat "$C/moved/small.txt"
t_check "mv of a file into the mount" mv "$T/moved-out.txt" "$C/moved/back.txt"
t_eq "the file moved in" "$(cat "$C/moved/back.txt")" "changed"

# listing tools
t_check "ls -lR" ls -lR "$C"
t_eq "find lists every file" "$(cd "$C" && find . -type f | wc -l)" \
	"$(( nfiles * 2 ))"
t_eq "find lists every directory" "$(cd "$C/moved" && find . -type d | sort | tr '\n' ' ')" \
	"$(cd "$S" && find . -type d | sort | tr '\n' ' ')"
t_check "du -s of the tree" du -s "$C/moved"
t_eq "du -b of a file counts its plain bytes" \
	"$(du -b "$C/moved/db/2024/dump.sql" | cut -f1)" \
	"$(stat -c %s "$S/db/2024/dump.sql")"
t_check "rm -r of a tree" rm -r "$C/moved"
t_check_fails "the tree is gone" "No such file" stat "$C/moved"
t_eq "nothing of it is left in the store" "$(t_store_names backups | grep -c moved)" "0"

# ownership is stored: rsync -a as root of other users' files keeps their
# owners (before: chown was refused with EPERM and rsync exited 23), a
# second run changes nothing, and another mount shows them
mkdir -p "$T/own/d"
echo x > "$T/own/f"
echo y > "$T/own/g"
ln -s f "$T/own/l"
chown nobody:nogroup "$T/own/f" "$T/own/d"
chown 4242:4343 "$T/own/g"
chown -h 4242:4343 "$T/own/l"
owners() { (cd "$1" && stat -c '%n %u %g' f g d l); }
t_check "rsync -a of other users' files" rsync -a "$T/own/" "$C/own/"
t_eq "their owners are shown" "$(owners "$C/own")" "$(owners "$T/own")"
t_eq "a second rsync -a changes nothing" \
	"$(rsync -ai "$T/own/" "$C/own/" 2>&1)" ""
t_check "chown of a stored file" chown 4444:4545 "$C/own/f"
t_check "chgrp -h of a link" chgrp -h 4546 "$C/own/l"
t_check "remount with allow_other" t_remount -o log_level=debug,allow_other
t_eq "owners are kept in the store" "$(cd "$C/own" && stat -c '%n %u %g' f l g)" \
	"f 4444 4545
l 4242 4546
g 4242 4343"
# as on a disk, only root gives files away; the owner may change the group
# to one of its own (needs the mount reachable by other users)
chmod 711 "$T"
nb() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
chown nobody:4343 "$C/own/g"
t_check_fails "a user cannot give its file away" "Operation not permitted" \
	nb chown 4242 "$C/own/g"
t_check_fails "nor take another's group" "Operation not permitted" \
	nb chgrp 4545 "$C/own/g"
t_check "but may set its own group" nb chgrp nogroup "$C/own/g"
t_eq "which shows" "$(stat -c '%U %G' "$C/own/g")" "nobody nogroup"
t_check_fails "nor change another's file" "Operation not permitted" \
	nb chgrp nogroup "$C/own/f"
t_eq "one log line per refusal" "$(grep -c "chown of '.*' to .* refused" "$LOG")" 3
t_allow "chown of '.*' to .* refused"
chmod 700 "$T"

t_check "unmount" t_umount
t_done
