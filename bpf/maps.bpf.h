/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the palisade programs, in one place (the layouts the agent
 * shares are in include/palisade/abi.h; the BPF-only ones are here). */
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
    __type(value, __u32); /* class */
} pal_lpm4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, PAL_MAX_LPM_ENTRIES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_lpm6_key);
    __type(value, __u32);
} pal_lpm6 SEC(".maps");

/* Allocated as written, like the tries: most policy sets use a fraction. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_LPM_ENTRIES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_host4_key);
    __type(value, __u32);
} pal_hosts4 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_LPM_ENTRIES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_host6_key);
    __type(value, __u32);
} pal_hosts6 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_CLASSES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_class_key);
    __type(value, struct pal_lpm_value);
} pal_classes SEC(".maps");

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

/* The configuration in force (NULL only if the array were empty). */
static __always_inline struct pal_config* pal_cfg(void) {
    __u32 zero = 0;

    return bpf_map_lookup_elem(&pal_config, &zero);
}

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

static __always_inline void pal_count_add(__u32 slot, __u64 by) {
    __u64* n = bpf_map_lookup_elem(&pal_counters, &slot);

    if (n) *n += by; /* per-CPU: no atomics needed */
}

static __always_inline void pal_count(__u32 slot) { pal_count_add(slot, 1); }

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
    __uint(max_entries, PAL_MAX_CGROUPS);
    __type(key, __u64);
    __type(value, __u64);
} pal_endpoints SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_PEERS);
    __type(key, struct pal_peer_key);
    __type(value, struct pal_ports);
} pal_peers SEC(".maps");

/* events.rateLimit: one token bucket per container (include/palisade/abi.h,
 * bpf/events.bpf.h). LRU, so that the buckets of containers long gone make
 * room for new ones. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, PAL_MAX_CGROUPS);
    __type(key, __u64);
    __type(value, struct pal_ratelimit);
} pal_ratelimit SEC(".maps");

/* The credentials an exec may change (kernel uids, global namespace). */
struct pal_creds {
    __u32 uid; /* real ids: an exec never changes them */
    __u32 gid;
    __u32 euid;
    __u32 egid;
    __u64 caps; /* permitted */
};

/* The exec fallback (bpf/exec.bpf.c): the caller's credentials by thread id,
 * from syscall entry to the exec tracepoint. LRU: an exec that fails leaves
 * its entry behind. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, __u32);
    __type(value, struct pal_creds);
} pal_exec_creds SEC(".maps");

/* Egress by DNS name (include/palisade/abi.h, bpf/dns.bpf.h). The names are written with
 * each generation; queries, learned addresses and budgets are the programs' own and
 * outlive generations and agents (pinned). */
#define PAL_MAX_FQDN_NAMES 16384
#define PAL_MAX_DNS_QUERIES 16384
#define PAL_MAX_FQDN_ADDRS 65536

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_FQDN_NAMES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_fqdn_name);
    __type(value, __u64);
} pal_fqdn_names SEC(".maps");

/* LRU: a query never answered makes room for new ones. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, PAL_MAX_DNS_QUERIES);
    __type(key, struct pal_dns_query_key);
    __type(value, struct pal_dns_query);
} pal_dns_queries SEC(".maps");

/* Not LRU: an address in use is never pushed out; a full container or map refuses. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_FQDN_ADDRS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct pal_fqdn_addr_key);
    __type(value, struct pal_fqdn_addr);
} pal_fqdn_addrs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PAL_MAX_CGROUPS);
    __type(key, __u64);
    __type(value, struct pal_fqdn_use);
} pal_fqdn_use SEC(".maps");
