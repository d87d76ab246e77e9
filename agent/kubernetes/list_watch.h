// One resource of the API server kept in step: a list, then a watch resumed
// from the last resourceVersion seen for as long as the server allows, and a
// list again when it answers 410 Gone (docs/runtimes/kubernetes.md). Runs in
// a thread of its own; what it learns goes to its handlers, on that thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "kubernetes/in_cluster_config.h"

namespace httplib {
class SSLClient;
}

namespace palisade {

struct ListWatchStatus {
    bool connected = false;  // the last list or watch request was answered
    std::string error;       // why not, "" when connected
    std::chrono::system_clock::time_point lastSync{};  // last list or event; epoch: never
    uint64_t lists = 0;                                // lists done (the first and re-lists)
    uint64_t errors = 0;                               // failed requests and bad answers
};

class ListWatch {
  public:
    // Each returns "" or why (part of) what it was given could not be used.
    struct Handlers {
        // A list's items: they replace whatever the earlier ones said.
        std::function<std::string(const std::vector<nlohmann::json>& items)> replace;
        // ADDED, MODIFIED or DELETED, and the object.
        std::function<std::string(const std::string& type, const nlohmann::json& object)> apply;
    };

    // `path`: "/api/v1/pods"; `selector`: the query's fieldSelector, or "".
    ListWatch(ApiServer server, std::string path, std::string selector, Handlers handlers);
    ~ListWatch();  // stop()
    ListWatch(const ListWatch&) = delete;
    ListWatch& operator=(const ListWatch&) = delete;

    void start();
    // Ends the request in flight and joins the thread.
    void stop();
    ListWatchStatus status() const;
    // Waits (bounded) for the first list to be done; true when it was.
    bool waitListed(std::chrono::milliseconds timeout) const;

  private:
    enum class Next { Watch, List };
    void run();
    bool list(std::string& resourceVersion);
    Next watch(std::string& resourceVersion);
    struct Answer {
        int status = 0;     // 0: none
        std::string error;  // the request or the transfer failed: why
        std::string body;   // of a status other than 200, cut at 64 KiB
    };
    // One GET; a 200 body goes to `onData` (false: stop reading), as it comes.
    Answer get(const std::string& target, const std::function<bool(const char*, size_t)>& onData);
    // Takes one line of a watch; false: stop watching (`next`, `problem` say why).
    bool takeEvent(const std::string& line, std::string& resourceVersion, Next& next,
                   std::string& problem);
    void failed(const std::string& why);
    void synced(bool listed);
    bool stopping() const;
    // Sleeps the backoff (or until stop()); false when stopping.
    bool backoff();
    std::string query(const std::string& extra) const;

    const ApiServer server_;
    const std::string path_;
    const std::string selector_;
    const Handlers handlers_;
    std::chrono::milliseconds delay_;

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    bool stopping_ = false;
    httplib::SSLClient* client_ = nullptr;  // the request in flight, for stop()
    ListWatchStatus status_;
    std::thread thread_;
};

}  // namespace palisade
