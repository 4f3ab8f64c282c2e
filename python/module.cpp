// The `rxinto` Python module (pybind11): Receiver, Connection, Stream, Event.
//
// Reads look like the socket and file APIs: Stream.recv_into(buffer, nbytes=0)
// copies the next in-order bytes straight from the packet buffers into any
// writable buffer (bytearray, memoryview, numpy array, mmap: the buffer
// protocol), never past len(buffer) or nbytes; readinto()/read() and the rest
// of io.RawIOBase make io.BufferedReader(stream) work; peek() gives read-only
// memoryviews of the packet buffers themselves (zero copy).
//
// The engine (core.hpp) has no Python in it; this file turns its states into
// Python objects, takes the GIL off around polling and large copies, and
// turns every failure into rxinto.Error with the library's message.
//
// The endpoint: a Receiver given addresses (address='10.0.0.2/24') owns them
// on its live ports and terminates the TCP connections to the ports it
// listen()s on; those connections are the same Connection/Stream objects
// (received with recv_into, peek, ...), plus send(), send_room, close(),
// abort() and state.
#include <Python.h>
#include <pybind11/eval.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "core.hpp"
#include "rxinto/gen/pcap_gen.hpp"
#include "settings_map.hpp"

namespace py = pybind11;

namespace rxpy {
namespace {

// ---------------------------------------------------------------------------
// Exceptions and shared objects (made once at import, kept for the process)

PyObject* g_error = nullptr;      // rxinto.Error
PyObject* g_gap_error = nullptr;  // rxinto.GapError(Error): readinto() at a gap
PyObject* g_unsupported = nullptr;  // io.UnsupportedOperation
PyObject* g_key_type = nullptr;   // rxinto.Key (a namedtuple)
PyObject* g_kind[3] = {};         // "opened", "readable", "closed"
PyObject* g_ends[6] = {};         // None, "fin", "rst", "timeout", "evicted", "eof"

[[noreturn]] void raise(PyObject* type, const std::string& msg) {
    PyErr_SetString(type, msg.c_str());
    throw py::error_already_set();
}
[[noreturn]] void raise_error(const std::string& msg) { raise(g_error, msg); }

/// Copies of at least this many bytes run with the GIL released; below it,
/// releasing and taking the GIL back costs more than the copy.
constexpr std::size_t gil_release_min = 64 * 1024;
/// How often a blocking poll() takes the GIL back to let signal handlers run
/// (Ctrl-C), in seconds.
constexpr double signal_check_s = 0.05;
constexpr std::size_t max_peek_views = 256;

std::string generated_capture() {
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/rxinto-py-XXXXXX.pcap";
    const int fd = ::mkstemps(path.data(), 5);
    if (fd < 0) raise_error("generated capture: cannot create '" + path + "' in $TMPDIR");
    ::close(fd);
    auto cap = rxinto::gen::generate(rxinto::gen::default_options());
    if (!cap) {
        ::unlink(path.c_str());
        raise_error("generated capture: " + cap.error().message);
    }
    if (auto st = rxinto::gen::write_pcap(cap.value(), path); !st) {
        ::unlink(path.c_str());
        raise_error("generated capture: " + st.error().message);
    }
    return path;
}

// ---------------------------------------------------------------------------
// Python objects

struct PyStream;
struct PyConnection;
class PyReceiver;
/// The open Receiver (one at a time per process), for the "another one is open" check.
PyReceiver* g_open_receiver = nullptr;

/// Sets `busy` on the receiver while the GIL is released around it.
class busy_guard {
public:
    explicit busy_guard(receiver_core* c) noexcept : c_(c) {
        if (c_ != nullptr) c_->busy = true;
    }
    ~busy_guard() {
        if (c_ != nullptr) c_->busy = false;
    }
    busy_guard(const busy_guard&) = delete;
    busy_guard& operator=(const busy_guard&) = delete;

private:
    receiver_core* c_;
};

void check_not_busy(const receiver_core* c) {
    if (c != nullptr && c->busy)
        raise_error("this Receiver is in use by another thread (a poll() or a large copy is running): one "
                    "Receiver per thread of control");
}

/// The state, or rxinto.Error when it is gone (never touches freed memory).
conn_state& usable(const std::shared_ptr<conn_state>& st) {
    if (st->retired == retire_why::closed)
        raise_error("connection " + std::to_string(st->id) +
                    " is gone: it was released at the poll() after its 'closed' event");
    if (st->retired == retire_why::receiver_closed || st->owner == nullptr)
        raise_error("connection " + std::to_string(st->id) + " is gone: its Receiver was closed");
    check_not_busy(st->owner);
    return *st;
}

struct PyConnection {
    std::shared_ptr<conn_state> st;
};

/// The receiver of a usable connection, for the endpoint's calls.
receiver_core& owner_of(const std::shared_ptr<conn_state>& st) {
    conn_state& s = usable(st);
    return *s.owner;
}

/// Connection.send(data): data is any bytes-like object (read through the
/// buffer protocol, copied into the endpoint's mbufs at once, GIL held).
std::size_t conn_send(PyConnection& c, const py::object& data) {
    receiver_core& rc = owner_of(c.st);
    Py_buffer view;
    // PyBUF_SIMPLE: contiguous bytes (a str or a strided view is a TypeError / BufferError).
    if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    struct release {
        Py_buffer* v;
        ~release() { PyBuffer_Release(v); }
    } released{&view};
    auto r = rc.send(*c.st, std::span<const std::byte>(static_cast<const std::byte*>(view.buf),
                                                       static_cast<std::size_t>(view.len)));
    if (!r) raise_error(r.error().message);
    return r.value();
}

struct PyStream {
    std::shared_ptr<conn_state> st;
    std::size_t d = 0;       ///< key order: 0 = a -> b, 1 = b -> a
    bool io_closed = false;  ///< close() was called (io semantics)

    conn_state& use() {
        conn_state& s = usable(st);
        if (io_closed) raise(PyExc_ValueError, "I/O operation on closed stream");
        return s;
    }
};

struct PyEvent {
    py::object kind;
    py::object conn;
};

/// The read-only buffer behind one peek() memoryview. It pins the mbuf the
/// bytes are in (one reference, dropped when the last view of it goes), so
/// that a view that outlives its poll() (a slice, a numpy array made from it)
/// never reads a buffer that was freed or reused; or, for a released
/// connection, it keeps the connection's spill alive.
struct peek_buffer {
    const std::byte* p = nullptr;
    std::size_t n = 0;
    rte_mbuf* m = nullptr;
    std::shared_ptr<pool_keeper> keeper;  ///< the pool m belongs to lives as long as the pin
    std::shared_ptr<conn_state> st;
    live_token<live_kind::peek_buffer> counted;
    peek_buffer() = default;
    peek_buffer(const peek_buffer&) = delete;
    peek_buffer& operator=(const peek_buffer&) = delete;
    ~peek_buffer() {
        if (m != nullptr) rte_pktmbuf_free_seg(m);  // this segment only: the chain is the stream's
    }
};

/// The Python object in a state's cache slot, made once.
template <class F>
py::object cached_obj(conn_state& st, std::size_t slot, F&& make) {
    if (st.py[slot] != nullptr) return py::reinterpret_borrow<py::object>(static_cast<PyObject*>(st.py[slot]));
    py::object o = make();
    st.py[slot] = o.inc_ref().ptr();
    return o;
}

/// Drops a state's cached Python objects (before it is retired). The caller
/// holds a shared_ptr to it: dropping them may drop the last other reference.
void clear_py(conn_state& st) {
    for (void*& p : st.py) {
        PyObject* o = static_cast<PyObject*>(p);
        p = nullptr;
        Py_XDECREF(o);
    }
}

py::object connection_object(const std::shared_ptr<conn_state>& st) {
    return cached_obj(*st, 0, [&] { return py::cast(PyConnection{st}); });
}

py::object stream_object(const std::shared_ptr<conn_state>& st, std::size_t d) {
    return cached_obj(*st, 1 + d, [&] { return py::cast(PyStream{st, d, false}); });
}

py::object key_object(conn_state& st) {
    return cached_obj(st, 3, [&] {
        py::tuple vlan(st.key.vlan_count);
        for (std::size_t i = 0; i < st.key.vlan_count && i < st.key.vlan.size(); ++i) vlan[i] = py::int_(st.key.vlan[i]);
        py::object k = py::reinterpret_borrow<py::object>(g_key_type)(
            py::make_tuple(st.addr[0], st.addr[1]), py::make_tuple(st.key.port_a, st.key.port_b), vlan,
            st.key.ip_version);
        return k;
    });
}

const char* label_of(const conn_state& st, std::size_t d) {
    const std::int8_t client = conn_client_dir(st);
    if (client >= 0) return static_cast<std::size_t>(client) == d ? "c2s" : "s2c";
    return d == flow::index_of(conn_first_dir(st)) ? "a2b" : "b2a";
}

py::object end_object(tcp::end_reason r) {
    const auto i = static_cast<std::size_t>(r);
    return py::reinterpret_borrow<py::object>(i < 6 ? g_ends[i] : Py_None);
}

// ---------------------------------------------------------------------------
// Buffers

/// A writable, contiguous buffer, released on scope exit.
class writable_buffer {
public:
    writable_buffer(py::handle obj, const char* who) {
        if (PyObject_GetBuffer(obj.ptr(), &v_, PyBUF_WRITABLE) != 0) {
            // Read-only (bytes, a read-only memoryview or numpy array),
            // non-contiguous, or not a buffer at all: a TypeError, as socket's.
            PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
            PyErr_Fetch(&type, &value, &tb);
            std::string why;
            if (value != nullptr) {
                if (PyObject* s = PyObject_Str(value)) {
                    if (const char* u = PyUnicode_AsUTF8(s)) why = u;
                    Py_DECREF(s);
                }
            }
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
            PyErr_Clear();
            const std::string tname = Py_TYPE(obj.ptr())->tp_name;
            raise(PyExc_TypeError, std::string(who) + "() argument must be a writable contiguous buffer "
                                   "(bytearray, memoryview, numpy array, mmap), not " +
                                       (PyObject_CheckBuffer(obj.ptr()) ? "a read-only or non-contiguous " : "") +
                                       tname + (why.empty() ? "" : " (" + why + ")"));
        }
        ok_ = true;
    }
    ~writable_buffer() {
        if (ok_) PyBuffer_Release(&v_);
    }
    writable_buffer(const writable_buffer&) = delete;
    writable_buffer& operator=(const writable_buffer&) = delete;
    [[nodiscard]] std::byte* data() const noexcept { return static_cast<std::byte*>(v_.buf); }
    [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(v_.len); }

private:
    Py_buffer v_{};
    bool ok_ = false;
};

/// One read into [p, p + n): the GIL released for large copies.
tcp::recv_result read_into(PyStream& self, conn_state& st, std::byte* p, std::size_t n) {
    if (n == 0) return stream_state(st, self.d);
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, stream_available(st, self.d)));
    tcp::recv_result r;
    if (want >= gil_release_min) {
        busy_guard busy(st.owner);
        py::gil_scoped_release nogil;
        r = stream_read(st, self.d, std::span<std::byte>(p, n));
    } else {
        r = stream_read(st, self.d, std::span<std::byte>(p, n));
    }
    if (st.owner != nullptr) st.owner->after_read(st);
    return r;
}

// ---------------------------------------------------------------------------
// Stream methods

py::int_ stream_recv_into(PyStream& self, py::handle buffer, std::int64_t nbytes) {
    conn_state& st = self.use();
    writable_buffer b(buffer, "recv_into");
    if (nbytes < 0) raise(PyExc_ValueError, "negative nbytes in recv_into");
    std::size_t n = b.size();
    if (nbytes != 0) {
        if (static_cast<std::uint64_t>(nbytes) > b.size())
            raise(PyExc_ValueError, "nbytes " + std::to_string(nbytes) + " is more than the buffer's " +
                                        std::to_string(b.size()) + " bytes");
        n = static_cast<std::size_t>(nbytes);
    }
    const tcp::recv_result r = read_into(self, st, b.data(), n);
    return py::int_(r.bytes);
}

[[noreturn]] void raise_gap(const conn_state& st, std::size_t d, std::uint64_t gap) {
    const std::uint64_t off = stream_counters(st, d).offset;
    py::object e = py::reinterpret_borrow<py::object>(g_gap_error)(
        "a gap of " + std::to_string(gap) + " bytes at offset " + std::to_string(off) +
            " (bytes never captured; skip_gap() steps over it)",
        off, gap);
    PyErr_SetObject(g_gap_error, e.ptr());
    throw py::error_already_set();
}

/// What io.RawIOBase wants when nothing was read: 0 (b"") at the end, None when
/// nothing has arrived yet, rxinto.GapError at a gap (gaps are never filled:
/// the caller decides; skip_gap() steps over it).
py::object nothing_read(const conn_state& st, std::size_t d, py::object at_end) {
    const tcp::recv_result r = stream_state(st, d);
    if (r.gap != 0) raise_gap(st, d, r.gap);
    if (r.end != tcp::end_reason::none) return at_end;
    return py::none();
}

/// io.RawIOBase.readinto: bytes read; None when nothing is there yet; 0 at the
/// end of the stream; rxinto.GapError at a gap.
py::object stream_readinto(PyStream& self, py::handle buffer) {
    conn_state& st = self.use();
    writable_buffer b(buffer, "readinto");
    const tcp::recv_result r = read_into(self, st, b.data(), b.size());
    if (r.bytes != 0 || b.size() == 0) return py::int_(r.bytes);
    return nothing_read(st, self.d, py::int_(0));
}

/// io.RawIOBase.readall: everything readable now (up to a gap); b"" at the
/// end; None when nothing has arrived yet; GapError at a gap.
py::object py_readall(PyStream& self) {
    conn_state& st = self.use();
    std::string out;
    for (;;) {
        const std::uint64_t n = stream_available(st, self.d);
        if (n == 0) break;
        const std::size_t at = out.size();
        out.resize(at + static_cast<std::size_t>(n));
        const tcp::recv_result r = read_into(self, st, reinterpret_cast<std::byte*>(out.data() + at), n);
        out.resize(at + r.bytes);
        if (r.bytes == 0) break;
    }
    if (!out.empty()) return py::bytes(out);
    return nothing_read(st, self.d, py::bytes(""));
}

py::object py_read(PyStream& self, std::int64_t size) {
    if (size < 0) return py_readall(self);
    conn_state& st = self.use();
    if (size == 0) return py::bytes("");
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(static_cast<std::uint64_t>(size), stream_available(st, self.d)));
    if (want == 0) return nothing_read(st, self.d, py::bytes(""));
    PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(want));
    if (raw == nullptr) throw py::error_already_set();
    py::object bytes = py::reinterpret_steal<py::object>(raw);
    const tcp::recv_result r = read_into(self, st, reinterpret_cast<std::byte*>(PyBytes_AS_STRING(raw)), want);
    if (r.bytes != want) return py::bytes(PyBytes_AS_STRING(raw), r.bytes);  // never hand out bytes not read
    return bytes;
}

/// Up to and including the next b"\n" (or size bytes, or what is readable
/// before a gap / the end / what has not arrived yet).
py::bytes stream_readline(PyStream& self, std::int64_t size) {
    conn_state& st = self.use();
    std::uint64_t limit = stream_available(st, self.d);
    if (size >= 0) limit = std::min<std::uint64_t>(limit, static_cast<std::uint64_t>(size));
    std::span<const std::byte> views[64];
    rte_mbuf* segs[64] = {};
    const std::size_t k = stream_peek(st, self.d, views, segs);
    std::uint64_t n = 0;
    bool found = false;
    for (std::size_t i = 0; i < k && !found && n < limit; ++i) {
        const std::size_t m = static_cast<std::size_t>(std::min<std::uint64_t>(views[i].size(), limit - n));
        const void* nl = std::memchr(views[i].data(), '\n', m);
        if (nl != nullptr) {
            n += static_cast<std::uint64_t>(static_cast<const std::byte*>(nl) - views[i].data()) + 1;
            found = true;
        } else {
            n += m;
        }
    }
    if (k == 64 && !found) n = std::min<std::uint64_t>(n, limit);  // a very long line: what was scanned
    std::string out(static_cast<std::size_t>(n), '\0');
    const tcp::recv_result r = read_into(self, st, reinterpret_cast<std::byte*>(out.data()), out.size());
    out.resize(r.bytes);
    return py::bytes(out);
}

py::list& receiver_views(const conn_state& st);

py::list py_peek(PyStream& self, std::size_t max_views) {
    conn_state& st = self.use();
    py::list& views_of_poll = receiver_views(st);
    if (max_views == 0) return py::list();
    max_views = std::min(max_views, max_peek_views);
    std::span<const std::byte> spans[max_peek_views];
    rte_mbuf* segs[max_peek_views] = {};
    const std::size_t k = rxpy::stream_peek(st, self.d, std::span(spans, max_views), std::span(segs, max_views));
    py::list out;
    for (std::size_t i = 0; i < k; ++i) {
        auto buf = std::make_unique<peek_buffer>();
        buf->p = spans[i].data();
        buf->n = spans[i].size();
        if (st.alive()) {
            rte_mbuf* m = segs[i];  // the segment that holds the view (its buffer may be a mapped file's)
            rte_mbuf_refcnt_update(m, 1);  // pinned: this segment stays while a view of it lives
            buf->m = m;
            buf->keeper = st.owner->keeper();
        } else {
            buf->st = self.st;  // the spill lives while a view of it does
        }
        py::object exporter = py::cast(std::move(buf));
        PyObject* mv = PyMemoryView_FromObject(exporter.ptr());
        if (mv == nullptr) throw py::error_already_set();
        py::object view = py::reinterpret_steal<py::object>(mv);
        views_of_poll.append(view);
        out.append(view);
    }
    return out;
}

std::uint64_t stream_consume_py(PyStream& self, std::int64_t n) {
    conn_state& st = self.use();
    if (n < 0) raise(PyExc_ValueError, "negative byte count in consume");
    const std::uint64_t k = std::min<std::uint64_t>(static_cast<std::uint64_t>(n), stream_available(st, self.d));
    rxpy::stream_consume(st, self.d, k);
    if (st.owner != nullptr) st.owner->after_read(st);
    return k;
}

std::uint64_t stream_skip_gap_py(PyStream& self) {
    conn_state& st = self.use();
    const std::uint64_t g = rxpy::stream_skip_gap(st, self.d);
    if (st.owner != nullptr) st.owner->after_read(st);
    return g;
}

// ---------------------------------------------------------------------------
// Receiver

/// Splits a pcap=/vdev= argument: one path or device, or a list of them.
std::vector<std::string> sources(py::handle v, const char* what) {
    std::vector<std::string> out;
    if (v.is_none()) return out;
    auto one = [&](py::handle x) {
        if (PyUnicode_Check(x.ptr()) || PyObject_HasAttrString(x.ptr(), "__fspath__") || PyBytes_Check(x.ptr())) {
            out.push_back(py::str(py::module_::import("os").attr("fsdecode")(x)));
        } else {
            raise_error(std::string(what) + ": a path or a list of paths, not " + Py_TYPE(x.ptr())->tp_name);
        }
    };
    if (PyList_Check(v.ptr()) || PyTuple_Check(v.ptr())) {
        for (py::handle x : v) one(x);
    } else {
        one(v);
    }
    return out;
}

/// A keyword's value as the command line or an INI file would carry it.
keyword keyword_of(const std::string& name, py::handle v) {
    keyword kw;
    kw.name = name;
    auto text = [&](py::handle x) -> std::string {
        if (PyBool_Check(x.ptr())) return x.ptr() == Py_True ? "yes" : "no";
        if (PyLong_Check(x.ptr())) return py::str(x);
        if (PyFloat_Check(x.ptr())) {
            const double d = x.cast<double>();
            if (!std::isfinite(d)) raise_error(name + "=" + std::string(py::repr(x)) + ": not a finite number");
            return py::str(x);
        }
        if (PyUnicode_Check(x.ptr())) return x.cast<std::string>();
        if (PyObject_HasAttrString(x.ptr(), "__fspath__"))
            return py::str(py::module_::import("os").attr("fsdecode")(x));
        raise_error(name + "=" + std::string(py::repr(x)) + ": give a str, int, float, bool or path");
    };
    if (PyBool_Check(v.ptr())) {
        kw.is_bool = true;
        kw.bool_value = v.ptr() == Py_True;
    }
    if (PyList_Check(v.ptr()) || PyTuple_Check(v.ptr())) {
        for (py::handle x : v) kw.values.push_back(text(x));
    } else {
        kw.values.push_back(text(v));
    }
    return kw;
}

built_settings settings_of(py::object config, py::object pcap, py::object vdev, py::kwargs kwargs) {
    std::string cfg;
    if (!config.is_none()) {
        auto c = sources(config, "config");
        if (c.size() != 1) raise_error("config: one INI file");
        cfg = c[0];
    }
    std::vector<keyword> kws;
    for (auto item : kwargs) {
        const std::string name = py::str(item.first);
        if (item.second.is_none()) continue;  // None: not given
        kws.push_back(keyword_of(name, item.second));
    }
    auto b = build_settings(cfg, sources(pcap, "pcap"), sources(vdev, "vdev"), kws);
    if (!b) raise_error(b.error().message);
    return std::move(b.value());
}

py::dict eal_dict(const eal_info& e) {
    py::dict d;
    d["up"] = e.up;
    d["hugepages"] = e.hugepages;
    d["main_lcore"] = e.main_lcore;
    d["args"] = e.args;
    d["note"] = e.note;
    return d;
}

class PyReceiver {
public:
    PyReceiver(py::object config, py::object pcap, py::object vdev, py::kwargs kwargs) {
        built_settings b = settings_of(std::move(config), std::move(pcap), std::move(vdev), std::move(kwargs));
        auto eal = ensure_eal(b.settings, b.eal_given);
        if (!eal) raise_error(eal.error().message);
        if (!eal.value()->note.empty()) notes_.push_back(eal.value()->note);
        for (const auto& p : b.settings.ports)
            if (p.kind == config::PortKind::pcap && p.source == config::generated_pcap && generated_.empty())
                generated_ = generated_capture();
        auto core = receiver_core::open(b.settings, generated_);
        if (!core) {
            drop_generated();
            raise_error(core.error().message);
        }
        core_ = std::move(core.value());
        core_->user = this;
        for (const auto& n : core_->notes()) notes_.push_back(n);
        settings_ = std::move(b.settings);
    }
    ~PyReceiver() {
        try {
            close();
        } catch (...) {
        }
        if (g_open_receiver == this) g_open_receiver = nullptr;
    }
    PyReceiver(const PyReceiver&) = delete;
    PyReceiver& operator=(const PyReceiver&) = delete;

    receiver_core& core() {
        if (!core_ || core_->closed()) raise_error("this Receiver is closed");
        check_not_busy(core_.get());
        return *core_;
    }

    py::list poll(py::object timeout) {
        receiver_core& c = core();
        double t = -1;
        if (!timeout.is_none()) {
            t = timeout.cast<double>();
            if (!(t >= 0) || !std::isfinite(t)) raise(PyExc_ValueError, "timeout must be None or >= 0 seconds");
        }
        release_views();
        for (const std::shared_ptr<conn_state>& st : c.take_retirable()) {
            clear_py(*st);
            c.retire(*st, retire_why::closed);
        }
        c.flush();
        const std::uint64_t hz = rte_get_tsc_hz();
        const std::uint64_t t0 = rte_rdtsc();
        const std::uint64_t deadline =
            t < 0 ? UINT64_MAX : t0 + static_cast<std::uint64_t>(t * static_cast<double>(hz));
        for (;;) {
            const std::uint64_t slice = rte_rdtsc() + static_cast<std::uint64_t>(signal_check_s * static_cast<double>(hz));
            receiver_core::run_status s;
            {
                busy_guard busy(&c);
                py::gil_scoped_release nogil;
                s = c.run(deadline, slice);
            }
            if (s != receiver_core::run_status::slice) break;
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();  // events stay for the next poll
        }
        py::list out(c.pending().size());
        std::size_t i = 0;
        for (const pending_event& e : c.pending()) {
            PyEvent ev{py::reinterpret_borrow<py::object>(g_kind[static_cast<std::size_t>(e.kind)]),
                       connection_object(e.st)};
            out[i++] = py::cast(std::move(ev));
        }
        c.delivered();
        for (const auto& n : c.notes())
            if (std::find(notes_.begin(), notes_.end(), n) == notes_.end()) notes_.push_back(n);
        return out;
    }

    py::list connections() {
        receiver_core& c = core();
        std::vector<std::shared_ptr<conn_state>> v(c.live().begin(), c.live().end());
        std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
        py::list out;
        for (const auto& st : v) out.append(connection_object(st));
        return out;
    }

    void close() {
        if (!core_ || core_->closed()) return;
        check_not_busy(core_.get());
        release_views();
        std::vector<std::shared_ptr<conn_state>> v(core_->live().begin(), core_->live().end());
        for (const auto& p : core_->pending()) v.push_back(p.st);
        for (const auto& st : v) clear_py(*st);
        stats_at_close_ = core_->stats();
        core_->close();
        stats_at_close_.mempool_in_use = core_->in_use_at_close();
        drop_generated();
    }

    void listen(int port) {
        if (port < 1 || port > 65535) raise(PyExc_ValueError, "listen: port must be 1..65535");
        auto st = core().listen(static_cast<std::uint16_t>(port));
        if (!st) raise_error(st.error().message);
    }

    [[nodiscard]] bool done() const { return !core_ || core_->closed() || core_->done(); }
    [[nodiscard]] bool closed() const { return !core_ || core_->closed(); }

    py::dict stats() {
        py::dict d;
        const bool open = core_ && !core_->closed();
        if (open) check_not_busy(core_.get());
        const receiver_stats s = open ? core_->stats() : stats_at_close_;
        d["packets"] = s.packets;
        d["bytes"] = s.bytes;
        d["polls"] = s.polls;
        d["mempool_size"] = s.mempool_size;
        d["mempool_in_use"] = s.mempool_in_use;
        if (open && core_->reassembler() != nullptr) {
            const tcp::reassembler& r = *core_->reassembler();
            d["flows_active"] = r.active_flows();
            d["segments_in_use"] = r.segments_in_use();
            py::dict t;
            for (std::size_t i = 0; i < tcp::tcp_counters::size; ++i)
                t[tcp::to_string(static_cast<tcp::tcp_counter>(i))] = r.counters().get(i);
            d["tcp"] = t;
            py::dict o;
            for (std::size_t i = 0; i < tcp::outcome_counters::size; ++i)
                o[tcp::to_string(static_cast<tcp::packet_outcome>(i))] = r.outcomes().get(i);
            d["outcomes"] = o;
        }
        if (open && core_->endpoint() != nullptr) {
            const rxinto::endpoint::endpoint& ep = *core_->endpoint();
            d["connections_open"] = ep.connections();
            d["segments_in_use"] = ep.segments_in_use();
            py::dict e;
            for (std::size_t i = 0; i < rxinto::endpoint::endpoint_counters::size; ++i)
                e[rxinto::endpoint::to_string(static_cast<rxinto::endpoint::endpoint_counter>(i))] =
                    ep.counters().get(i);
            d["endpoint"] = e;
            py::dict t;
            for (std::size_t i = 0; i < tcp::tcp_counters::size; ++i)
                t[tcp::to_string(static_cast<tcp::tcp_counter>(i))] = ep.stream_counters().get(i);
            d["tcp"] = t;
        }
        return d;
    }

    std::uint64_t mempool_in_use() {
        if (!core_ || core_->closed()) return core_ ? core_->in_use_at_close() : 0;
        check_not_busy(core_.get());
        return core_->stats().mempool_in_use;
    }

    [[nodiscard]] const std::vector<std::string>& notes() const { return notes_; }

private:
    /// peek() views of the last poll: released, so that using one raises
    /// ValueError. A view something else still exports from (numpy) stays, and
    /// so do slices: their mbufs stay pinned until they go (never freed memory).
    void release_views() {
        for (py::handle v : views_) {
            PyObject* r = PyObject_CallMethod(v.ptr(), "release", nullptr);
            if (r == nullptr) PyErr_Clear();
            Py_XDECREF(r);
        }
        if (views_.size() != 0) views_ = py::list();
    }
    void drop_generated() {
        if (!generated_.empty()) ::unlink(generated_.c_str());
        generated_.clear();
    }

    std::unique_ptr<receiver_core> core_;
    config::Settings settings_;
    std::string generated_;
    std::vector<std::string> notes_;
    receiver_stats stats_at_close_{};

public:
    py::list views_;  ///< peek() views since the last poll
};

py::list& receiver_views(const conn_state& st) { return static_cast<PyReceiver*>(st.owner->user)->views_; }

}  // namespace
}  // namespace rxpy

using namespace rxpy;

PYBIND11_MODULE(rxinto, m) {
    m.doc() =
        "rxinto: TCP streams reassembled from DPDK packet buffers, read with recv_into().\n\n"
        "    with rxinto.Receiver(pcap='x.pcap') as rx:\n"
        "        while not rx.done:\n"
        "            for ev in rx.poll(timeout=0.1):\n"
        "                for s in ev.conn.streams:\n"
        "                    n = s.recv_into(buf)\n\n"
        "See the README (Python) for the whole API.";

    // Exceptions and the key type, in Python (their attributes are plain).
    py::dict ns;
    ns["__name__"] = "rxinto";
    ns["__builtins__"] = py::module_::import("builtins");
    py::exec(R"(
import collections
class Error(Exception):
    """Every failure of rxinto, with the library's message."""

class GapError(Error):
    """readinto() at a gap: `length` bytes at stream offset `offset` were never
    captured. Gaps are never filled: skip_gap() steps over one."""
    def __init__(self, message, offset=0, length=0):
        super().__init__(message)
        self.offset = offset
        self.length = length

Key = collections.namedtuple("Key", ["addresses", "ports", "vlan", "ip_version"])
Key.__doc__ = ("A connection's identity, the same for both directions: the two addresses and ports "
               "(in the key's own order), the VLAN ids (outermost first) and the IP version.")
)",
             ns);
    g_error = py::object(ns["Error"]).inc_ref().ptr();
    g_gap_error = py::object(ns["GapError"]).inc_ref().ptr();
    g_key_type = py::object(ns["Key"]).inc_ref().ptr();
    m.attr("Error") = ns["Error"];
    m.attr("GapError") = ns["GapError"];
    m.attr("Key") = ns["Key"];
    g_unsupported = py::object(py::module_::import("io").attr("UnsupportedOperation")).inc_ref().ptr();
    const char* kinds[] = {"opened", "readable", "closed"};
    for (int i = 0; i < 3; ++i) g_kind[i] = PyUnicode_InternFromString(kinds[i]);
    g_ends[0] = Py_None;
    Py_INCREF(Py_None);
    for (int i = 1; i < 6; ++i)
        g_ends[i] = PyUnicode_InternFromString(tcp::to_string(static_cast<tcp::end_reason>(i)));

    m.def(
        "settings",
        [] {
            py::dict d;
            for (const auto& [k, v] : keyword_table()) d[py::str(k)] = v;
            return d;
        },
        "Every keyword a Receiver accepts (the command line's long options with '_' for '-', and the INI keys "
        "without an option), and what it maps to.");

    m.def(
        "init_eal",
        [](py::object config, py::kwargs kwargs) {
            built_settings b = settings_of(std::move(config), py::none(), py::none(), std::move(kwargs));
            // Ports are the Receivers'; only PCI ports matter here (the EAL's allow-list).
            auto eal = ensure_eal(b.settings, b.eal_given);
            if (!eal) raise_error(eal.error().message);
            return eal_dict(*eal.value());
        },
        py::arg("config") = py::none(),
        "Brings DPDK's EAL up now with these settings (the first Receiver does it otherwise): once per process. "
        "Returns what it came up with.");

    m.def("eal", [] { return eal_dict(eal_state()); }, "The process's EAL: whether it is up, and how.");

    m.def(
        "_live_objects",
        [] {
            py::dict d;
            d["conn_states"] = live_objects(live_kind::conn_state);
            d["receivers"] = live_objects(live_kind::receiver);
            d["peek_buffers"] = live_objects(live_kind::peek_buffer);
            return d;
        },
        "The module's C++ objects alive now (for tests: all go once nothing refers to them).");

    py::class_<peek_buffer, std::unique_ptr<peek_buffer>>(m, "_PeekBuffer", py::buffer_protocol())
        .def_buffer([](peek_buffer& b) {
            return py::buffer_info(const_cast<std::byte*>(b.p), 1, "B", 1, {static_cast<py::ssize_t>(b.n)}, {1},
                                   /*readonly=*/true);
        });

    py::class_<PyEvent>(m, "Event", "One event of a poll(): kind is 'opened', 'readable' or 'closed'.")
        .def_property_readonly("kind", [](const PyEvent& e) { return e.kind; })
        .def_property_readonly("conn", [](const PyEvent& e) { return e.conn; })
        .def("__repr__", [](const PyEvent& e) {
            return "<rxinto.Event " + std::string(py::str(e.kind)) + " " + std::string(py::repr(e.conn)) + ">";
        });

    py::class_<PyConnection>(m, "Connection",
                             "A TCP connection: its key, its id, and its two streams. Readable until the poll() "
                             "after its 'closed' event; then every use raises rxinto.Error.")
        .def_property_readonly("id", [](PyConnection& c) { return usable(c.st).id; })
        .def_property_readonly("key", [](PyConnection& c) { return key_object(usable(c.st)); })
        .def_property_readonly("c2s",
                               [](PyConnection& c) -> py::object {
                                   const std::int8_t cl = conn_client_dir(usable(c.st));
                                   return cl < 0 ? py::none() : stream_object(c.st, static_cast<std::size_t>(cl));
                               })
        .def_property_readonly("s2c",
                               [](PyConnection& c) -> py::object {
                                   const std::int8_t cl = conn_client_dir(usable(c.st));
                                   return cl < 0 ? py::none() : stream_object(c.st, 1 - static_cast<std::size_t>(cl));
                               })
        .def_property_readonly("a2b",
                               [](PyConnection& c) {
                                   return stream_object(c.st, flow::index_of(conn_first_dir(usable(c.st))));
                               })
        .def_property_readonly("b2a",
                               [](PyConnection& c) {
                                   return stream_object(c.st, 1 - flow::index_of(conn_first_dir(usable(c.st))));
                               })
        .def_property_readonly("streams",
                               [](PyConnection& c) {
                                   conn_state& st = usable(c.st);
                                   const std::int8_t cl = conn_client_dir(st);
                                   const std::size_t first = cl >= 0 ? static_cast<std::size_t>(cl)
                                                                     : flow::index_of(conn_first_dir(st));
                                   return py::make_tuple(stream_object(c.st, first), stream_object(c.st, 1 - first));
                               })
        .def_property_readonly("midstream", [](PyConnection& c) { return conn_midstream(usable(c.st)); })
        .def_property_readonly("client_known", [](PyConnection& c) { return conn_client_dir(usable(c.st)) >= 0; })
        .def_property_readonly("released", [](PyConnection& c) { return !usable(c.st).alive(); })
        .def_property_readonly("closed", [](PyConnection& c) { return usable(c.st).closed_queued; })
        .def_property_readonly("stale", [](PyConnection& c) { return c.st->retired != retire_why::none; })
        // The endpoint's connections (Receiver(address=...), listen()):
        .def("send", &conn_send, py::arg("data"),
             "Endpoint connections: queues data (any bytes-like object) to send at the next poll(). Returns "
             "len(data), or 0 when it does not fit now (the peer's window, the initial congestion window, the "
             "send queue: send_room); all or nothing. rxinto.Error when the connection is not the endpoint's, is "
             "gone, or closed for sending.")
        .def_property_readonly("send_room", [](PyConnection& c) { return owner_of(c.st).send_room(*c.st); },
                               "Bytes send() would take now (0 for a watched connection).")
        .def_property_readonly("state", [](PyConnection& c) { return std::string(owner_of(c.st).state(*c.st)); },
                               "The endpoint's TCP state, as RFC 9293 names it ('ESTABLISHED', 'CLOSE-WAIT', "
                               "...); '' for a watched connection or one the endpoint released.")
        .def("close",
             [](PyConnection& c) {
                 auto st = owner_of(c.st).shutdown(*c.st, false);
                 if (!st) raise_error(st.error().message);
             },
             "Endpoint connections: a FIN after what was queued (half-close, as socket.shutdown(SHUT_WR)); "
             "receiving goes on until the peer closes.")
        .def("abort",
             [](PyConnection& c) {
                 auto st = owner_of(c.st).shutdown(*c.st, true);
                 if (!st) raise_error(st.error().message);
             },
             "Endpoint connections: a RST now; both directions end (rst).")
        .def("__repr__", [](PyConnection& c) {
            const conn_state& st = *c.st;
            std::string s = "<rxinto.Connection " + std::to_string(st.id) + " " + st.addr[0] + ":" +
                            std::to_string(st.key.port_a) + " <-> " + st.addr[1] + ":" + std::to_string(st.key.port_b);
            if (st.retired != retire_why::none) s += " (gone)";
            return s + ">";
        });

    py::class_<PyStream> stream(m, "Stream",
                                "One direction of a connection. recv_into() as socket.recv_into; the io.RawIOBase "
                                "protocol (readinto, read, readall, readline), so io.BufferedReader(stream) works.");
    stream
        .def("recv_into", &stream_recv_into, py::arg("buffer"), py::arg("nbytes") = 0,
             "Copies the next in-order bytes into buffer (any writable buffer), at most nbytes (0: len(buffer)) "
             "and never past the buffer; returns how many. 0 at a gap, at the end, or when nothing is there yet.")
        .def("readinto", &stream_readinto, py::arg("b"),
             "io.RawIOBase.readinto: bytes read; None if nothing yet; 0 at the end; GapError at a gap.")
        .def("read", &py_read, py::arg("size") = -1)
        .def("readall", &py_readall)
        .def("readline", &stream_readline, py::arg("size") = -1)
        .def(
            "peek",
            [](PyStream& s, std::size_t max_views) { return py_peek(s, max_views); },
            py::arg("max_views") = 64,
            "Read-only memoryviews of the next in-order bytes, straight from the packet buffers (zero copy), valid "
            "until the next poll(): then they are released (using one raises ValueError). Views derived from them "
            "(slices, numpy arrays) stay valid: the packet buffers stay pinned while they live.")
        .def("consume", &stream_consume_py, py::arg("n"), "Releases the first n readable bytes (after peek()); "
                                                           "returns how many.")
        .def("gap", [](PyStream& s) { return stream_state(s.use(), s.d).gap; },
             "Bytes missing at the read position (0: none).")
        .def("skip_gap", &stream_skip_gap_py, "Steps over the gap at the read position; returns its length.")
        .def_property_readonly("available", [](PyStream& s) { return stream_available(s.use(), s.d); },
                               "In-order bytes readable now (before the next gap).")
        .def_property_readonly("offset", [](PyStream& s) { return stream_counters(s.use(), s.d).offset; })
        .def_property_readonly("delivered", [](PyStream& s) { return stream_counters(s.use(), s.d).delivered; })
        .def_property_readonly("gap_bytes", [](PyStream& s) { return stream_counters(s.use(), s.d).gap_bytes; })
        .def_property_readonly("gap_count", [](PyStream& s) { return stream_counters(s.use(), s.d).gap_count; })
        .def_property_readonly("overlap_conflicts",
                               [](PyStream& s) { return stream_counters(s.use(), s.d).overlap_conflicts; })
        .def_property_readonly("held_bytes", [](PyStream& s) { return stream_held(s.use(), s.d); })
        .def_property_readonly("midstream", [](PyStream& s) { return stream_counters(s.use(), s.d).midstream; })
        .def_property_readonly("ended", [](PyStream& s) { return end_object(stream_counters(s.use(), s.d).ended); },
                               "None, or why the stream ended: 'fin', 'rst', 'timeout', 'evicted', 'eof'.")
        .def_property_readonly("finished", [](PyStream& s) { return stream_finished(s.use(), s.d); },
                               "Ended, and everything before the end was read.")
        .def_property_readonly("label", [](PyStream& s) { return label_of(usable(s.st), s.d); })
        .def_property_readonly("src", [](PyStream& s) { return usable(s.st).addr[s.d]; })
        .def_property_readonly("dst", [](PyStream& s) { return usable(s.st).addr[1 - s.d]; })
        .def_property_readonly("sport",
                               [](PyStream& s) { return s.d == 0 ? usable(s.st).key.port_a : usable(s.st).key.port_b; })
        .def_property_readonly("dport",
                               [](PyStream& s) { return s.d == 0 ? usable(s.st).key.port_b : usable(s.st).key.port_a; })
        .def_property_readonly("conn", [](PyStream& s) {
            usable(s.st);
            return connection_object(s.st);
        })
        // io.RawIOBase
        .def("readable", [](PyStream& s) { s.use(); return true; })
        .def("writable", [](PyStream& s) { s.use(); return false; })
        .def("seekable", [](PyStream& s) { s.use(); return false; })
        .def_property_readonly("closed",
                               [](PyStream& s) { return s.io_closed || s.st->retired != retire_why::none; })
        .def("close", [](PyStream& s) { s.io_closed = true; },
             "io semantics: this stream object reads no more (the connection is not affected).")
        .def("flush", [](PyStream& s) { s.use(); })
        .def("isatty", [](PyStream& s) { s.use(); return false; })
        .def("tell", [](PyStream& s) { return stream_counters(s.use(), s.d).offset; })
        .def("fileno", [](PyStream&) -> int { raise(g_unsupported, "fileno: a stream has no file descriptor"); })
        .def("write", [](PyStream&, py::handle) -> int { raise(g_unsupported, "write: a received stream"); })
        .def("seek", [](PyStream&, py::args) -> int { raise(g_unsupported, "seek: a stream is not seekable"); })
        .def("truncate", [](PyStream&, py::args) -> int { raise(g_unsupported, "truncate: a received stream"); })
        .def("readlines",
             [](PyStream& s, std::int64_t hint) {
                 py::list out;
                 std::int64_t total = 0;
                 for (;;) {
                     py::bytes l = stream_readline(s, -1);
                     const auto n = static_cast<std::int64_t>(PyBytes_GET_SIZE(l.ptr()));
                     if (n == 0) break;
                     out.append(l);
                     total += n;
                     if (hint > 0 && total >= hint) break;
                 }
                 return out;
             },
             py::arg("hint") = -1)
        .def("__iter__", [](py::object self) { return self; })
        .def("__next__",
             [](PyStream& s) {
                 py::bytes l = stream_readline(s, -1);
                 if (PyBytes_GET_SIZE(l.ptr()) == 0) throw py::stop_iteration();
                 return l;
             })
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](PyStream& s, py::args) { s.io_closed = true; })
        .def("__repr__", [](PyStream& s) {
            const conn_state& st = *s.st;
            std::string r = "<rxinto.Stream conn " + std::to_string(st.id) + " " + st.addr[s.d] + " -> " +
                            st.addr[1 - s.d];
            if (st.retired != retire_why::none) r += " (gone)";
            return r + ">";
        });
    py::module_::import("io").attr("RawIOBase").attr("register")(stream);

    py::class_<PyReceiver>(m, "Receiver",
                           "Receiver(config=None, pcap=None, vdev=None, **settings): DPDK ports polled on the calling "
                           "thread, TCP reassembled; every rxinto setting as a keyword (rxinto.settings()).")
        .def(py::init([](py::object config, py::object pcap, py::object vdev, py::kwargs kwargs) {
                 if (g_open_receiver != nullptr && !g_open_receiver->closed())
                     raise_error("another Receiver is open in this process: close it first (one Receiver at a "
                                 "time per process: DPDK's pool and device names are per process)");
                 auto r = std::make_unique<PyReceiver>(std::move(config), std::move(pcap), std::move(vdev),
                                                       std::move(kwargs));
                 g_open_receiver = r.get();
                 return r;
             }),
             py::arg("config") = py::none(), py::arg("pcap") = py::none(), py::arg("vdev") = py::none())
        .def("poll", &PyReceiver::poll, py::arg("timeout") = py::none(),
             "Runs the pipeline (GIL released) until there are events, the timeout passes (None: no timeout) or the "
             "input is over; returns the events (each connection and kind at most once).")
        .def("connections", &PyReceiver::connections, "Every connection not yet gone, by id.")
        .def("listen", &PyReceiver::listen, py::arg("port"),
             "Accepts TCP connections on port of the Receiver's own addresses (Receiver(vdev=..., "
             "address='10.0.0.2/24')): each arrives as an 'opened' event whose connection can send().")
        .def("close", &PyReceiver::close,
             "Releases every connection and packet buffer, the ports and the pool (the EAL stays: once per process).")
        .def_property_readonly("done", &PyReceiver::done,
                               "True once a replay ended (or the duration passed) and every 'closed' event was returned.")
        .def_property_readonly("closed", &PyReceiver::closed)
        .def_property_readonly("notes", &PyReceiver::notes)
        .def_property_readonly("mempool_in_use", &PyReceiver::mempool_in_use,
                               "Packet buffers out of the pool now (after close(): when it closed).")
        .def("stats", &PyReceiver::stats)
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](PyReceiver& r, py::args) { r.close(); });
}
