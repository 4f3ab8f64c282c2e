#include "rxinto/export/nats.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace rxinto::fleet {

std::vector<std::string> split_urls(std::string_view urls) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < urls.size()) {
        const std::size_t comma = urls.find(',', pos);
        const std::size_t end = comma == std::string_view::npos ? urls.size() : comma;
        if (end > pos) out.emplace_back(urls.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

bool valid_node_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string host_node_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return {};
    std::string name(buf);
    if (const auto dot = name.find('.'); dot != std::string::npos) name.resize(dot);
    return valid_node_name(name) ? name : std::string();
}

std::string status_text(natsStatus s) {
    std::string t = natsStatus_GetText(s);
    natsStatus last = NATS_OK;
    const char* detail = nats_GetLastError(&last);
    if (detail != nullptr && *detail != '\0' && last == s && t != detail) {
        t += ": ";
        t += detail;
    }
    return t;
}

namespace {

struct options_closer {
    void operator()(natsOptions* o) const noexcept { natsOptions_Destroy(o); }
};

Error usage_error(Error e) {
    e.usage = true;
    return e;
}

}  // namespace

Result<connection_ptr> connect(const connect_options& o) {
    const std::vector<std::string> urls = split_urls(o.urls);
    if (urls.empty()) return usage_error(make_error("no NATS server URL given"));
    natsOptions* raw = nullptr;
    if (natsOptions_Create(&raw) != NATS_OK) return make_error("NATS: cannot create options");
    std::unique_ptr<natsOptions, options_closer> opts(raw);
    std::vector<const char*> servers;
    for (const auto& u : urls) servers.push_back(u.c_str());
    natsStatus s = natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size()));
    const auto timeout_ms = static_cast<std::int64_t>(o.timeout_s * 1000.0);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), timeout_ms < 1 ? 1 : timeout_ms);
    if (s == NATS_OK) s = natsOptions_SetName(opts.get(), o.name.c_str());
    // Never give up: a sensor outlives any outage of the cluster (what cannot
    // be sent meanwhile is the exporter's business: spool or counted drop).
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), 200);
    if (s == NATS_OK) s = natsOptions_SetReconnectJitter(opts.get(), 100, 100);
    if (s == NATS_OK && o.disconnected != nullptr)
        s = natsOptions_SetDisconnectedCB(opts.get(), o.disconnected, o.closure);
    if (s == NATS_OK && o.reconnected != nullptr)
        s = natsOptions_SetReconnectedCB(opts.get(), o.reconnected, o.closure);
    if (s == NATS_OK && o.retry_on_failed_connect)
        s = natsOptions_SetRetryOnFailedConnect(opts.get(), true, o.connected, o.closure);
    if (s != NATS_OK) return make_error("NATS options: ", status_text(s));
    natsConnection* nc = nullptr;
    s = natsConnection_Connect(&nc, opts.get());
    if (s == NATS_OK) return connection_ptr(nc);
    if (s == NATS_NOT_YET_CONNECTED && o.retry_on_failed_connect && nc != nullptr) return connection_ptr(nc);
    if (nc != nullptr) natsConnection_Destroy(nc);
    return usage_error(make_error("no NATS server answered at ", o.urls, " (", status_text(s),
                                  "; within ", std::to_string(timeout_ms), " ms each): check the URLs and"
                                  " that nats-server runs there"));
}

Result<js_ptr> jetstream(natsConnection* nc, jsOptions* opts) {
    jsCtx* js = nullptr;
    const natsStatus s = natsConnection_JetStream(&js, nc, opts);
    if (s != NATS_OK) return make_error("JetStream context: ", status_text(s));
    return js_ptr(js);
}

Status ensure_stream(natsConnection* nc, jsCtx* js, unsigned replicas, double wait_s, std::string& what) {
    if (replicas == 0) {
        // Every server the connection knows, given or announced by the cluster.
        char** servers = nullptr;
        int count = 0;
        if (natsConnection_GetServers(nc, &servers, &count) == NATS_OK) {
            for (int i = 0; i < count; ++i) std::free(servers[i]);
            std::free(servers);
        }
        replicas = count >= 3 ? 3 : 1;
    }
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<std::int64_t>(wait_s * 1000.0));
    std::string last;
    for (;;) {
        jsStreamInfo* si = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_GetStreamInfo(&si, js, stream_name, nullptr, &jerr);
        if (s == NATS_OK) {
            const auto r = si->Config != nullptr ? si->Config->Replicas : 0;
            what = std::string("stream ") + stream_name + " exists (" + std::to_string(r) + " replica" +
                   (r == 1 ? "" : "s") + ")";
            jsStreamInfo_Destroy(si);
            return {};
        }
        if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
            jsStreamConfig cfg;
            jsStreamConfig_Init(&cfg);
            const char* subjects[] = {stream_subjects};
            cfg.Name = stream_name;
            cfg.Subjects = subjects;
            cfg.SubjectsLen = 1;
            cfg.Storage = js_FileStorage;
            cfg.Replicas = replicas;
            cfg.Duplicates = duplicate_window_ns;
            cfg.AllowDirect = true;
            jerr = static_cast<jsErrCode>(0);
            s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
            if (s == NATS_OK) {
                jsStreamInfo_Destroy(si);
                what = std::string("created stream ") + stream_name + " (subjects " + stream_subjects + ", " +
                       std::to_string(replicas) + " replica" + (replicas == 1 ? "" : "s") + ")";
                return {};
            }
            // Another process created it in between: take it.
            if (jerr == 10058 /* JSStreamNameExistErr */) continue;
            if (jerr == JSClusterNoPeersErr || jerr == JSInsufficientResourcesErr) {
                Error e = make_error("JetStream cannot place stream ", stream_name, " with ", std::to_string(replicas),
                                     " replicas (", status_text(s), ", error ", std::to_string(jerr),
                                     "): start more servers, or set fewer replicas ([export] replicas)");
                if (std::chrono::steady_clock::now() >= deadline) return usage_error(std::move(e));
                last = e.message;
            } else {
                last = "creating stream: " + status_text(s) + " (JetStream error " + std::to_string(jerr) + ")";
            }
        } else if (s == NATS_NO_RESPONDERS || jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr) {
            return usage_error(make_error("JetStream is not enabled on the NATS server (", status_text(s),
                                          "): start nats-server with -js, or jetstream {} in its configuration"));
        } else {
            // JSClusterNotAvailErr, timeouts: a cluster still electing its leader.
            last = status_text(s) + (jerr != 0 ? " (JetStream error " + std::to_string(jerr) + ")" : "");
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return make_error("JetStream stream ", stream_name, ": ", last);
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
}

}  // namespace rxinto::fleet
