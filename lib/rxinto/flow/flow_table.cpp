#include "rxinto/flow/flow_table.hpp"

#include <new>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

namespace rxinto::flow {

namespace {

std::uint64_t pow2_at_least(std::uint64_t v) noexcept {
    std::uint64_t p = 1;
    while (p < v) p <<= 1;
    return p;
}

}  // namespace

std::uint64_t flow_table::memory_needed(std::uint32_t capacity, std::uint32_t entry_size) noexcept {
    // rte_hash_create (22.11, extendable buckets, one writer): buckets of 8
    // entries, as many extendable buckets, a key store of capacity + 1 entries
    // (key + data pointer, 16-byte aligned), two rings of free slot indexes.
    const std::uint64_t buckets = pow2_at_least(capacity) / 8 + 1;
    const std::uint64_t key_entry = RTE_ALIGN_CEIL(sizeof(void*) + sizeof(flow_key), 16U);
    const std::uint64_t hash_bytes = 2 * buckets * RTE_CACHE_LINE_SIZE + (std::uint64_t{capacity} + 1) * key_entry +
                                     2 * pow2_at_least(std::uint64_t{capacity} + 1) * sizeof(std::uint32_t);
    const std::uint64_t slots = std::uint64_t{capacity} * RTE_ALIGN_CEIL(entry_size, RTE_CACHE_LINE_SIZE);
    // malloc-heap element headers and memzone rounding: a few pages of slack.
    return hash_bytes + slots + (1U << 20);
}

Result<std::unique_ptr<flow_table>> flow_table::create(const table_config& cfg) {
    if (cfg.capacity < 8) return make_error("flow table ", cfg.name, ": capacity below 8");
    if (cfg.entry_size < sizeof(flow_node)) return make_error("flow table ", cfg.name, ": entry size too small");
    if (cfg.classes == 0 || cfg.classes > max_classes)
        return make_error("flow table ", cfg.name, ": 1..", std::to_string(max_classes), " LRU classes");
    std::unique_ptr<flow_table> t(new (std::nothrow) flow_table());
    if (!t) return make_error("flow table ", cfg.name, ": out of memory");
    t->capacity_ = cfg.capacity;
    t->entry_size_ = RTE_ALIGN_CEIL(cfg.entry_size, RTE_CACHE_LINE_SIZE);
    t->classes_ = cfg.classes;
    const auto need_mib = [&cfg] {
        return std::to_string(memory_needed(cfg.capacity, cfg.entry_size) / (1U << 20) + 1);
    };

    rte_hash_parameters hp{};
    const std::string hname = cfg.name + "_idx";
    hp.name = hname.c_str();
    hp.entries = cfg.capacity;
    hp.key_len = sizeof(flow_key);
    hp.hash_func = rte_hash_crc;  // the same function as key_hash()
    hp.hash_func_init_val = 0;
    hp.socket_id = cfg.socket;
    // Extendable buckets: capacity keys fit whatever their hashes.
    hp.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    t->index_ = rte_hash_create(&hp);
    if (t->index_ == nullptr)
        return make_error("flow table of ", std::to_string(cfg.capacity), " connections: ",
                          rte_strerror(rte_errno), " (it needs about ", need_mib(),
                          " MiB of EAL memory): lower [tcp] max_flows or raise [eal] memory_mb");

    const std::size_t bytes = std::size_t{t->capacity_} * t->entry_size_;
    t->slots_ = static_cast<unsigned char*>(
        rte_zmalloc_socket((cfg.name + "_slots").c_str(), bytes, RTE_CACHE_LINE_SIZE, cfg.socket));
    if (t->slots_ == nullptr)
        return make_error("flow table of ", std::to_string(cfg.capacity), " connections: cannot get ",
                          std::to_string(bytes / (1U << 20) + 1), " MiB of EAL memory (it needs about ",
                          need_mib(), " MiB in all): lower [tcp] max_flows or raise [eal] memory_mb");
    // Free list through the slots' first word, lowest address first.
    for (std::uint32_t i = t->capacity_; i-- > 0;) {
        void* slot = t->slots_ + std::size_t{i} * t->entry_size_;
        *static_cast<void**>(slot) = t->free_;
        t->free_ = slot;
    }
    return t;
}

flow_table::~flow_table() {
    if (index_ != nullptr) rte_hash_free(index_);
    rte_free(slots_);
}

void flow_table::lookup_bulk(const flow_key* const* keys, const std::uint32_t* hashes, unsigned n,
                             flow_node** out) noexcept {
    void* data[bulk_max];
    for (unsigned base = 0; base < n; base += bulk_max) {
        const unsigned k = RTE_MIN(n - base, bulk_max);
        std::uint64_t hits = 0;
        // rte_hash takes non-const pointers to keys and signatures it only reads.
        const int found = rte_hash_lookup_with_hash_bulk_data(
            index_, reinterpret_cast<const void**>(const_cast<const flow_key**>(keys + base)),
            const_cast<hash_sig_t*>(hashes + base), k, &hits, data);
        if (found <= 0) hits = 0;
        for (unsigned i = 0; i < k; ++i) {
            if ((hits >> i) & 1U) {
                auto* e = static_cast<flow_node*>(data[i]);
                rte_prefetch0(e);
                rte_prefetch0(reinterpret_cast<const char*>(e) + RTE_CACHE_LINE_SIZE);
                out[base + i] = e;
            } else {
                out[base + i] = nullptr;
            }
        }
    }
}

flow_node* flow_table::lookup(const flow_key& k, std::uint32_t hash) noexcept {
    void* data = nullptr;
    if (rte_hash_lookup_with_hash_data(index_, &k, hash, &data) < 0) return nullptr;
    return static_cast<flow_node*>(data);
}

void* flow_table::acquire(const flow_key& k, std::uint32_t hash) noexcept {
    void* slot = free_;
    if (slot == nullptr) return nullptr;
    if (rte_hash_add_key_with_hash_data(index_, &k, hash, slot) < 0) return nullptr;
    free_ = *static_cast<void**>(slot);
    ++used_;
    ++generation_;
    return slot;
}

void flow_table::release(void* slot, const flow_key& k, std::uint32_t hash) noexcept {
    rte_hash_del_key_with_hash(index_, &k, hash);
    *static_cast<void**>(slot) = free_;
    free_ = slot;
    --used_;
    ++generation_;
}

void flow_table::unlink(flow_node* n) noexcept {
    const std::uint8_t c = n->lru_class;
    if (c >= classes_) return;
    if (n->lru_prev != nullptr) n->lru_prev->lru_next = n->lru_next;
    else head_[c] = n->lru_next;
    if (n->lru_next != nullptr) n->lru_next->lru_prev = n->lru_prev;
    else tail_[c] = n->lru_prev;
    n->lru_prev = n->lru_next = nullptr;
    n->lru_class = flow_node::no_class;
}

void flow_table::relink(flow_node* n, std::uint8_t cls) noexcept {
    unlink(n);
    if (cls >= classes_) return;
    n->lru_class = cls;
    n->lru_ns = n->last_ns;
    n->lru_prev = tail_[cls];
    n->lru_next = nullptr;
    if (tail_[cls] != nullptr) tail_[cls]->lru_next = n;
    else head_[cls] = n;
    tail_[cls] = n;
}

flow_node* flow_table::oldest(std::uint8_t cls, unsigned settle) noexcept {
    if (cls >= classes_) return nullptr;
    // The list is in the order entries were put at the tail, and an entry's
    // last_ns is never below the time it was put there: once the head was not
    // touched since, it is the least recently touched of all.
    flow_node* h = head_[cls];
    while (h != nullptr && h->last_ns > h->lru_ns && h->lru_next != nullptr && settle-- != 0) {
        relink(h, cls);
        h = head_[cls];
    }
    return h;
}

}  // namespace rxinto::flow
