// rxinto-query: find connections in the fleet index (PostgreSQL, filled by
// rxinto-index) across nodes, print them as a table or as JSON lines, and
// fetch one direction's stream bytes from the JetStream chunks rxinto
// exported (--export-streams), or say on which node and in which file they are.
//
//   rxinto-query --db CONNINFO [--json] [filters]
//   rxinto-query --db CONNINFO --nats URLS --fetch [filters selecting one direction] [--out FILE]
//
// JSON lines carry every index.jsonl field with the same names and types
// (conn, dir, src, sport, dst, dport, vlan, file, bytes, gaps, midstream, end,
// overlap_conflicts) plus node, run, worker, d, packets, first_ns, last_ns,
// streams_dir, pcap, chunks, chunk_bytes_lost: the record as rxinto published it.
//
// Exit: 0 ok, 2 bad usage (filters, connection strings), 1 runtime failure
// (including --fetch when the bytes are not in the cluster: it names the node
// and the file).
#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "fleet/pg.hpp"
#include "rxinto/config/values.hpp"
#include "rxinto/export/nats.hpp"

namespace {

using namespace rxinto;
namespace pg = rxinto::fleet::pg;

constexpr const char* usage_text =
    "Usage: rxinto-query --db CONNINFO [--json] [FILTERS]\n"
    "       rxinto-query --db CONNINFO --nats URLS --fetch [FILTERS] [--out FILE]\n"
    "\n"
    "Finds connections (one row per direction) in the fleet index that\n"
    "rxinto-index fills, across every node. Filters (all must hold):\n"
    "  --node NAME          the sensor that saw it\n"
    "  --run N, --conn N    a run of rxinto on that node, a connection id\n"
    "  --dir LABEL          c2s, s2c, a2b or b2a\n"
    "  --host ADDR[/LEN]    either endpoint in the address or network\n"
    "  --src ADDR[/LEN], --dst ADDR[/LEN]\n"
    "  --port N             either port; --sport N, --dport N\n"
    "  --vlan ID            carries this VLAN id\n"
    "  --since TIME         still active at or after TIME (ISO 8601 or epoch seconds)\n"
    "  --until TIME         started at or before TIME\n"
    "  --end REASON         fin, rst, timeout, evicted or eof (--open: not ended yet)\n"
    "  --has-gaps           with bytes missing from the capture\n"
    "  --limit N            at most N rows (default: all)\n"
    "Output:\n"
    "  --json               one JSON object per direction (the index.jsonl fields, node...)\n"
    "  (default)            a table\n"
    "  --fetch              the stream bytes of the one direction the filters select, from\n"
    "                       the JetStream chunks (needs --nats and rxinto --export-streams);\n"
    "                       otherwise the node and the file that hold them are named\n"
    "  --nats URLS          NATS servers, for --fetch\n"
    "  --out FILE           --fetch writes here instead of standard output\n"
    "\n"
    "Exit status: 0 success; 2 bad usage; 1 runtime failure (no database,\n"
    "or --fetch could not get the bytes).\n";

int usage_error(const std::string& m) {
    std::fprintf(stderr, "rxinto-query: %s\n(rxinto-query --help lists the options)\n", m.c_str());
    return 2;
}

bool is_number(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if ((c < '0' || c > '9') && c != '.') return false;
    return true;
}

/// ADDR or ADDR/LEN, checked here so that a typo is a usage error, not SQL's.
bool valid_inet(const std::string& s) {
    std::string a = s;
    if (const auto slash = s.find('/'); slash != std::string::npos) {
        a = s.substr(0, slash);
        const std::string len = s.substr(slash + 1);
        if (len.empty() || len.size() > 3 || !is_number(len) || len.find('.') != std::string::npos) return false;
        const int n = std::atoi(len.c_str());
        if (n > (a.find(':') != std::string::npos ? 128 : 32)) return false;
    }
    unsigned char buf[16];
    return inet_pton(AF_INET, a.c_str(), buf) == 1 || inet_pton(AF_INET6, a.c_str(), buf) == 1;
}

struct query {
    std::vector<std::string> where;
    std::vector<std::string> params;
    std::string add(std::string v) {
        params.push_back(std::move(v));
        return "$" + std::to_string(params.size());
    }
};

/// The bytes of one direction from its chunks (rxinto.<node>.data.<conn>.*),
/// those of its run and direction, placed at their offsets.
Result<std::string> fetch_chunks(const std::string& urls, const std::string& node, const std::string& run,
                                 const std::string& conn, const std::string& d, std::uint64_t bytes) {
    fleet::connect_options co;
    co.urls = urls;
    co.name = "rxinto-query";
    auto nc = fleet::connect(co);
    if (!nc) return std::move(nc).error();
    auto js = fleet::jetstream(nc->get());
    if (!js) return std::move(js).error();
    std::string out(bytes, '\0');
    if (bytes == 0) return out;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> have;  // [offset, end)
    const std::string subject = "rxinto." + node + ".data." + conn + ".*";
    natsSubscription* sub = nullptr;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = fleet::stream_name;
    so.Ordered = true;  // an ephemeral consumer that the client keeps in sequence
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_SubscribeSync(&sub, js->get(), subject.c_str(), nullptr, &so, &jerr);
    if (s != NATS_OK) return make_error("--fetch: cannot read ", subject, ": ", fleet::status_text(s));
    for (;;) {
        natsMsg* m = nullptr;
        s = natsSubscription_NextMsg(&m, sub, 5000);
        if (s != NATS_OK) {
            natsSubscription_Destroy(sub);
            return make_error("--fetch: no more chunks on ", subject, " (", fleet::status_text(s), ")");
        }
        const char* mrun = nullptr;
        const char* md = nullptr;
        const char* moff = nullptr;
        natsMsgHeader_Get(m, "Rxinto-Run", &mrun);
        natsMsgHeader_Get(m, "Rxinto-D", &md);
        natsMsgHeader_Get(m, "Rxinto-Offset", &moff);
        if (mrun != nullptr && md != nullptr && moff != nullptr && run == mrun && d == md) {
            const std::uint64_t off = std::strtoull(moff, nullptr, 10);
            const auto len = static_cast<std::uint64_t>(natsMsg_GetDataLength(m));
            if (off + len <= bytes && off + len >= off) {
                std::memcpy(out.data() + off, natsMsg_GetData(m), len);
                have.emplace_back(off, off + len);
            }
        }
        jsMsgMetaData* meta = nullptr;
        std::uint64_t pending = 0;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            pending = meta->NumPending;
            jsMsgMetaData_Destroy(meta);
        }
        natsMsg_Destroy(m);
        if (pending == 0) break;
    }
    natsSubscription_Destroy(sub);
    std::sort(have.begin(), have.end());
    std::uint64_t covered = 0;
    for (const auto& [a, b] : have) {
        if (a > covered) break;
        covered = std::max(covered, b);
    }
    if (covered < bytes)
        return make_error("--fetch: the chunks in the cluster cover bytes 0..", std::to_string(covered), " of ",
                          std::to_string(bytes), " (some were not exported: see the record's chunk_bytes_lost)");
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string db, nats, out_path, limit;
    bool json = false, fetch = false;
    query q;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        std::string v;
        auto value = [&]() -> bool {
            if (i + 1 >= argc) return false;
            v = argv[++i];
            return true;
        };
        auto need = [&](const char* what) { return usage_error(a + ": missing value (" + what + ")"); };
        if (a == "-h" || a == "--help") {
            std::fputs(usage_text, stdout);
            return 0;
        } else if (a == "--db") {
            if (!value()) return need("CONNINFO");
            db = v;
        } else if (a == "--nats") {
            if (!value()) return need("URLS");
            auto u = config::values::parse_nats_urls(v);
            if (!u) return usage_error("--nats: " + u.error().message);
            nats = u.value();
        } else if (a == "--json") {
            json = true;
        } else if (a == "--fetch") {
            fetch = true;
        } else if (a == "--out") {
            if (!value()) return need("FILE");
            out_path = v;
        } else if (a == "--node") {
            if (!value()) return need("NAME");
            if (!fleet::valid_node_name(v)) return usage_error("--node: '" + v + "' is not a node name");
            q.where.push_back("node = " + q.add(v));
        } else if (a == "--run" || a == "--conn" || a == "--port" || a == "--sport" || a == "--dport" ||
                   a == "--vlan" || a == "--limit") {
            if (!value()) return need("N");
            const bool port = a == "--port" || a == "--sport" || a == "--dport";
            auto n = config::values::parse_uint(v, {0, port ? 65535ULL : (a == "--vlan" ? 4095ULL : (1ULL << 63) - 1)});
            if (!n) return usage_error(a + ": " + n.error().message);
            const std::string p = std::to_string(n.value());
            if (a == "--run") q.where.push_back("run = " + q.add(p) + "::bigint");
            else if (a == "--conn") q.where.push_back("conn = " + q.add(p) + "::bigint");
            else if (a == "--sport") q.where.push_back("sport = " + q.add(p) + "::integer");
            else if (a == "--dport") q.where.push_back("dport = " + q.add(p) + "::integer");
            else if (a == "--vlan") q.where.push_back(q.add(p) + "::integer = ANY (vlan)");
            else if (a == "--limit") limit = p;
            else {
                const std::string k = q.add(p);
                q.where.push_back("(sport = " + k + "::integer OR dport = " + k + "::integer)");
            }
        } else if (a == "--dir") {
            if (!value()) return need("LABEL");
            if (v != "c2s" && v != "s2c" && v != "a2b" && v != "b2a")
                return usage_error("--dir: '" + v + "' is not one of c2s, s2c, a2b, b2a");
            q.where.push_back("dir = " + q.add(v));
        } else if (a == "--host" || a == "--src" || a == "--dst") {
            if (!value()) return need("ADDR[/LEN]");
            if (!valid_inet(v)) return usage_error(a + ": '" + v + "' is not an IP address or network (ADDR[/LEN])");
            const std::string k = q.add(v) + "::inet";
            if (a == "--src") q.where.push_back("src <<= " + k);
            else if (a == "--dst") q.where.push_back("dst <<= " + k);
            else q.where.push_back("(src <<= " + k + " OR dst <<= " + k + ")");
        } else if (a == "--since" || a == "--until") {
            if (!value()) return need("TIME");
            const std::string t = is_number(v) ? "to_timestamp(" + q.add(v) + "::double precision)"
                                               : q.add(v) + "::timestamptz";
            q.where.push_back(a == "--since" ? "last_ts >= " + t : "first_ts <= " + t);
        } else if (a == "--end") {
            if (!value()) return need("REASON");
            if (v != "fin" && v != "rst" && v != "timeout" && v != "evicted" && v != "eof")
                return usage_error("--end: '" + v + "' is not one of fin, rst, timeout, evicted, eof");
            q.where.push_back("end_reason = " + q.add(v));
        } else if (a == "--open") {
            q.where.push_back("end_reason IS NULL");
        } else if (a == "--has-gaps") {
            q.where.push_back("gap_count > 0");
        } else {
            return usage_error("unknown argument '" + a + "'");
        }
    }
    if (db.empty()) return usage_error("--db CONNINFO is required");
    if (fetch && json) return usage_error("--fetch and --json: one or the other");

    pg::conn_ptr c(PQconnectdb(db.c_str()));
    if (PQstatus(c.get()) != CONNECTION_OK) {
        std::fprintf(stderr, "rxinto-query: --db: cannot connect to the database: %s\n",
                     pg::error_text(nullptr, c.get()).c_str());
        return 2;
    }
    std::string sql = std::string("SELECT (record - 'id' - 'kind')::text, node, run::text, conn::text, d::text, dir,") +
                      " host(src), sport, host(dst), dport, array_to_string(vlan, '.'), bytes, gap_count," +
                      " coalesce(end_reason, '-'), to_char(first_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), " +
                      " chunks, coalesce(record->>'chunk_bytes_lost', '0'), coalesce(file, ''), coalesce(streams_dir, '')," +
                      " coalesce(record->>'delivered', bytes::text)" +
                      " FROM " + pg::table;
    for (std::size_t i = 0; i < q.where.size(); ++i) sql += (i == 0 ? " WHERE " : " AND ") + q.where[i];
    sql += " ORDER BY first_ts, node, run, conn, d";
    if (!limit.empty()) sql += " LIMIT " + limit;
    std::vector<const char*> params;
    for (const auto& p : q.params) params.push_back(p.c_str());
    pg::result_ptr r(PQexecParams(c.get(), sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(),
                                  nullptr, nullptr, 0));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
        const std::string state = pg::sqlstate(r.get());
        std::fprintf(stderr, "rxinto-query: %s\n", pg::error_text(r.get(), c.get()).c_str());
        if (state == "42P01") std::fprintf(stderr, "rxinto-query: no index here yet: run rxinto-index first\n");
        return state.rfind("22", 0) == 0 ? 2 : 1;
    }
    const int rows = PQntuples(r.get());
    if (fetch) {
        if (rows != 1)
            return usage_error("--fetch: the filters select " + std::to_string(rows) +
                               " directions; select exactly one (--node, --conn and --dir, or --run)");
        const std::string node = PQgetvalue(r.get(), 0, 1), run = PQgetvalue(r.get(), 0, 2),
                          conn = PQgetvalue(r.get(), 0, 3), d = PQgetvalue(r.get(), 0, 4);
        // The chunks carry what the reassembler delivered (the stream file may
        // hold less, when the node's disk filled up: its index says so in lost).
        const std::uint64_t bytes = std::strtoull(PQgetvalue(r.get(), 0, 19), nullptr, 10);
        const bool chunks = PQgetvalue(r.get(), 0, 15)[0] == 't';
        const std::string lost = PQgetvalue(r.get(), 0, 16);
        const std::string file = PQgetvalue(r.get(), 0, 17), dir = PQgetvalue(r.get(), 0, 18);
        const std::string where = file.empty() ? std::string("no stream file (rxinto ran without --streams-dir)")
                                               : (dir.empty() ? file : dir + "/" + file);
        if (!chunks || lost != "0" || nats.empty()) {
            std::fprintf(stderr,
                         "rxinto-query: --fetch: the bytes of %s conn %s %s are not in the cluster (%s);"
                         " they are on node %s: %s\n",
                         node.c_str(), conn.c_str(), PQgetvalue(r.get(), 0, 5),
                         nats.empty() && chunks ? "give --nats to read the exported chunks"
                         : chunks ? "some chunks were not exported"
                                  : "rxinto ran without --export-streams",
                         node.c_str(), where.c_str());
            return 1;
        }
        auto got = fetch_chunks(nats, node, run, conn, d, bytes);
        if (!got) {
            std::fprintf(stderr, "rxinto-query: %s; on node %s: %s\n", got.error().message.c_str(), node.c_str(),
                         where.c_str());
            return got.error().usage ? 2 : 1;
        }
        std::FILE* f = out_path.empty() ? stdout : std::fopen(out_path.c_str(), "wb");
        if (f == nullptr) {
            std::fprintf(stderr, "rxinto-query: --out %s: %s\n", out_path.c_str(), std::strerror(errno));
            return 1;
        }
        const bool ok = std::fwrite(got->data(), 1, got->size(), f) == got->size();
        if (f != stdout ? std::fclose(f) != 0 : std::fflush(f) != 0 || !ok) {
            std::fprintf(stderr, "rxinto-query: writing the bytes failed\n");
            return 1;
        }
        return 0;
    }
    if (json) {
        for (int i = 0; i < rows; ++i) std::printf("%s\n", PQgetvalue(r.get(), i, 0));
        return std::fflush(stdout) == 0 ? 0 : 1;
    }
    std::printf("%-12s %-14s %-4s %-41s %-41s %-6s %12s %5s %-7s %s\n", "node", "conn", "dir", "src", "dst", "vlan",
                "bytes", "gaps", "end", "first packet (UTC)");
    for (int i = 0; i < rows; ++i) {
        const std::string src = std::string(PQgetvalue(r.get(), i, 6)) + ":" + PQgetvalue(r.get(), i, 7);
        const std::string dst = std::string(PQgetvalue(r.get(), i, 8)) + ":" + PQgetvalue(r.get(), i, 9);
        std::printf("%-12s %-14s %-4s %-41s %-41s %-6s %12s %5s %-7s %s\n", PQgetvalue(r.get(), i, 1),
                    PQgetvalue(r.get(), i, 3), PQgetvalue(r.get(), i, 5), src.c_str(), dst.c_str(),
                    PQgetvalue(r.get(), i, 10), PQgetvalue(r.get(), i, 11), PQgetvalue(r.get(), i, 12),
                    PQgetvalue(r.get(), i, 13), PQgetvalue(r.get(), i, 14));
    }
    std::printf("(%d direction%s)\n", rows, rows == 1 ? "" : "s");
    return std::fflush(stdout) == 0 ? 0 : 1;
}
