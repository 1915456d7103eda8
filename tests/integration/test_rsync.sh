#!/bin/bash
# test_rsync.sh - rsync, cp -a/-r, mv, rm -r, ls -lR, du, find through the
# mount behave as on a local disk, and rsync's temp-file-then-rename costs
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
nfiles=$(find "$S" -type f | wc -l)

t_check "rsync -a into the mount" rsync -a "$S/" "$C/"
t_eq "every file was stored once (one encode per file)" \
	"$(grep -c "committed '" "$LOG")" "$nfiles"
t_eq "no file was re-encoded for the rename" \
	"$(grep -c "renamed '" "$LOG")" "$nfiles"
t_check "the tree reads back identical (diff -r)" diff -r "$S" "$C"
t_eq "sizes and mtimes are kept" \
	"$(cd "$S" && find . -type f -printf '%p %s %T@\n' | sort)" \
	"$(cd "$C" && find . -type f -printf '%p %s %T@\n' | sort)"
t_eq "modes are kept" "$(stat -c %a "$C/small.txt")" "640"
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
	"cd '$S' && find . -type f -printf '%p %s %T@\n' | sort > '$T/l1' && cd '$C/copy-a' && find . -type f -printf '%p %s %T@\n' | sort > '$T/l2' && cmp '$T/l1' '$T/l2' && diff -r '$S' '$C/copy-a'"
t_check "cp -r out of the mount" cp -r "$C/copy-a" "$T/out"
t_check "the copy out is identical" diff -r "$S" "$T/out"
t_check "mv of a tree inside the mount" mv "$C/copy-a" "$C/moved"
t_check "the moved tree is identical" diff -r "$S" "$C/moved"
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

t_check "unmount" t_umount
t_done
