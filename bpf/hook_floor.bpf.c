// SPDX-License-Identifier: GPL-2.0-only
/*
 * Programs that do nothing, at every cgroup hook palisade attaches to (bpf/egress.bpf.c): what
 * the mechanism itself costs a connect() or sendto(), which no policy engine on these hooks
 * can go under. bench/hook_floor.cpp attaches them for the benchmarks' "floor" row
 * (docs/benchmarks.md).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("cgroup/connect4")
int floor_connect4(struct bpf_sock_addr* ctx) { return 1; }

SEC("cgroup/connect6")
int floor_connect6(struct bpf_sock_addr* ctx) { return 1; }

SEC("cgroup/sendmsg4")
int floor_sendmsg4(struct bpf_sock_addr* ctx) { return 1; }

SEC("cgroup/sendmsg6")
int floor_sendmsg6(struct bpf_sock_addr* ctx) { return 1; }

SEC("cgroup/bind4")
int floor_bind4(struct bpf_sock_addr* ctx) { return 1; }

SEC("cgroup/bind6")
int floor_bind6(struct bpf_sock_addr* ctx) { return 1; }

SEC("cgroup/sock_create")
int floor_sock_create(struct bpf_sock* ctx) { return 1; }

SEC("cgroup_skb/egress")
int floor_skb_egress(struct __sk_buff* skb) { return 1; }

SEC("cgroup_skb/ingress")
int floor_skb_ingress(struct __sk_buff* skb) { return 1; }
