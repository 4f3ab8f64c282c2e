// What rxinto-index and rxinto-query share about PostgreSQL (libpq): the
// schema of the fleet index, RAII for connections and results, and SQLSTATE
// classes. Control path only.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rxinto::fleet::pg {

struct conn_closer {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_closer>;
struct result_closer {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_closer>;

inline std::string sqlstate(const PGresult* r) {
    const char* s = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    return s != nullptr ? s : "";
}

/// The message of a failed result, on one line.
inline std::string error_text(const PGresult* r, PGconn* c) {
    std::string m = r != nullptr ? PQresultErrorMessage(r) : "";
    if (m.empty() && c != nullptr) m = PQerrorMessage(c);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    for (char& ch : m)
        if (ch == '\n') ch = ' ';
    return m;
}

/// Worth retrying as it is: the connection went away, the server is shutting
/// down or starting, out of resources, a serialisation failure or deadlock.
inline bool transient(const PGresult* r, PGconn* c) {
    if (c == nullptr || PQstatus(c) != CONNECTION_OK) return true;
    const std::string s = sqlstate(r);
    if (s.empty()) return true;  // no answer at all: the connection broke
    const std::string_view k = std::string_view(s).substr(0, 2);
    return k == "08" || k == "57" || k == "53" || k == "40" || k == "58";
}

/// A PostgreSQL text[] literal of `items` ({"a","b\"c"}), for unnest($1::text[]).
inline std::string text_array(const std::vector<std::string_view>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i != 0) out += ',';
        out += '"';
        for (char ch : items[i]) {
            if (ch == '"' || ch == '\\') out += '\\';
            out += ch;
        }
        out += '"';
    }
    out += '}';
    return out;
}

inline constexpr const char* table = "rxinto_connections";

/// The schema: one row per direction of each connection of each run of each
/// node, partitioned by day of the connection's first packet (partitions are
/// made as records arrive: rxinto_ensure_partitions). BRIN on the times (rows
/// arrive roughly in time order), B-tree on addresses and ports.
inline constexpr const char* schema_sql = R"SQL(
SELECT pg_advisory_xact_lock(hashtext('rxinto_schema'));
CREATE TABLE IF NOT EXISTS rxinto_connections (
    node text NOT NULL,
    run bigint NOT NULL,
    conn bigint NOT NULL,
    d smallint NOT NULL,
    first_ts timestamptz NOT NULL,
    last_ts timestamptz NOT NULL,
    dir text NOT NULL,
    src inet NOT NULL,
    sport integer NOT NULL,
    dst inet NOT NULL,
    dport integer NOT NULL,
    vlan integer[] NOT NULL,
    bytes bigint NOT NULL,
    gap_count integer NOT NULL,
    gap_bytes numeric NOT NULL,
    end_reason text,
    midstream boolean NOT NULL,
    overlap_conflicts bigint NOT NULL,
    packets bigint NOT NULL,
    worker integer NOT NULL,
    file text,
    streams_dir text,
    pcap jsonb,
    chunks boolean NOT NULL,
    record_id text NOT NULL,
    record jsonb NOT NULL,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node, run, conn, d, first_ts)
) PARTITION BY RANGE (first_ts);
CREATE INDEX IF NOT EXISTS rxinto_connections_first_ts ON rxinto_connections USING brin (first_ts);
CREATE INDEX IF NOT EXISTS rxinto_connections_last_ts ON rxinto_connections USING brin (last_ts);
CREATE INDEX IF NOT EXISTS rxinto_connections_src ON rxinto_connections (src);
CREATE INDEX IF NOT EXISTS rxinto_connections_dst ON rxinto_connections (dst);
CREATE INDEX IF NOT EXISTS rxinto_connections_ports ON rxinto_connections (dport, sport);
CREATE OR REPLACE FUNCTION rxinto_first_ts(x jsonb) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE AS $$ SELECT to_timestamp((x->>'first_ns')::numeric / 1e9) $$;
CREATE OR REPLACE FUNCTION rxinto_ensure_partitions(batch text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    day date;
    name text;
BEGIN
    FOR day IN SELECT DISTINCT (rxinto_first_ts(x::jsonb) AT TIME ZONE 'UTC')::date FROM unnest(batch) AS t(x) LOOP
        name := 'rxinto_connections_' || to_char(day, 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('rxinto_partitions'));
            IF to_regclass(name) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF rxinto_connections FOR VALUES FROM (%L) TO (%L)',
                               name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
            END IF;
        END IF;
    END LOOP;
END $$;
)SQL";

/// Columns the schema must have when the table exists (an older or foreign
/// table of the same name is refused, not written into): NULL when none is
/// missing or there is no such table yet.
inline constexpr const char* columns_check_sql = R"SQL(
SELECT string_agg(c, ', ') FROM unnest(ARRAY['node','run','conn','d','first_ts','last_ts','dir','src','sport',
    'dst','dport','vlan','bytes','gap_count','gap_bytes','end_reason','midstream','overlap_conflicts','packets',
    'worker','file','streams_dir','pcap','chunks','record_id','record']) AS c
WHERE NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_name = 'rxinto_connections' AND column_name = c
                    AND table_schema = current_schema())
  AND to_regclass('rxinto_connections') IS NOT NULL
)SQL";

/// The row of a record (x: jsonb), in the table's column order.
inline constexpr const char* row_select = R"SQL(
    x->>'node', (x->>'run')::bigint, (x->>'conn')::bigint, (x->>'d')::smallint,
    rxinto_first_ts(x), to_timestamp((x->>'last_ns')::numeric / 1e9),
    x->>'dir', (x->>'src')::inet, (x->>'sport')::integer, (x->>'dst')::inet, (x->>'dport')::integer,
    ARRAY(SELECT v::integer FROM jsonb_array_elements_text(x->'vlan') AS v),
    (x->>'bytes')::bigint,
    jsonb_array_length(x->'gaps') + coalesce((x->>'gaps_truncated')::integer, 0),
    (SELECT coalesce(sum((g->>1)::numeric), 0) FROM jsonb_array_elements(x->'gaps') AS g),
    x->>'end', (x->>'midstream')::boolean, (x->>'overlap_conflicts')::bigint, (x->>'packets')::bigint,
    (x->>'worker')::integer, x->>'file', x->>'streams_dir',
    CASE WHEN jsonb_typeof(x->'pcap') = 'object' THEN x->'pcap' END,
    coalesce((x->>'chunks')::boolean, false), x->>'id', x
)SQL";

inline constexpr const char* row_columns =
    "node, run, conn, d, first_ts, last_ts, dir, src, sport, dst, dport, vlan, bytes, gap_count, gap_bytes,"
    " end_reason, midstream, overlap_conflicts, packets, worker, file, streams_dir, pcap, chunks, record_id, record";

}  // namespace rxinto::fleet::pg
