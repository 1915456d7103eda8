#!/bin/sh
# trovefs-demo.sh BUILD_DIR - mounts a demo trovefs on the embedded local:
# store with a freshly generated key, and says how to use and unmount it.
# Everything lives under ${TROVEFS_DEMO_DIR:-/tmp/trovefs-demo}; running it
# again reuses the key and the store.
set -eu

build=${1:-build}
trovefs=$build/trovefs
dir=${TROVEFS_DEMO_DIR:-/tmp/trovefs-demo}

[ -x "$trovefs" ] || { echo "trovefs-demo: build first (make)" >&2; exit 1; }
mkdir -p "$dir/store" "$dir/mnt"
chmod 700 "$dir"
if [ ! -s "$dir/key" ]; then
	(umask 077 && openssl rand -hex 32 > "$dir/key")
fi
(umask 077 && cat > "$dir/trovefs.conf" <<CONF
# trovefs demo configuration - see trovefs.conf(5)
[trovefs]
key_file = $dir/key
CONF
)
if mountpoint -q "$dir/mnt"; then
	echo "trovefs-demo: already mounted at $dir/mnt"
else
	"$trovefs" -o "conf=$dir/trovefs.conf" "local:$dir/store" "$dir/mnt"
fi
[ -d "$dir/mnt/containers/demo" ] || mkdir "$dir/mnt/containers/demo"
cp /etc/os-release "$dir/mnt/containers/demo/os-release"

cat <<MSG
trovefs is mounted at $dir/mnt (store: $dir/store, key: $dir/key).

  ls -l $dir/mnt/containers/demo            # a file copied in just now
  cat $dir/mnt/containers/demo/os-release   # read back (decrypted)
  mkdir $dir/mnt/containers/mine            # a new container
  rsync -a /etc/ $dir/mnt/containers/mine/etc/
  ls -l $dir/store/demo                     # what is stored: encrypted
  umount $dir/mnt                           # or: fusermount3 -u $dir/mnt
MSG
