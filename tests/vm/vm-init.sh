#!/bin/bash
# PID 1 of the test VM (installed as /sbin/vm-init in the image; kernel cmdline
# init=/sbin/vm-init). Mounts the basics, starts udev, mounts the 9p share "share" at
# /mnt/share, runs /mnt/share/run.sh (the guest test runner, carried in by the share)
# with its output on the console and in /mnt/share/out/console.log, then powers off.
# The host (boot.sh) looks for the line "vm-init: up" on the serial console to know the
# kernel booted; a boot that never prints it is retried once.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -o remount,rw / 2>/dev/null
hostname vmtest
echo "vm-init: up at $(cut -d' ' -f1 /proc/uptime) s"

/usr/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add --type=subsystems
udevadm trigger --action=add --type=devices
udevadm settle -t 60
echo "vm-init: udev settled at $(cut -d' ' -f1 /proc/uptime) s"

mkdir -p /mnt/share
modprobe 9pnet_virtio; modprobe 9p
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /mnt/share; then
  mkdir -p /mnt/share/out
  if [ -x /mnt/share/run.sh ]; then
    echo "vm-init: running /mnt/share/run.sh"
    /mnt/share/run.sh 2>&1 | tee /mnt/share/out/console.log
    echo "vm-init: run.sh exited ${PIPESTATUS[0]}"
  else
    echo "vm-init: no /mnt/share/run.sh"
  fi
else
  echo "vm-init: no 9p share"
fi
echo "vm-init: done at $(cut -d' ' -f1 /proc/uptime) s, powering off"
sync
umount /mnt/share 2>/dev/null
echo o > /proc/sysrq-trigger
sleep 10
