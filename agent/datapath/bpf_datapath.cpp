// The one module that touches the BPF skeleton.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "datapath/datapath.h"
#include "datapath/map_writer.h"
#include "egress.skel.h"

namespace fs = std::filesystem;

namespace palisade {
namespace {

std::string errText(int err) { return std::strerror(err < 0 ? -err : err); }

[[noreturn]] void fail(const std::string& what, int err) {
    throw DatapathError(what + ": " + errText(err));
}

bool isBpffs(const std::string& path) {
    struct statfs st {};
    return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// Pins need bpffs. Mount it at /sys/fs/bpf when the state dir lives there and
// nothing is mounted yet (as systemd and Cilium do); anywhere else it is the
// operator's job, and we say so.
void ensureStateDir(const std::string& stateDir) {
    const std::string bpffsRoot = "/sys/fs/bpf";
    fs::path parent = fs::path(stateDir).parent_path();
    if (!isBpffs(parent.string()) && !isBpffs(stateDir)) {
        if (stateDir.rfind(bpffsRoot + "/", 0) != 0) {
            throw DatapathError("stateDir " + stateDir +
                                " is not on a bpf filesystem (mount -t bpf bpf <dir>)");
        }
        if (mount("bpf", bpffsRoot.c_str(), "bpf", 0, "mode=0700") != 0) {
            fail("mount bpffs at " + bpffsRoot, errno);
        }
        spdlog::info("mounted bpffs at {}", bpffsRoot);
    }
    std::error_code ec;
    fs::create_directories(fs::path(stateDir) / "maps", ec);
    fs::create_directories(fs::path(stateDir) / "links", ec);
    if (ec) throw DatapathError("create " + stateDir + ": " + ec.message());
}

// Replaces whatever an earlier agent pinned at `path`: the new object is already
// attached, so the old link detaching here leaves no window without a program.
template <typename Pin>
void repin(const fs::path& path, Pin pin) {
    std::error_code ec;
    fs::remove(path, ec);
    int err = pin(path.string().c_str());
    if (err) fail("pin " + path.string(), err);
}

}  // namespace

struct BpfDatapath::Impl {
    egress* skel = nullptr;
    std::vector<bpf_link*> links;
    std::vector<AttachedProgram> attached;
    std::unique_ptr<MapWriter> writer;

    ~Impl() {
        // Closing drops our references only: the pins keep programs attached.
        for (auto* l : links) bpf_link__destroy(l);
        egress__destroy(skel);
    }

    int fd(bpf_map* m) const { return bpf_map__fd(m); }
};

BpfDatapath::BpfDatapath(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BpfDatapath::~BpfDatapath() = default;

std::unique_ptr<BpfDatapath> openBpfDatapath(const DatapathOptions& options) {
    ensureStateDir(options.stateDir);
    auto impl = std::make_unique<BpfDatapath::Impl>();
    impl->skel = egress__open();
    if (!impl->skel) fail("open BPF object egress", errno);
    if (int err = egress__load(impl->skel)) fail("load BPF programs (egress)", err);

    auto& m = impl->skel->maps;
    pal_config config{};
    config.nat64_prefixlen = options.nat64Prefix.prefixLen;
    std::memcpy(config.nat64_prefix, options.nat64Prefix.addr.data(), 16);
    impl->writer = std::make_unique<MapWriter>(
        PolicyMapFds{bpf_map__fd(m.pal_cgroups), bpf_map__fd(m.pal_policies),
                     bpf_map__fd(m.pal_portsets), bpf_map__fd(m.pal_lpm4), bpf_map__fd(m.pal_lpm6),
                     bpf_map__fd(m.pal_config)},
        config);

    int cg = open(options.cgroupRoot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) fail("open cgroupRoot " + options.cgroupRoot, errno);
    bpf_program* prog;
    bpf_object__for_each_program(prog, impl->skel->obj) {
        // Cgroup programs act below cgroupRoot only; the tracepoint is node-wide
        // and acts on container tasks only (it checks pal_cgroups first).
        bool cgroupHook = bpf_program__type(prog) != BPF_PROG_TYPE_TRACEPOINT;
        bpf_link* link =
            cgroupHook ? bpf_program__attach_cgroup(prog, cg) : bpf_program__attach(prog);
        if (!link) {
            int err = errno;
            close(cg);
            fail(std::string("attach ") + bpf_program__name(prog) +
                     (cgroupHook ? " to " + options.cgroupRoot : std::string()),
                 err);
        }
        impl->links.push_back(link);
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
        impl->attached.push_back(
            {bpf_program__name(prog), bpf_program__section_name(prog), info.id});
    }
    close(cg);

    fs::path state(options.stateDir);
    for (size_t i = 0; i < impl->links.size(); i++) {
        repin(state / "links" / impl->attached[i].name,
              [&](const char* p) { return bpf_link__pin(impl->links[i], p); });
    }
    bpf_map* map;
    bpf_object__for_each_map(map, impl->skel->obj) {
        if (bpf_map__is_internal(map)) continue;
        repin(state / "maps" / bpf_map__name(map),
              [&](const char* p) { return bpf_map__pin(map, p); });
    }
    return std::unique_ptr<BpfDatapath>(new BpfDatapath(std::move(impl)));
}

void BpfDatapath::apply(const MapEntries& next, uint64_t generation) {
    impl_->writer->apply(next, generation);
}

VerdictCounters BpfDatapath::counters() const {
    VerdictCounters out;
    const int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> perCpu(ncpu > 0 ? ncpu : 1);
    const int fd = impl_->fd(impl_->skel->maps.pal_counters);
    auto sum = [&](uint32_t slot) {
        uint64_t total = 0;
        if (bpf_map_lookup_elem(fd, &slot, perCpu.data()) == 0) {
            for (uint64_t v : perCpu) total += v;
        }
        return total;
    };
    for (uint32_t h = 0; h < PAL_HOOK_MAX; h++) {
        for (uint32_t v = 0; v < PAL_VERDICT_MAX; v++) {
            out.byHook[h][v] = sum(PAL_COUNTER_VERDICT(h, v));
        }
    }
    out.ringbufDrops = sum(PAL_COUNTER_RINGBUF_DROPS);
    return out;
}

std::vector<AttachedProgram> BpfDatapath::programs() const { return impl_->attached; }

int BpfDatapath::eventsMapFd() const { return impl_->fd(impl_->skel->maps.pal_events); }

int removeState(const std::string& stateDir) {
    int removed = 0;
    std::error_code ec;
    for (const char* sub : {"links", "maps"}) {
        fs::path dir = fs::path(stateDir) / sub;
        if (!fs::is_directory(dir, ec)) continue;
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
            if (fs::remove(entry.path(), ec)) removed++;
        }
        fs::remove(dir, ec);
    }
    fs::remove(stateDir, ec);
    return removed;
}

}  // namespace palisade
