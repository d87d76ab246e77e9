#include "cli/cli.h"

#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "config/config_loader.h"
#include "control/control_client.h"
#include "control/event_filter.h"
#include "control/oci_hook.h"
#include "daemon/agent.h"
#include "daemon/status.h"
#include "datapath/datapath.h"
#include "policy/policy_parser.h"
#include "policy/signature.h"

namespace palisade {
namespace {

constexpr const char* kDefaultConfig = "/etc/palisade/palisade.yaml";
constexpr int kExitInvalid = 1;
constexpr int kExitRuntime = 2;

// Without --config, a missing default file means built-in defaults (docs/reference/cli.md).
bool loadConfig(const std::string& explicitPath, Config& config) {
    std::string path = explicitPath.empty() ? kDefaultConfig : explicitPath;
    std::error_code ec;
    if (explicitPath.empty() && !std::filesystem::exists(path, ec)) return true;
    Diagnostics errors;
    config = loadConfigFile(path, errors);
    for (const auto& d : errors) std::cerr << d.str() << "\n";
    return errors.empty();
}

int policyCheck(const std::vector<std::string>& paths) {
    Diagnostics errors;
    auto files = loadPolicyPaths(paths, errors);
    size_t policies = 0;
    for (const auto& f : files) {
        for (const auto& d : f.errors) errors.push_back(d);
        if (f.valid()) policies += f.policies.size();
    }
    for (const auto& d : errors) std::cout << d.str() << "\n";
    if (!errors.empty()) return kExitInvalid;
    std::cerr << files.size() << " file(s), " << policies << " policies: valid\n";
    return 0;
}

// status / containers / events: one request to the running agent.
int talkToAgent(const std::string& socketPath, const std::string& cmd, bool json, bool follow,
                const std::string& filter) {
    try {
        if (cmd == "events") {
            std::string error;
            if (!EventFilter::parse(filter, error)) {
                std::cerr << "palisade events: " << error << "\n";
                return kExitInvalid;
            }
            controlStream(socketPath, {{"cmd", cmd}, {"follow", follow}, {"filter", filter}},
                          [](const std::string& line) {
                              std::cout << line << std::endl;
                              return true;
                          });
            return 0;
        }
        auto reply = controlRequest(socketPath, {{"cmd", cmd}});
        if (json) {
            std::cout << reply.dump(2) << "\n";
        } else {
            std::cout << (cmd == "status" ? statusText(reply) : containersText(reply));
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "palisade " << cmd << ": " << e.what() << "\n";
        return kExitRuntime;
    }
}

std::optional<std::string> readBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(in), {});
}

int policySign(const std::string& keyPath, const std::string& file) {
    auto data = readBytes(file);
    if (!data) {
        std::cerr << file << ": cannot read\n";
        return kExitInvalid;
    }
    try {
        const std::string sig = signBytes(keyPath, *data);
        std::ofstream out(signaturePath(file), std::ios::trunc);
        if (!(out << sig << "\n")) throw SignatureError(signaturePath(file) + ": cannot write");
        std::cerr << "wrote " << signaturePath(file) << "\n";
        return 0;
    } catch (const SignatureError& e) {
        std::cerr << e.what() << "\n";
        return kExitInvalid;
    }
}

int policyVerify(const std::string& pubkeyPath, const std::string& file) {
    auto data = readBytes(file);
    auto sig = readBytes(signaturePath(file));
    try {
        PolicyVerifier verifier({pubkeyPath}, true);
        std::string why = data ? verifier.check(*data, sig) : "cannot read";
        if (!why.empty()) {
            std::cout << file << ": " << why << "\n";
            return kExitInvalid;
        }
        std::cerr << file << ": valid signature\n";
        return 0;
    } catch (const SignatureError& e) {
        std::cerr << e.what() << "\n";
        return kExitInvalid;
    }
}

void printVersion() {
    std::cout << "palisade " << PALISADE_VERSION << "\n"
              << "libbpf " << libbpf_major_version() << "." << libbpf_minor_version() << "\n"
              << "built with " << __VERSION__ << ", C++" << __cplusplus / 100 % 100 << "\n";
}

}  // namespace

int runCli(int argc, char** argv) {
    spdlog::set_default_logger(spdlog::stderr_color_mt("palisade"));
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

    CLI::App app{"palisade: per-container network and exec policy, enforced in the kernel"};
    app.require_subcommand(1);
    std::string configPath, socketPath;

    auto* run = app.add_subcommand("run", "run the agent in the foreground");
    run->add_option("--config", configPath, "node configuration file")->check(CLI::ExistingFile);

    auto* policy = app.add_subcommand("policy", "work with policy files");
    policy->require_subcommand(1);
    std::vector<std::string> checkPaths;
    auto* check = policy->add_subcommand("check", "validate policy files or directories");
    check->add_option("PATH", checkPaths, "policy files or directories")->required();
    std::string keyPath, file;
    auto* sign = policy->add_subcommand("sign", "write FILE.sig, an Ed25519 signature of FILE");
    sign->add_option("--key", keyPath, "private key (PEM)")->required();
    sign->add_option("FILE", file)->required();
    auto* verify = policy->add_subcommand("verify", "check FILE.sig against a public key");
    verify->add_option("--pubkey", keyPath, "public key (PEM)")->required();
    verify->add_option("FILE", file)->required();

    bool json = false, follow = false;
    std::string filter;
    auto* status = app.add_subcommand("status", "what the running agent enforces");
    auto* containers = app.add_subcommand("containers", "the containers the agent knows");
    auto* events = app.add_subcommand("events", "stream events from the running agent");
    auto* cleanup = app.add_subcommand("cleanup", "detach and unpin everything palisade made");
    for (auto* cmd : {status, containers, events, cleanup}) {
        cmd->add_option("--config", configPath, "node configuration file");
        cmd->add_option("--socket", socketPath, "the agent's control socket");
    }
    for (auto* cmd : {status, containers}) cmd->add_flag("--json", json, "JSON output");
    events->add_flag("--follow", follow, "keep streaming");
    events->add_option("--filter", filter, "only events matching EXPR");
    auto* ociHook = app.add_subcommand(
        "oci-hook",
        "OCI runtime hook (createRuntime): returns once a new container's policy is in force");
    ociHook->add_option("--config", configPath, "node configuration file");
    auto* version = app.add_subcommand("version", "version and build information");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : kExitInvalid;
    }

    if (*version) {
        printVersion();
        return 0;
    }
    if (*check) return policyCheck(checkPaths);
    if (*sign) return policySign(keyPath, file);
    if (*verify) return policyVerify(keyPath, file);

    Config config;
    if (!loadConfig(configPath, config)) return kExitInvalid;
    if (*ociHook) return runOciHook(config, std::cin, std::cerr);
    if (socketPath.empty()) socketPath = config.controlSocket;
    for (auto [cmd, name] :
         {std::pair{status, "status"}, {containers, "containers"}, {events, "events"}}) {
        if (*cmd) return talkToAgent(socketPath, name, json, follow, filter);
    }
    if (*cleanup) {
        int removed = removeState(config.stateDir);
        std::cerr << "removed " << removed << " pinned object(s) under " << config.stateDir << "\n";
        return 0;
    }
    if (geteuid() != 0) spdlog::warn("not running as root: loading BPF programs will likely fail");
    return runAgent(config);
}

}  // namespace palisade
