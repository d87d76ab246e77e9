// bpf/container.bpf.h: the CO-RE walk of the current task's cgroup ancestors that
// tracing and LSM programs use where the kernel refuses them
// bpf_get_current_ancestor_cgroup_id (Linux 5.10; docs/kernels.md), run through
// BPF_PROG_TEST_RUN in a task placed deep in a cgroup tree, against the tree's own ids
// and, where the kernel offers it, the helper.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "cgroup_walk_test.skel.h"
#include "datapath/features.h"
#include "harness.h"
#include "palisade/abi.h"

namespace palisade::test {
namespace {

struct Ancestor {
    uint64_t walk, helper;
};

TEST(CgroupWalk, GivesEveryAncestorsIdAsTheHelperDoes) {
    if (!isRoot()) GTEST_SKIP() << "loading BPF programs needs root";
    CgroupTree tree;
    const std::string leaf = tree.create("pod/container/nested");
    // The ids from the root (level 0) down to the leaf.
    std::vector<uint64_t> expected;
    for (std::filesystem::path p = leaf;; p = p.parent_path()) {
        expected.insert(expected.begin(), cgroupIdOf(p));
        if (p == tree.mount()) break;
    }
    ASSERT_GE(expected.size(), 4u);
    if (expected.front() != 1) {  // the root cgroup's id; a namespace's root has another
        GTEST_SKIP() << "the cgroup2 mount " << tree.mount()
                     << " is not the root cgroup (a cgroup namespace): levels are relative to it";
    }

    cgroup_walk_test* skel = cgroup_walk_test__open();
    ASSERT_NE(skel, nullptr) << strerror(errno);
    const bool helper = KernelProbe().probe(Feature::TracingAncestorCgroup);
    skel->rodata->pal_tracing_has_ancestor = helper;
    ASSERT_EQ(cgroup_walk_test__load(skel), 0) << strerror(errno);
    const int prog = bpf_program__fd(skel->progs.pal_test_walk);
    const int err = callInInt({"", leaf}, [prog] {
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        return bpf_prog_test_run_opts(prog, &opts) == 0 ? 0 : errno;
    });
    ASSERT_EQ(err, 0) << strerror(err);

    for (uint32_t level = 0; level < PAL_CGROUP_MAX_DEPTH; level++) {
        Ancestor a{};
        ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel->maps.pal_test_ancestors), &level, &a), 0);
        const uint64_t want = level < expected.size() ? expected[level] : 0;
        EXPECT_EQ(a.walk, want) << "level " << level;
        if (helper) {
            EXPECT_EQ(a.helper, want) << "level " << level << " (the helper)";
        }
    }
    cgroup_walk_test__destroy(skel);
}

}  // namespace
}  // namespace palisade::test
