// rxinto-index: the fleet index's writer. A durable JetStream pull consumer
// (several processes may share it: JetStream hands each message to one of
// them) that writes connection records into PostgreSQL: batches in one
// transaction each, idempotent on the record's key (upsert), and acknowledged
// to JetStream only after their transaction committed. A database that goes
// away is waited for (the batch is retried, its messages kept in progress);
// a record the database refuses as data is terminated and counted, never
// retried forever.
//
//   rxinto-index --nats URL[,URL...] --db CONNINFO [--drain] [--batch N] [--consumer NAME]
//
// Exit: 0 ok (--drain: nothing left for the consumer; else a signal), 2 bad
// usage or settings (URLs, no server, a database that cannot be reached or
// refuses the schema), 1 runtime failure.
#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "fleet/pg.hpp"
#include "rxinto/config/values.hpp"
#include "rxinto/export/nats.hpp"

namespace {

using namespace rxinto;
namespace pg = rxinto::fleet::pg;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr const char* usage_text =
    "Usage: rxinto-index --nats URL[,URL...] --db CONNINFO [OPTIONS]\n"
    "\n"
    "Reads the connection records rxinto exports (--export) from the JetStream\n"
    "stream RXINTO with a durable pull consumer and writes them into PostgreSQL\n"
    "(table rxinto_connections, created if absent, partitioned by day). Several\n"
    "rxinto-index processes may share one consumer.\n"
    "\n"
    "  --nats URLS         NATS servers, nats://HOST:PORT joined with ','\n"
    "  --db CONNINFO       libpq connection string, e.g. 'host=/run/postgresql dbname=fleet'\n"
    "  --drain             exit 0 once nothing is pending for the consumer\n"
    "  --batch N           records per transaction, 1..10000 (default 500)\n"
    "  --consumer NAME     durable consumer name (default rxinto-index)\n"
    "  --replicas N        replicas if the stream has to be created (0: auto)\n"
    "  --connect-timeout S seconds to reach a NATS server at start-up (default 2)\n"
    "  -q, --quiet         no progress lines\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 success; 2 bad usage or settings (unreachable server or\n"
    "database, a database that refuses the schema); 1 runtime failure.\n";

struct options {
    std::string nats;
    std::string db;
    bool drain = false;
    int batch = 500;
    std::string consumer = "rxinto-index";
    unsigned replicas = 0;
    double connect_timeout = 2;
    bool quiet = false;
};

int usage_error(const std::string& m) {
    std::fprintf(stderr, "rxinto-index: %s\n(rxinto-index --help lists the options)\n", m.c_str());
    return 2;
}

struct counts {
    std::uint64_t records = 0, batches = 0, rejected = 0, db_retries = 0;
};

enum class outcome { ok, transient, data };

class indexer {
public:
    explicit indexer(options o) : o_(std::move(o)) {}

    /// Connects and makes the schema; usage = true for what the settings cause.
    Status open_db() {
        conn_.reset(PQconnectdb(o_.db.c_str()));
        if (PQstatus(conn_.get()) != CONNECTION_OK) {
            Error e = make_error("--db: cannot connect to the database: ", pg::error_text(nullptr, conn_.get()));
            e.usage = true;
            return e;
        }
        PQsetNoticeProcessor(conn_.get(), [](void*, const char*) {}, nullptr);  // "already exists, skipping"
        // A table of that name that is not ours is refused before anything is
        // created next to it.
        if (auto st = check_columns(); !st) return st;
        pg::result_ptr r(PQexec(conn_.get(), "BEGIN"));
        r.reset(PQexec(conn_.get(), pg::schema_sql));
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK && PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
            Error e = make_error("--db: the database refuses the index schema (table ", pg::table, "): ",
                                 pg::error_text(r.get(), conn_.get()),
                                 " (the user needs CREATE on the schema, or an administrator creates it once)");
            e.usage = true;
            pg::result_ptr(PQexec(conn_.get(), "ROLLBACK"));
            return e;
        }
        r.reset(PQexec(conn_.get(), "COMMIT"));
        if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
            Error e = make_error("--db: schema: ", pg::error_text(r.get(), conn_.get()));
            e.usage = true;
            return e;
        }
        return check_columns();
    }

    Status check_columns() {
        pg::result_ptr r(PQexec(conn_.get(), pg::columns_check_sql));
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
            Error e = make_error("--db: cannot check the table: ", pg::error_text(r.get(), conn_.get()));
            e.usage = true;
            return e;
        }
        if (!PQgetisnull(r.get(), 0, 0)) {
            Error e = make_error("--db: a table ", pg::table, " exists but is not the fleet index (missing columns: ",
                                 PQgetvalue(r.get(), 0, 0), "): drop or rename it, or use another database");
            e.usage = true;
            return e;
        }
        return {};
    }

    /// Writes one batch; true once committed (the caller acknowledges then).
    /// false: stop requested before the database took it (not acknowledged).
    bool apply(natsMsgList& list, std::vector<bool>& rejected) {
        std::vector<std::string_view> payloads;
        for (int i = 0; i < list.Count; ++i)
            payloads.emplace_back(natsMsg_GetData(list.Msgs[i]), static_cast<std::size_t>(natsMsg_GetDataLength(list.Msgs[i])));
        rejected.assign(payloads.size(), false);
        switch (retrying(list, payloads)) {
        case outcome::ok: return true;
        case outcome::transient: return false;  // stopping
        case outcome::data: break;
        }
        // One or more records the database refuses as data: one by one, so
        // that only those are refused (terminated) and the rest is written.
        for (std::size_t i = 0; i < payloads.size(); ++i) {
            const outcome o = retrying(list, {payloads[i]});
            if (o == outcome::transient) return false;
            if (o == outcome::data) {
                rejected[i] = true;
                ++c_.rejected;
                if (c_.rejected <= 5)
                    std::fprintf(stderr, "rxinto-index: record refused by the database (%s): %.200s\n",
                                 last_error_.c_str(), std::string(payloads[i]).c_str());
            }
        }
        return true;
    }

    counts& stats() { return c_; }

private:
    outcome retrying(natsMsgList& list, const std::vector<std::string_view>& payloads) {
        auto backoff = std::chrono::milliseconds(200);
        auto last_progress = std::chrono::steady_clock::now();
        bool said = false;
        for (;;) {
            if (PQstatus(conn_.get()) != CONNECTION_OK) PQreset(conn_.get());
            if (PQstatus(conn_.get()) == CONNECTION_OK) {
                const outcome o = write(payloads);
                if (o != outcome::transient) {
                    if (said) std::fprintf(stderr, "rxinto-index: the database answers again\n");
                    return o;
                }
            } else {
                last_error_ = pg::error_text(nullptr, conn_.get());
            }
            ++c_.db_retries;
            if (!said) {
                std::fprintf(stderr, "rxinto-index: database unavailable (%s): retrying, nothing acknowledged\n",
                             last_error_.c_str());
                said = true;
            }
            if (g_stop) return outcome::transient;
            // Keep the messages ours while we wait (JetStream would hand them
            // to another indexer after the ack wait).
            if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(10)) {
                for (int i = 0; i < list.Count; ++i) natsMsg_InProgress(list.Msgs[i], nullptr);
                last_progress = std::chrono::steady_clock::now();
            }
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        }
    }

    outcome fail(PGresult* r) {
        last_error_ = pg::error_text(r, conn_.get());
        const bool t = pg::transient(r, conn_.get());
        if (PQstatus(conn_.get()) == CONNECTION_OK) pg::result_ptr(PQexec(conn_.get(), "ROLLBACK"));
        return t ? outcome::transient : outcome::data;
    }

    bool ok(PGresult* r) {
        const auto s = PQresultStatus(r);
        return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    }

    outcome write(const std::vector<std::string_view>& payloads) {
        PGconn* c = conn_.get();
        const std::string arr = pg::text_array(payloads);
        const char* params[1] = {arr.c_str()};
        pg::result_ptr r(PQexec(c, "BEGIN"));
        if (!ok(r.get())) return fail(r.get());
        r.reset(PQexecParams(c, "SELECT rxinto_ensure_partitions($1::text[])", 1, nullptr, params, nullptr, nullptr, 0));
        if (!ok(r.get())) return fail(r.get());
        // Every record must be an object of a known kind: anything else is
        // refused (one by one, by the caller), not silently skipped.
        r.reset(PQexecParams(c,
                             "SELECT count(*) FROM unnest($1::text[]) AS t(x)"
                             " WHERE jsonb_typeof(x::jsonb) <> 'object'"
                             " OR coalesce(x::jsonb->>'kind', '') NOT IN ('open', 'end')",
                             1, nullptr, params, nullptr, nullptr, 0));
        if (!ok(r.get())) return fail(r.get());
        if (std::strcmp(PQgetvalue(r.get(), 0, 0), "0") != 0) {
            last_error_ = "not a connection record (an object with kind open or end)";
            pg::result_ptr(PQexec(c, "ROLLBACK"));
            return outcome::data;
        }
        // Each record is parsed once (a MATERIALIZED CTE: inlined, every x->>
        // of the row would parse the text again).
        const std::string with =
            "WITH r AS MATERIALIZED (SELECT x::jsonb AS x FROM unnest($1::text[]) AS t(x)) ";
        const std::string src = " FROM r WHERE x->>'kind' = ";
        const std::string distinct =
            "SELECT DISTINCT ON (x->>'node', x->>'run', x->>'conn', x->>'d') ";
        // Opens never overwrite (an end may have come first); ends replace the row.
        const std::string opens = with + "INSERT INTO rxinto_connections (" + pg::row_columns + ") " + distinct +
                                  pg::row_select + src + "'open' ON CONFLICT (node, run, conn, d, first_ts) DO NOTHING";
        std::string set;
        for (const char* col : {"last_ts", "dir", "src", "sport", "dst", "dport", "vlan", "bytes", "gap_count",
                                "gap_bytes", "end_reason", "midstream", "overlap_conflicts", "packets", "worker",
                                "file", "streams_dir", "pcap", "chunks", "record_id", "record"}) {
            if (!set.empty()) set += ", ";
            set += std::string(col) + " = EXCLUDED." + col;
        }
        const std::string ends = with + "INSERT INTO rxinto_connections (" + pg::row_columns + ") " + distinct +
                                 pg::row_select + src + "'end' ON CONFLICT (node, run, conn, d, first_ts) DO UPDATE SET " +
                                 set + ", indexed_at = now()";
        r.reset(PQexecParams(c, opens.c_str(), 1, nullptr, params, nullptr, nullptr, 0));
        if (!ok(r.get())) return fail(r.get());
        r.reset(PQexecParams(c, ends.c_str(), 1, nullptr, params, nullptr, nullptr, 0));
        if (!ok(r.get())) return fail(r.get());
        r.reset(PQexec(c, "COMMIT"));
        if (!ok(r.get())) return fail(r.get());
        return outcome::ok;
    }

    options o_;
    pg::conn_ptr conn_;
    counts c_;
    std::string last_error_;
};

/// The durable consumer: all records of every node, explicit acks.
Status ensure_consumer(jsCtx* js, const std::string& name) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&ci, js, fleet::stream_name, name.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
        jsConsumerInfo_Destroy(ci);
        return {};
    }
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = 60LL * 1'000'000'000;
    cc.MaxAckPending = 20000;
    cc.DeliverPolicy = js_DeliverAll;
    cc.FilterSubject = "rxinto.*.conn";
    jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&ci, js, fleet::stream_name, &cc, nullptr, &jerr);
    if (s != NATS_OK) {
        // Created by another indexer in between?
        if (js_GetConsumerInfo(&ci, js, fleet::stream_name, name.c_str(), nullptr, &jerr) == NATS_OK) {
            jsConsumerInfo_Destroy(ci);
            return {};
        }
        return make_error("cannot create the consumer ", name, ": ", fleet::status_text(s), " (JetStream error ",
                          std::to_string(jerr), ")");
    }
    jsConsumerInfo_Destroy(ci);
    return {};
}

/// --drain: nothing left for the consumer, nothing waiting for an ack.
bool drained(jsCtx* js, const std::string& name) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    if (js_GetConsumerInfo(&ci, js, fleet::stream_name, name.c_str(), nullptr, &jerr) != NATS_OK) return false;
    const bool done = ci->NumPending == 0 && ci->NumAckPending == 0;
    jsConsumerInfo_Destroy(ci);
    return done;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= argc) return false;
            out = argv[++i];
            return true;
        };
        std::string v;
        if (a == "-h" || a == "--help") {
            std::fputs(usage_text, stdout);
            return 0;
        } else if (a == "--nats") {
            if (!value(v)) return usage_error("--nats: missing value (URLS)");
            auto u = config::values::parse_nats_urls(v);
            if (!u) return usage_error("--nats: " + u.error().message);
            o.nats = u.value();
        } else if (a == "--db") {
            if (!value(o.db)) return usage_error("--db: missing value (CONNINFO)");
        } else if (a == "--drain") {
            o.drain = true;
        } else if (a == "--batch") {
            if (!value(v)) return usage_error("--batch: missing value (N)");
            auto n = config::values::parse_uint(v, {1, 10000});
            if (!n) return usage_error("--batch: " + n.error().message);
            o.batch = static_cast<int>(n.value());
        } else if (a == "--consumer") {
            if (!value(v)) return usage_error("--consumer: missing value (NAME)");
            if (!fleet::valid_node_name(v)) return usage_error("--consumer: '" + v + "' is not a name ([A-Za-z0-9_-])");
            o.consumer = v;
        } else if (a == "--replicas") {
            if (!value(v)) return usage_error("--replicas: missing value (N)");
            auto n = config::values::parse_uint(v, {0, 5});
            if (!n) return usage_error("--replicas: " + n.error().message);
            o.replicas = static_cast<unsigned>(n.value());
        } else if (a == "--connect-timeout") {
            if (!value(v)) return usage_error("--connect-timeout: missing value (SECONDS)");
            auto t = config::values::parse_connect_timeout(v);
            if (!t) return usage_error("--connect-timeout: " + t.error().message);
            o.connect_timeout = t.value();
        } else if (a == "-q" || a == "--quiet") {
            o.quiet = true;
        } else {
            return usage_error("unknown argument '" + a + "'");
        }
    }
    if (o.nats.empty()) return usage_error("--nats URLS is required");
    if (o.db.empty()) return usage_error("--db CONNINFO is required");
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    fleet::connect_options co;
    co.urls = o.nats;
    co.name = "rxinto-index";
    co.timeout_s = o.connect_timeout;
    auto nc = fleet::connect(co);
    if (!nc) {
        std::fprintf(stderr, "rxinto-index: --nats: %s\n", nc.error().message.c_str());
        return nc.error().usage ? 2 : 1;
    }
    auto js = fleet::jetstream(nc->get());
    if (!js) {
        std::fprintf(stderr, "rxinto-index: %s\n", js.error().message.c_str());
        return 1;
    }
    std::string what;
    if (auto st = fleet::ensure_stream(nc->get(), js->get(), o.replicas, std::max(10.0, o.connect_timeout), what); !st) {
        std::fprintf(stderr, "rxinto-index: --nats: %s\n", st.error().message.c_str());
        return st.error().usage ? 2 : 1;
    }
    indexer ix(o);
    if (auto st = ix.open_db(); !st) {
        std::fprintf(stderr, "rxinto-index: %s\n", st.error().message.c_str());
        return st.error().usage ? 2 : 1;
    }
    // The consumer and the subscription: a cluster that is electing its
    // leaders answers "temporarily unavailable" for a while; wait that out.
    natsSubscription* sub = nullptr;
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        for (;;) {
            Status st = ensure_consumer(js->get(), o.consumer);
            if (st) {
                jsSubOptions so;
                jsSubOptions_Init(&so);
                so.Stream = fleet::stream_name;
                so.Consumer = o.consumer.c_str();
                jsErrCode jerr = static_cast<jsErrCode>(0);
                const natsStatus s = js_PullSubscribe(&sub, js->get(), "rxinto.*.conn", o.consumer.c_str(), nullptr,
                                                      &so, &jerr);
                if (s == NATS_OK) break;
                st = make_error("cannot bind to the consumer ", o.consumer, ": ", fleet::status_text(s));
            }
            if (g_stop || std::chrono::steady_clock::now() >= deadline) {
                std::fprintf(stderr, "rxinto-index: %s\n", st.error().message.c_str());
                return 1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
    }
    if (!o.quiet)
        std::fprintf(stderr, "rxinto-index: %s; consumer %s; indexing%s\n", what.c_str(), o.consumer.c_str(),
                     o.drain ? " until drained" : "");
    int rc = 0;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = NATS_OK;
    std::vector<bool> rejected;
    auto last_line = std::chrono::steady_clock::now();
    while (!g_stop) {
        natsMsgList list{};
        s = natsSubscription_Fetch(&list, sub, o.batch, o.drain ? 500 : 1000, &jerr);
        if (s == NATS_TIMEOUT || (s == NATS_OK && list.Count == 0)) {
            natsMsgList_Destroy(&list);
            if (o.drain && drained(js->get(), o.consumer)) break;
            continue;
        }
        if (s != NATS_OK) {
            natsMsgList_Destroy(&list);
            std::this_thread::sleep_for(std::chrono::milliseconds(200));  // reconnecting: the client retries
            continue;
        }
        if (!ix.apply(list, rejected)) {
            // Stopping while the database was away: nothing acknowledged,
            // JetStream hands these to the next indexer.
            for (int i = 0; i < list.Count; ++i) natsMsg_Nak(list.Msgs[i], nullptr);
            natsMsgList_Destroy(&list);
            break;
        }
        // Committed: now, and only now, acknowledged.
        for (int i = 0; i < list.Count; ++i) {
            if (rejected[static_cast<std::size_t>(i)]) natsMsg_Term(list.Msgs[i], nullptr);
            else natsMsg_Ack(list.Msgs[i], nullptr);
        }
        ix.stats().records += static_cast<std::uint64_t>(list.Count) - std::count(rejected.begin(), rejected.end(), true);
        ++ix.stats().batches;
        natsMsgList_Destroy(&list);
        natsConnection_FlushTimeout(nc->get(), 5000);
        if (!o.quiet && std::chrono::steady_clock::now() - last_line > std::chrono::seconds(1)) {
            std::fprintf(stderr, "rxinto-index: %llu records indexed\n",
                         static_cast<unsigned long long>(ix.stats().records));
            last_line = std::chrono::steady_clock::now();
        }
    }
    natsConnection_FlushTimeout(nc->get(), 5000);
    natsSubscription_Destroy(sub);
    const counts& c = ix.stats();
    std::fprintf(stderr, "rxinto-index: %llu records in %llu batches, %llu refused by the database, %llu database retries\n",
                 static_cast<unsigned long long>(c.records), static_cast<unsigned long long>(c.batches),
                 static_cast<unsigned long long>(c.rejected), static_cast<unsigned long long>(c.db_retries));
    return rc;
}
