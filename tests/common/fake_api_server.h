// A stand-in for the Kubernetes API server on 127.0.0.1: HTTPS with a CA and a
// certificate made at construction (the openssl CLI), a bearer token, and the
// list and watch protocol of /api/v1/pods and /api/v1/namespaces, with bodies
// shaped as the API reference documents them (PodList, NamespaceList,
// WatchEvent lines, Status). The test drives it: what the lists hold, which
// events the open watches get, a watch cut, a 410. Every request is recorded.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace palisade::test {

using nlohmann::json;

// A v1 Pod as the API server returns it (the fields the agent reads, and a few
// it does not, as a real pod has them).
inline json makePod(const std::string& ns, const std::string& name, const std::string& uid,
                    const json& labels, const std::vector<std::string>& containerIds,
                    const std::string& resourceVersion, const std::string& node = "node-a") {
    json statuses = json::array();
    for (const auto& id : containerIds) {
        statuses.push_back({{"name", "app"},
                            {"state", {{"running", {{"startedAt", "2026-01-01T00:00:01Z"}}}}},
                            {"ready", true},
                            {"restartCount", 0},
                            {"image", "registry.example/app:1"},
                            {"imageID", "registry.example/app@sha256:00"},
                            {"containerID", "containerd://" + id},
                            {"started", true}});
    }
    json metadata = {{"name", name},
                     {"namespace", ns},
                     {"uid", uid},
                     {"resourceVersion", resourceVersion},
                     {"creationTimestamp", "2026-01-01T00:00:00Z"}};
    if (!labels.empty()) metadata["labels"] = labels;
    return {{"kind", "Pod"},
            {"apiVersion", "v1"},
            {"metadata", metadata},
            {"spec", {{"nodeName", node}, {"containers", {{{"name", "app"}, {"image", "app:1"}}}}}},
            {"status", {{"phase", "Running"}, {"containerStatuses", statuses}}}};
}

inline json makeNamespace(const std::string& name, json labels, const std::string& rv) {
    labels["kubernetes.io/metadata.name"] = name;
    return {{"kind", "Namespace"},
            {"apiVersion", "v1"},
            {"metadata", {{"name", name}, {"resourceVersion", rv}, {"labels", labels}}},
            {"spec", {{"finalizers", {"kubernetes"}}}},
            {"status", {{"phase", "Active"}}}};
}

inline json statusObject(int code, const std::string& reason, const std::string& message) {
    return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
}

class FakeApiServer {
  public:
    struct Request {
        std::string path;
        std::map<std::string, std::string> params;
        bool watch() const { return params.count("watch") && params.at("watch") == "1"; }
    };

    explicit FakeApiServer(const std::string& dir) : dir_(dir) {
        makeCertificates();
        token_ = dir_ + "/token";
        std::ofstream(token_) << "test-token\n";
        server_ = std::make_unique<httplib::SSLServer>((dir_ + "/server.crt").c_str(),
                                                       (dir_ + "/server.key").c_str());
        if (!server_->is_valid()) throw std::runtime_error("FakeApiServer: bad certificate");
        server_->Get("/api/v1/pods",
                     [this](const auto& req, auto& res) { serve("pods", req, res); });
        server_->Get("/api/v1/namespaces",
                     [this](const auto& req, auto& res) { serve("namespaces", req, res); });
        port_ = server_->bind_to_any_port("127.0.0.1");
        if (port_ <= 0) throw std::runtime_error("FakeApiServer: cannot bind");
        // Bound and listening already: connections wait in the backlog meanwhile.
        thread_ = std::thread([this] { server_->listen_after_bind(); });
    }

    ~FakeApiServer() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        changed_.notify_all();
        server_->stop();
        thread_.join();
    }

    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
    std::string caFile() const { return dir_ + "/ca.crt"; }
    std::string otherCaFile() const { return dir_ + "/other-ca.crt"; }
    std::string tokenFile() const { return token_; }

    // What the next list of `resource` ("pods" or "namespaces") returns.
    void setList(const std::string& resource, std::vector<json> items, std::string rv) {
        std::lock_guard lock(mutex_);
        lists_[resource] = {std::move(items), std::move(rv)};
    }
    // One WatchEvent to the watches of `resource` (to the next one if none is open).
    void push(const std::string& resource, const std::string& type, const json& object) {
        {
            std::lock_guard lock(mutex_);
            events_[resource].push_back(json{{"type", type}, {"object", object}}.dump() + "\n");
        }
        changed_.notify_all();
    }
    // A line as it is, for what is not a WatchEvent.
    void pushRaw(const std::string& resource, const std::string& line) {
        {
            std::lock_guard lock(mutex_);
            events_[resource].push_back(line + "\n");
        }
        changed_.notify_all();
    }
    // Cuts the open watches of `resource` without the end of their stream.
    void dropWatches(const std::string& resource) {
        {
            std::lock_guard lock(mutex_);
            ++drops_[resource];
        }
        changed_.notify_all();
    }
    // The next watch request of `resource` is answered 410 Gone.
    void goneOnNextWatch(const std::string& resource) {
        std::lock_guard lock(mutex_);
        gone_[resource] = true;
    }

    std::vector<Request> requests(const std::string& resource) const {
        std::lock_guard lock(mutex_);
        auto it = requests_.find(resource);
        return it == requests_.end() ? std::vector<Request>{} : it->second;
    }
    // Waits (bounded) until `resource` has had `count` requests; returns them.
    std::vector<Request> waitRequests(const std::string& resource, size_t count,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, timeout, [&] { return requests_[resource].size() >= count; });
        return requests_[resource];
    }
    // Waits (bounded) until no event of `resource` is queued: the watch took them.
    bool waitDelivered(const std::string& resource,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return events_[resource].empty(); });
    }

  private:
    struct List {
        std::vector<json> items;
        std::string rv = "1";
    };

    void makeCertificates() {
        std::filesystem::create_directories(dir_);
        const std::string script =
            "set -e; cd '" + dir_ +
            "'; key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
            "openssl req -x509 $key -keyout ca.key -out ca.crt -days 2 -subj /CN=fake-ca; "
            "openssl req -x509 $key -keyout other-ca.key -out other-ca.crt -days 2 "
            "-subj /CN=other-ca; "
            "openssl req $key -keyout server.key -out server.csr -subj /CN=fake-apiserver; "
            "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext; "
            "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
            "-out server.crt -days 2 -extfile san.ext";
        if (std::system(("(" + script + ") >/dev/null 2>&1").c_str()) != 0) {
            throw std::runtime_error("FakeApiServer: openssl could not make the certificates");
        }
    }

    void serve(const std::string& resource, const httplib::Request& req, httplib::Response& res) {
        Request seen{req.path, {}};
        for (const auto& [key, value] : req.params) seen.params[key] = value;
        std::unique_lock held(mutex_);
        requests_[resource].push_back(seen);
        changed_.notify_all();
        if (req.get_header_value("Authorization") != "Bearer test-token") {
            res.status = 401;
            res.set_content(statusObject(401, "Unauthorized", "Unauthorized").dump(),
                            "application/json");
            return;
        }
        if (!seen.watch()) {
            const List& list = lists_[resource];
            json items = json::array();
            for (json item : list.items) {
                item.erase("kind");  // a list's items carry neither, the list does
                item.erase("apiVersion");
                items.push_back(item);
            }
            const std::string kind = resource == "pods" ? "PodList" : "NamespaceList";
            res.set_content(json{{"kind", kind},
                                 {"apiVersion", "v1"},
                                 {"metadata", {{"resourceVersion", list.rv}}},
                                 {"items", items}}
                                .dump(),
                            "application/json");
            return;
        }
        if (std::exchange(gone_[resource], false)) {
            res.status = 410;
            res.set_content(statusObject(410, "Expired", "too old resource version").dump(),
                            "application/json");
            return;
        }
        const int drops = drops_[resource];
        res.set_chunked_content_provider(
            "application/json", [this, resource, drops](size_t, httplib::DataSink& sink) {
                std::unique_lock lock(mutex_);
                changed_.wait_for(lock, std::chrono::milliseconds(200), [&] {
                    return stopping_ || !events_[resource].empty() || drops_[resource] != drops;
                });
                if (stopping_ || drops_[resource] != drops) return false;  // cut
                while (!events_[resource].empty()) {
                    std::string line = std::move(events_[resource].front());
                    events_[resource].pop_front();
                    changed_.notify_all();
                    const bool error = line.find("\"type\":\"ERROR\"") != std::string::npos;
                    lock.unlock();
                    sink.write(line.data(), line.size());
                    lock.lock();
                    // The API server ends a watch after an ERROR event.
                    if (error) {
                        sink.done();
                        return true;
                    }
                }
                return true;
            });
    }

    std::string dir_;
    std::string token_;
    std::unique_ptr<httplib::SSLServer> server_;
    int port_ = 0;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool stopping_ = false;
    std::map<std::string, List> lists_;
    std::map<std::string, std::deque<std::string>> events_;
    std::map<std::string, int> drops_;
    std::map<std::string, bool> gone_;
    std::map<std::string, std::vector<Request>> requests_;
};

}  // namespace palisade::test
