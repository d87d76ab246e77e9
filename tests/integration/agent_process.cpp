#include "agent_process.h"

#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness_internal.h"

namespace fs = std::filesystem;

namespace palisade::test {
namespace {

void writeFile(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

// Waits up to `timeout` for the child to exit; returns its exit code or -1.
int waitExit(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

bool isReady(const nlohmann::json& e) { return e["event"]["action"] == "agent-ready"; }

// The capabilities of the unit's CapabilityBoundingSet= (PALISADE_SHIPPED_CAPS,
// read from systemd/palisade.service at build time), by number; empty when one
// is not known here.
std::vector<int> shippedCapabilities() {
    static const std::map<std::string, int> known{{"CAP_BPF", CAP_BPF},
                                                  {"CAP_PERFMON", CAP_PERFMON},
                                                  {"CAP_NET_ADMIN", CAP_NET_ADMIN},
                                                  {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
                                                  {"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
                                                  {"CAP_SYS_RESOURCE", CAP_SYS_RESOURCE},
                                                  {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH}};
    std::vector<int> out;
    std::istringstream caps(PALISADE_SHIPPED_CAPS);
    for (std::string cap; caps >> cap;) {
        auto it = known.find(cap);
        if (it == known.end()) return {};
        out.push_back(it->second);
    }
    return out;
}

// In the child, before exec: drops every capability but `keep` from the
// bounding set, so that root's exec gets those alone (as systemd does).
void keepOnly(const std::vector<int>& keep) {
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap) >= 0; cap++) {
        if (std::find(keep.begin(), keep.end(), cap) == keep.end()) prctl(PR_CAPBSET_DROP, cap);
    }
}

}  // namespace

void PrintTo(Privileges p, std::ostream* os) {
    *os << (p == Privileges::Root ? "root" : "shipped");
}

std::string privilegesName(const ::testing::TestParamInfo<Privileges>& info) {
    return info.param == Privileges::Root ? "root" : "shipped";
}

AgentProcess::AgentProcess(Sandbox& sandbox) : sandbox_(sandbox) {
    char tmpl[] = "/tmp/palisade-agent-XXXXXX";
    dir_ = mkdtemp(tmpl);
    stateDir_ = "/sys/fs/bpf/palisade-test-" + std::to_string(getpid()) + "-" +
                std::to_string(sandbox.sequence());
    configPath_ = dir_ + "/palisade.yaml";
    dockerRoot_ = dir_ + "/docker";
    containerdState_ = dir_ + "/containerd";
    crioStorage_ = dir_ + "/crio";
    podmanRoot_ = dir_ + "/podman";
    fs::create_directories(dir_ + "/policies.d");
}

AgentProcess::~AgentProcess() {
    if (pid_ > 0) stop();
    run({PALISADE_BINARY, "cleanup", "--config", configPath_});
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void AgentProcess::describe(const Container& c) {
    writeFile(fs::path(dockerRoot_) / "containers" / c.id / "config.v2.json",
              nlohmann::json{
                  {"ID", c.id}, {"Name", "/" + c.name}, {"Config", {{"Labels", {{"app", c.name}}}}}}
                  .dump());
}

void AgentProcess::writePolicy(const std::string& fileName, const std::string& yaml) {
    writeFile(fs::path(dir_) / "policies.d" / fileName, yaml);
}

void AgentProcess::start(std::chrono::milliseconds timeout) {
    launch();
    if (pid_ <= 0) FAIL() << "the agent was not started";
    // Events of an earlier run of the agent (a restart) don't count.
    auto ready = waitForEvent(isReady, timeout, events().size());
    if (ready.is_null()) {
        int rc = waitExit(pid_, std::chrono::milliseconds(0));
        if (rc >= 0) pid_ = -1;
        FAIL() << "no agent-ready event (exit " << rc << "); stderr:\n" << stderrText();
    }
}

int AgentProcess::startExpectingExit(std::chrono::milliseconds timeout) {
    launch();
    if (pid_ <= 0) {
        ADD_FAILURE() << "the agent was not started";
        return -1;
    }
    const int rc = waitExit(pid_, timeout);
    if (rc >= 0) pid_ = -1;
    return rc;
}

void AgentProcess::launch() {
    std::ostringstream cfg;
    cfg << "cgroupRoot: " << sandbox_.cgroups().path() << "\n"
        << "policyDir: " << dir_ << "/policies.d\n"
        << "stateDir: " << stateDir_ << "\n"
        << "controlSocket: " << dir_ << "/palisade.sock\n"
        << "runtimes:\n  dockerRoot: " << dockerRoot_ << "\n"
        << "  containerdState: " << containerdState_ << "\n"
        << "  crioStorage: " << crioStorage_ << "\n"
        << "  podmanRoot: " << podmanRoot_ << "\n"
        << "events:\n  sinks:\n    - {type: file, path: " << dir_ << "/events.jsonl}\n"
        << (rateLimit_.empty() ? "" : "  rateLimit: " + rateLimit_ + "\n")
        << "metrics:\n  listen: \"" << metricsListen_ << "\"\n"
        << extraConfig_;
    writeFile(configPath_, cfg.str());

    const std::vector<int> keep = shippedCapabilities();
    if (privileges_ == Privileges::Shipped && keep.empty()) {
        FAIL() << "CapabilityBoundingSet= of systemd/palisade.service: \"" PALISADE_SHIPPED_CAPS
                  "\" (a capability agent_process.cpp does not know?)";
    }
    pid_ = fork();
    if (pid_ == 0) {
        std::string err = dir_ + "/agent.stderr";
        freopen(err.c_str(), "w", stderr);
        freopen("/dev/null", "w", stdout);
        if (!netns_.empty() && !detail::enterPlacement(Placement{netns_, ""}).empty()) _exit(126);
        if (memlock_) {
            const rlimit r{*memlock_, *memlock_};
            if (setrlimit(RLIMIT_MEMLOCK, &r) != 0) _exit(126);
        } else if (privileges_ == Privileges::Shipped) {
            // The unit's LimitMEMLOCK=infinity, where the test may raise it (a test host's
            // root can lack CAP_SYS_RESOURCE; its kernel then charges the memory cgroup).
            const rlimit r{RLIM_INFINITY, RLIM_INFINITY};
            setrlimit(RLIMIT_MEMLOCK, &r);
        }
        if (privileges_ == Privileges::Shipped) keepOnly(keep);
        execl(PALISADE_BINARY, PALISADE_BINARY, "run", "--config", configPath_.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
}

int AgentProcess::stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int rc = waitExit(pid_, std::chrono::seconds(5));
    if (rc < 0) {
        kill(pid_, SIGKILL);
        rc = waitExit(pid_, std::chrono::seconds(5));
    }
    pid_ = -1;
    return rc;
}

void AgentProcess::kill9() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitExit(pid_, std::chrono::seconds(5));
    pid_ = -1;
}

// Reads only what was appended since the last call: tests that make thousands
// of events poll this in loops.
const std::vector<nlohmann::json>& AgentProcess::events() const {
    std::ifstream in(dir_ + "/events.jsonl", std::ios::binary);
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (size < 0 || size < eventsOffset_) {  // no file, or a new one
        eventsOffset_ = 0;
        events_.clear();
    }
    in.seekg(eventsOffset_);
    std::string line;
    while (std::getline(in, line)) {
        if (in.eof()) break;  // a line still being written: read it next time
        eventsOffset_ += static_cast<std::streamoff>(line.size()) + 1;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_discarded()) events_.push_back(std::move(j));
    }
    return events_;
}

nlohmann::json AgentProcess::waitForEvent(const std::function<bool(const nlohmann::json&)>& pred,
                                          std::chrono::milliseconds timeout, size_t from) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        const auto& all = events();
        for (size_t i = from; i < all.size(); i++) {
            if (pred(all[i])) return all[i];
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    return nullptr;
}

std::string AgentProcess::stderrText() const {
    std::ifstream in(dir_ + "/agent.stderr");
    return std::string(std::istreambuf_iterator<char>(in), {});
}

nlohmann::json AgentProcess::status() const {
    RunResult r = run({PALISADE_BINARY, "status", "--json", "--config", configPath_});
    if (!r.ok()) throw std::runtime_error("palisade status: " + r.output);
    return nlohmann::json::parse(r.output);
}

}  // namespace palisade::test
