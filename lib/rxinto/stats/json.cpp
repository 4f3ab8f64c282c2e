#include "rxinto/stats/json.hpp"

#include <cmath>
#include <cstdio>

namespace rxinto::stats {

std::string JsonWriter::escape(std::string_view s) {
    std::string o;
    o.reserve(s.size() + 2);
    o.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
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
                o.push_back(ch);
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
