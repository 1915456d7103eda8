#!/bin/bash
# test_mount_helper.sh - mount -t trovefs, an fstab line with the
# fstab-only words, umount, daemon mode (syslog), --help and --version.
. "$(dirname "$0")/lib.sh"
t_init
HELPER=$(cd "$(dirname "$0")/../.." && pwd)/mount-helpers/mount.trovefs
export TROVEFS_BIN=$TROVEFS

t_check "--version names the version" sh -c "'$TROVEFS' --version | grep -q '^trovefs [0-9]'"
t_check "--help lists the conf option" sh -c "'$TROVEFS' --help 2>&1 | grep -q 'conf='"
t_check_fails "no arguments is a usage error" "expected SOURCE and MOUNTPOINT" "$TROVEFS"

# The helper as mount(8) runs it, fstab-only words dropped.
t_check "the helper with fstab-only words" \
	"$HELPER" "local:$STORE" "$MNT" -o "_netdev,nofail,noauto,defaults,x-systemd.automount,comment=x,conf=$CONF"
t_check "the mount is up" mountpoint -q "$MNT"
t_check "it is listed as fuse.trovefs with the source" \
	grep -q "^local:$STORE $MNT fuse.trovefs " /proc/mounts
t_check "mkdir + cp through the helper's mount" sh -c "mkdir '$MNT/containers/h' && echo hi > '$MNT/containers/h/f'"
t_check "umount" umount "$MNT"
t_check "the mount is gone" sh -c "! mountpoint -q '$MNT'"
t_check "the helper honours -f (fake)" "$HELPER" "local:$STORE" "$MNT" -f -o "conf=$CONF"
t_check "and mounted nothing" sh -c "! mountpoint -q '$MNT'"

# mount(8) itself and an fstab line: mount looks for /sbin/mount.trovefs.
if ! t_sbin_helper; then
	t_not_ok "mount(8): /sbin/mount.trovefs is not trovefs's helper"
else
	t_check "mount -t trovefs" mount -t trovefs "local:$STORE" "$MNT" -o "conf=$CONF"
	t_eq "the file written before is there" "$(cat "$MNT/containers/h/f")" "hi"
	t_check "umount" umount "$MNT"
	echo "local:$STORE $MNT trovefs _netdev,nofail,noauto,conf=$CONF 0 0" > "$T/fstab"
	t_check "mount by an fstab line (mount -T FSTAB DIR)" mount -T "$T/fstab" "$MNT"
	t_eq "the fstab mount works" "$(cat "$MNT/containers/h/f")" "hi"
	t_check "umount" umount "$MNT"
fi
t_sbin_helper_remove

# Daemon mode (no -f): returns once mounted, logs to syslog, fusermount3 -u.
t_check "the daemon mode returns once mounted" "$TROVEFS" -o "conf=$CONF" "local:$STORE" "$MNT"
t_check "the daemon's mount is up" mountpoint -q "$MNT"
t_eq "and serves files" "$(cat "$MNT/containers/h/f")" "hi"
t_check "fusermount3 -u unmounts it" fusermount3 -u "$MNT"
t_done
