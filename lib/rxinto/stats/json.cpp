#include "rxinto/stats/json.hpp"

#include <cmath>
#include <cstdio>

namespace rxinto::stats {

namespace {

/// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 §4: no overlong
/// forms, no surrogates, nothing above U+10FFFF), or 0 when s[i] does not start one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return i + k < s.size() && b(k) >= lo && b(k) <= hi;
    };
    const unsigned c = b(0);
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;            // no overlong
    if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;      // no surrogates
    if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;  // no overlong
    if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;  // <= U+10FFFF
    return 0;  // 0x80..0xC1 (continuation or overlong lead), 0xF5..0xFF
}

}  // namespace

std::string JsonWriter::escape(std::string_view s) {
    // JSON text is UTF-8 (RFC 8259 §8.1), but what we are given often is not:
    // file names on Linux are any bytes but '/' and NUL. Each byte that is not
    // part of a well-formed UTF-8 sequence becomes U+FFFD (written "\ufffd"),
    // so the output always parses; well-formed sequences pass through as they
    // are. Lossy by design: the text summary prints such paths byte for byte.
    std::string o;
    o.reserve(s.size() + 2);
    o.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t n = utf8_sequence(s, i);
        if (n == 0) {
            o += "\\ufffd";
            ++i;
            continue;
        }
        if (n > 1) {
            o.append(s.substr(i, n));
            i += n;
            continue;
        }
        ++i;
        switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\n': o += "\\n"; break;
        case '\r': o += "\\r"; break;
        case '\t': o += "\\t"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                o += buf;
            } else {
                o.push_back(static_cast<char>(c));
            }
        }
    }
    o.push_back('"');
    return o;
}

void JsonWriter::key(std::string_view k) {
    if (!first_.empty()) {
        if (!first_.back()) out_.push_back(',');
        first_.back() = false;
    }
    if (!k.empty()) {
        out_ += escape(k);
        out_.push_back(':');
    }
}

JsonWriter& JsonWriter::begin_object(std::string_view k) {
    key(k);
    out_.push_back('{');
    first_.push_back(true);
    return *this;
}
JsonWriter& JsonWriter::end_object() {
    out_.push_back('}');
    first_.pop_back();
    return *this;
}
JsonWriter& JsonWriter::begin_array(std::string_view k) {
    key(k);
    out_.push_back('[');
    first_.push_back(true);
    return *this;
}
JsonWriter& JsonWriter::end_array() {
    out_.push_back(']');
    first_.pop_back();
    return *this;
}
JsonWriter& JsonWriter::value(std::string_view k, std::string_view v) {
    key(k);
    out_ += escape(v);
    return *this;
}
JsonWriter& JsonWriter::value(std::string_view k, std::uint64_t v) {
    key(k);
    out_ += std::to_string(v);
    return *this;
}
JsonWriter& JsonWriter::value(std::string_view k, double v) {
    key(k);
    if (!std::isfinite(v)) {
        out_ += "null";  // JSON has no NaN/Inf
        return *this;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    out_ += buf;
    return *this;
}
JsonWriter& JsonWriter::value(std::string_view k, bool v) {
    key(k);
    out_ += v ? "true" : "false";
    return *this;
}

JsonWriter& JsonWriter::null_value(std::string_view k) {
    key(k);
    out_ += "null";
    return *this;
}

}  // namespace rxinto::stats
