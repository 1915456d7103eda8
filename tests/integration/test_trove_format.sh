#!/bin/bash
# test_trove_format.sh - format=trove (per mount and per container): what
# trovefs stores is a valid Trove backup (openssl enc -d | gunzip gives the
# original bytes), it reads back through the mount, and the command line
# beats the config file.
. "$(dirname "$0")/lib.sh"
t_init
t_text "$T/src/text" 40000
t_data "$T/src/rand" 2000000 r

trove_decode() { # STOREDFILE -> stdout
	openssl enc -d -aes-256-cbc -md sha256 -pass "file:$KEY" -in "$1" 2>/dev/null | gunzip
}

# per mount, from the command line (the config says tfs1)
t_write_conf "format = tfs1"
t_mount -o format=trove || exit 1
C=$MNT/containers/c
mkdir "$C"
t_check "cp with format=trove" cp "$T/src/text" "$C/text"
cp "$T/src/rand" "$C/rand"
t_eq "the object is marked as Trove format" \
	"$(getfattr --only-values -n user.trovefs.trovefs-format "$STORE/c/text" 2>/dev/null)" "trove-sha256"
t_eq "the stored object starts with Salted__" "$(head -c 8 "$STORE/c/text")" "Salted__"
t_eq "openssl enc -d | gunzip restores it (text)" "$(trove_decode "$STORE/c/text" | sha256sum)" "$(sha256sum < "$T/src/text")"
t_eq "openssl enc -d | gunzip restores it (random)" "$(trove_decode "$STORE/c/rand" | sha256sum)" "$(sha256sum < "$T/src/rand")"
t_eq "it reads back through the mount" "$(t_sha "$C/text")" "$(t_sha "$T/src/text")"
t_eq "ls -l shows the plain size" "$(stat -c %s "$C/rand")" "2000000"
t_eq "a range read works (tail)" "$(tail -c 1000 "$C/rand" | sha256sum)" "$(tail -c 1000 "$T/src/rand" | sha256sum)"
t_umount

# per container, from the config file
t_write_conf "[container:legacy]
format = trove"
t_mount || exit 1
mkdir "$MNT/containers/legacy"
cp "$T/src/text" "$MNT/containers/legacy/t"
cp "$T/src/text" "$C/t-default"
t_eq "[container:legacy] format = trove applies there" "$(head -c 8 "$STORE/legacy/t")" "Salted__"
t_eq "other containers keep the default tfs1" \
	"$(getfattr --only-values -n user.trovefs.trovefs-format "$STORE/c/t-default" 2>/dev/null)" "tfs1"
t_eq "both read back" "$(t_sha "$MNT/containers/legacy/t")$(t_sha "$C/t-default")" \
	"$(t_sha "$T/src/text")$(t_sha "$T/src/text")"

# a Trove-format object damaged in the store
t_flip "$STORE/legacy/t" 200
t_allow "corrupt|truncated|Bad message"
t_check_fails "a damaged Trove-format object fails the read" "Bad message" cat "$MNT/containers/legacy/t"
t_umount
t_done
