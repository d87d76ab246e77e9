/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The maps every palisade program shares (layouts in include/palisade/abi.h). */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <palisade/abi.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_CGROUPS);
    __type(key, __u64);
    __type(value, struct pal_cgroup);
} pal_cgroups SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, PAL_MAX_LPM_ENTRIES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_lpm4_key);
    __type(value, struct pal_lpm_value);
} pal_lpm4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, PAL_MAX_LPM_ENTRIES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_lpm6_key);
    __type(value, struct pal_lpm_value);
} pal_lpm6 SEC(".maps");

/* Allocated as written, like the tries: most policy sets use a fraction. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_LPM_ENTRIES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_host4_key);
    __type(value, struct pal_lpm_value);
} pal_hosts4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_LPM_ENTRIES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_host6_key);
    __type(value, struct pal_lpm_value);
} pal_hosts6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_PORTSETS);
    __type(key, __u32);
    __type(value, struct pal_portset);
} pal_portsets SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pal_config);
} pal_config SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, PAL_RINGBUF_BYTES);
} pal_events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, PAL_COUNTER_MAX);
    __type(key, __u32);
    __type(value, __u64);
} pal_counters SEC(".maps");

static __always_inline void pal_count(__u32 slot) {
    __u64* n = bpf_map_lookup_elem(&pal_counters, &slot);

    if (n) *n += 1; /* per-CPU: no atomics needed */
}

/* Inter-container isolation (include/palisade/abi.h). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_ADDRS);
    __type(key, __u32);
    __type(value, __u64);
} pal_addr4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_ADDRS);
    __type(key, __u8[16]);
    __type(value, __u64);
} pal_addr6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_PEERS);
    __type(key, struct pal_peer_key);
    __type(value, struct pal_ports);
} pal_peers SEC(".maps");
