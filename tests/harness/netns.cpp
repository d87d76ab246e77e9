// Network namespaces named pal-<pid>-<suffix>.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <stdexcept>

#include "harness.h"
#include "harness_internal.h"

namespace palisade::test {

namespace detail {

bool deleteNetns(const std::string& name) {
    try {
        RunResult r = run({"ip", "netns", "del", name}, Millis{10000});
        if (r.ok()) return true;
        std::fprintf(stderr, "harness: ip netns del %s: exit %d: %s\n", name.c_str(), r.exitCode,
                     r.output.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "harness: ip netns del %s: %s\n", name.c_str(), e.what());
    }
    return false;
}

}  // namespace detail

namespace {

void checkSuffix(const std::string& suffix) {
    bool ok = !suffix.empty() && suffix.size() <= 32;
    for (char ch : suffix)
        ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-');
    if (!ok) throw std::invalid_argument("NetNamespace: bad suffix '" + suffix + "'");
}

// In the namespace: IPv6 addresses usable at once (no duplicate address
// detection) on every interface created from now on.
int disableDad() {
    for (const char* iface : {"all", "default", "lo"}) {
        const std::string path = std::string("/proc/sys/net/ipv6/conf/") + iface + "/accept_dad";
        if (::access(path.c_str(), F_OK) != 0) continue;  // no IPv6
        if (!detail::writeFile(path, "0")) return errno;
    }
    return 0;
}

}  // namespace

NetNamespace::NetNamespace(const std::string& suffix) {
    checkSuffix(suffix);
    const std::string name = "pal-" + std::to_string(::getpid()) + "-" + suffix;
    runChecked({"ip", "netns", "add", name});
    try {
        name_ = name;
        ip({"link", "set", "lo", "up"});
        if (const int err = call(disableDad); err != 0)
            throw std::runtime_error("netns " + name +
                                     ": disabling IPv6 DAD: " + detail::errnoText(err));
    } catch (...) {
        detail::deleteNetns(name);
        throw;
    }
}

NetNamespace::~NetNamespace() { detail::deleteNetns(name_); }

std::string NetNamespace::ip(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"ip", "-n", name_};
    argv.insert(argv.end(), args.begin(), args.end());
    return runChecked(argv);
}

RunResult NetNamespace::run(const std::vector<std::string>& argv, Millis timeout) const {
    return palisade::test::run(argv, timeout, Placement{name_, ""});
}

int NetNamespace::call(const std::function<int()>& fn, Millis timeout) const {
    return callInInt(Placement{name_, ""}, fn, timeout);
}

}  // namespace palisade::test
