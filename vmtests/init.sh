#!/bin/sh
# /init of the vmtests guest (busybox sh): mounts what the agent and the tests
# need, loads the network modules, runs the integration tests and writes their
# output and a result marker to the second serial port, which the host reads
# (vmtests/run.sh). Kernel command-line words without a dot arrive here as
# environment variables: PALISADE_FILTER (gtest filter) and
# PALISADE_EXPECT_BPF_LSM (1: the tests fail unless the agent uses BPF LSM).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The initramfs is writable already; no tmpfs over /tmp, which would hide the
# binaries of a build tree under /tmp (they sit at the host's paths).
chmod 1777 /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t bpf -o mode=0700 bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup

results=/dev/ttyS1
say() { echo "vmtests: $*" | tee -a "$results"; }

say "kernel $(uname -r), active LSMs: $(cat /sys/kernel/security/lsm)"
ip link set lo up
while read -r module; do
    insmod "/modules/$module" || say "insmod $module failed"
done </modules/load

cd /tmp || say "cd /tmp failed"
/vmtests/palisade_integration_tests --gtest_filter="$PALISADE_FILTER" --gtest_color=no \
    --gtest_output=xml:/tmp/gtest.xml >>"$results" 2>&1
rc=$?
# A filter that matches nothing (a test renamed) passes vacuously: not here.
if grep -q '<testsuites tests="0"' /tmp/gtest.xml; then
    say "no test matches $PALISADE_FILTER"
    rc=1
fi
say "PALISADE-VM-RESULT exit=$rc"
sync
poweroff -f
