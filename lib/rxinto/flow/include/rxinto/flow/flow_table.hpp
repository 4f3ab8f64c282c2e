// The per-worker flow table: full-tuple keys (flow_key) -> fixed-size entries
// held in one block of EAL memory on the worker's socket, with least-recently
// -used lists per class (a connection state, say) for timeouts and eviction.
//
// Lookups are made per burst, DPDK's l3fwd "hash lookup multi" way: the caller
// computes every key's hash once (key_hash), lookup_bulk() resolves up to 64
// keys per rte_hash_lookup_with_hash_bulk_data() call and prefetches the first
// cache lines of every entry it found, so that by the time the caller reaches
// packet i its entry is (being) fetched. The same hash is reused for the
// insertion and the removal: nothing is hashed twice.
//
// The index is DPDK's rte_hash (extendable buckets: capacity keys whatever their
// hashes, cuckoo displacement, signatures compared before keys): the table adds
// fixed-size slots, the LRU lists and the memory accounting around it. A table of
// our own could save the key-store cache line per lookup (the key would live in
// the entry), but rte_hash's bulk lookup already pipelines the bucket and key
// fetches across the group, which is what matters at a million flows; measured
// with bench_tcp --flows 1000000 (docs/benchmarks.md).
//
// Entries: acquire() gives the memory of a free slot whose key is already in the
// index; the caller constructs its own type there (which must start with a
// flow_node, its first base). release() takes the key out of the index and frees
// the slot, after the caller took the entry off its LRU list and destroyed it.
//
// Bulk results go stale when the table changes (an entry released during the
// burst may be reused by the next acquire): generation() changes with every
// acquire and release, and the caller looks a key up again when it did.
//
// Lcore: one table per worker, used only by that worker's lcore. create() and
// the destructor are control path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rxinto/base/result.hpp"
#include "rxinto/flow/flow_key.hpp"

struct rte_hash;

namespace rxinto::flow {

/// The table's part of an entry (the entry type's first base class).
struct flow_node {
    static constexpr std::uint8_t no_class = 0xff;
    flow_node* lru_prev = nullptr;
    flow_node* lru_next = nullptr;
    std::uint64_t last_ns = 0;          ///< when it was last touched (packet time)
    std::uint64_t lru_ns = 0;           ///< last_ns when it was put at the tail of its list
    std::uint8_t lru_class = no_class;  ///< the LRU list it is on
};

struct table_config {
    std::string name;               ///< unique per process (rte_hash and memzone names)
    std::uint32_t capacity = 0;     ///< entries, >= 8
    std::uint32_t entry_size = 0;   ///< bytes per entry (the entry type's size), >= sizeof(flow_node)
    std::uint8_t classes = 1;       ///< LRU lists, 1..max_classes
    int socket = -1;                ///< NUMA socket of the memory (SOCKET_ID_ANY: -1)
};

class flow_table {
public:
    static constexpr unsigned max_classes = 8;
    /// Keys per rte_hash bulk call (RTE_HASH_LOOKUP_BULK_MAX).
    static constexpr unsigned bulk_max = 64;

    /// Bytes of EAL memory a table of `capacity` entries of `entry_size` bytes
    /// takes: the slots and rte_hash's buckets, extendable buckets, key store and
    /// free-slot rings (the layout of DPDK 22.11's rte_hash_create, rounded up).
    [[nodiscard]] static std::uint64_t memory_needed(std::uint32_t capacity,
                                                     std::uint32_t entry_size) noexcept;

    /// Control path. Fails with the memory it would have needed when EAL memory
    /// is short.
    [[nodiscard]] static Result<std::unique_ptr<flow_table>> create(const table_config& cfg);
    ~flow_table();
    flow_table(const flow_table&) = delete;
    flow_table& operator=(const flow_table&) = delete;

    // ---- lookups -----------------------------------------------------------

    /// out[i] = the entry of *keys[i] (hashes[i] = key_hash(*keys[i])), or null.
    /// Any n; the entries found get their first two cache lines prefetched.
    void lookup_bulk(const flow_key* const* keys, const std::uint32_t* hashes, unsigned n,
                     flow_node** out) noexcept;
    [[nodiscard]] flow_node* lookup(const flow_key& k, std::uint32_t hash) noexcept;
    /// Changes with every acquire() and release().
    [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }

    // ---- entries -----------------------------------------------------------

    /// The memory of a free slot (entry_size bytes, 64-byte aligned), k already
    /// in the index; null when the table is full or the index refuses the key.
    [[nodiscard]] void* acquire(const flow_key& k, std::uint32_t hash) noexcept;
    /// Takes k out of the index and frees its slot (the entry is off every LRU
    /// list and destroyed).
    void release(void* slot, const flow_key& k, std::uint32_t hash) noexcept;

    [[nodiscard]] std::uint32_t size() const noexcept { return used_; }
    [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] bool full() const noexcept { return used_ >= capacity_; }

    // ---- LRU lists ---------------------------------------------------------
    //
    // Kept in order lazily: a touch within the same class only updates the
    // entry's own last_ns; the entry moves to the tail when it changes class,
    // or when oldest() finds it at the head although it was touched since it
    // was put there. A packet then writes only its own entry's cache line, not
    // its list neighbours' (at a million flows those are cache misses).

    /// last_ns = max(last_ns, now); moves n to the tail of class cls's list
    /// when it is on another list (or none).
    void touch(flow_node* n, std::uint8_t cls, std::uint64_t now_ns) noexcept {
        if (now_ns > n->last_ns) n->last_ns = now_ns;
        if (n->lru_class != cls) relink(n, cls);
    }
    /// Takes n off its list (lru_class becomes no_class).
    void unlink(flow_node* n) noexcept;
    /// The least recently touched entry of class cls, or null: entries at the
    /// head that were touched after they were put there go to the tail first
    /// (at most `settle` of them, so a call is bounded; then the head is taken
    /// as it is).
    [[nodiscard]] flow_node* oldest(std::uint8_t cls, unsigned settle = 64) noexcept;

private:
    flow_table() = default;
    void relink(flow_node* n, std::uint8_t cls) noexcept;

    rte_hash* index_ = nullptr;
    unsigned char* slots_ = nullptr;  ///< capacity_ * entry_size_ bytes of EAL memory
    void* free_ = nullptr;            ///< free slots, linked through their first word
    std::uint32_t capacity_ = 0;
    std::uint32_t entry_size_ = 0;
    std::uint32_t used_ = 0;
    std::uint8_t classes_ = 1;
    std::uint64_t generation_ = 0;
    flow_node* head_[max_classes] = {};
    flow_node* tail_[max_classes] = {};
};

}  // namespace rxinto::flow
