#include "agent_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

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

}  // namespace

AgentProcess::AgentProcess(Sandbox& sandbox) : sandbox_(sandbox) {
    char tmpl[] = "/tmp/palisade-agent-XXXXXX";
    dir_ = mkdtemp(tmpl);
    stateDir_ = "/sys/fs/bpf/palisade-test-" + std::to_string(getpid()) + "-" +
                std::to_string(sandbox.sequence());
    configPath_ = dir_ + "/palisade.yaml";
    fs::create_directories(dir_ + "/policies.d");
}

AgentProcess::~AgentProcess() {
    if (pid_ > 0) stop();
    run({PALISADE_BINARY, "cleanup", "--config", configPath_});
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void AgentProcess::describe(const Container& c) {
    writeFile(fs::path(dir_) / "docker/containers" / c.id / "config.v2.json",
              nlohmann::json{
                  {"ID", c.id}, {"Name", "/" + c.name}, {"Config", {{"Labels", {{"app", c.name}}}}}}
                  .dump());
}

void AgentProcess::writePolicy(const std::string& fileName, const std::string& yaml) {
    writeFile(fs::path(dir_) / "policies.d" / fileName, yaml);
}

void AgentProcess::start(std::chrono::milliseconds timeout) {
    std::ostringstream cfg;
    cfg << "cgroupRoot: " << sandbox_.cgroups().path() << "\n"
        << "policyDir: " << dir_ << "/policies.d\n"
        << "stateDir: " << stateDir_ << "\n"
        << "controlSocket: " << dir_ << "/palisade.sock\n"
        << "runtimes:\n  dockerRoot: " << dir_ << "/docker\n"
        << "  containerdState: " << dir_ << "/containerd\n"
        << "  crioStorage: " << dir_ << "/crio\n"
        << "events:\n  sinks:\n    - {type: file, path: " << dir_ << "/events.jsonl}\n"
        << (rateLimit_.empty() ? "" : "  rateLimit: " + rateLimit_ + "\n")
        << "metrics:\n  listen: \"" << metricsListen_ << "\"\n"
        << extraConfig_;
    writeFile(configPath_, cfg.str());

    pid_ = fork();
    if (pid_ == 0) {
        std::string err = dir_ + "/agent.stderr";
        freopen(err.c_str(), "w", stderr);
        freopen("/dev/null", "w", stdout);
        execl(PALISADE_BINARY, PALISADE_BINARY, "run", "--config", configPath_.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
    // Events of an earlier run of the agent (a restart) don't count.
    auto ready = waitForEvent(isReady, timeout, events().size());
    if (ready.is_null()) {
        int rc = waitExit(pid_, std::chrono::milliseconds(0));
        if (rc >= 0) pid_ = -1;
        FAIL() << "no agent-ready event (exit " << rc << "); stderr:\n" << stderrText();
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

}  // namespace palisade::test
