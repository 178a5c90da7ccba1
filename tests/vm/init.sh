#!/bin/busybox sh
# /init of the test VM (see run.sh): load the modules, mount the host root read-only with a
# tmpfs overlay, run the command named by `vmrun=` on the kernel command line, power off.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /host /rw /root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do
  insmod "/modules/$m" || echo "VMRUN: insmod $m failed"
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /host || echo "VMRUN: 9p mount failed"
mount -t tmpfs -o size=200m tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /root \
  || echo "VMRUN: overlay mount failed"
mount -t proc proc /root/proc
mount -t sysfs sysfs /root/sys
mount -t devtmpfs devtmpfs /root/dev
cmd=$(sed -n 's/.*vmrun=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "VMRUN-START"
chroot /root /bin/bash "$cmd"
echo "VMRUN-EXIT $?"
sync
poweroff -f
