// A minimal JSON writer for the stats summary.
//
// Written here rather than pulled in (jansson is in Debian) because rxinto only
// ever writes a few flat objects: a string escaper and comma bookkeeping are
// all it takes, and the output stays byte-for-byte predictable for tests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rxinto::stats {

class JsonWriter {
public:
    JsonWriter& begin_object(std::string_view key = {});
    JsonWriter& end_object();
    JsonWriter& begin_array(std::string_view key = {});
    JsonWriter& end_array();
    JsonWriter& value(std::string_view key, std::string_view v);
    JsonWriter& value(std::string_view key, const char* v) { return value(key, std::string_view(v)); }
    JsonWriter& value(std::string_view key, std::uint64_t v);
    JsonWriter& value(std::string_view key, double v);
    JsonWriter& value(std::string_view key, bool v);
    JsonWriter& null_value(std::string_view key);
    /// Array elements (no key).
    JsonWriter& element(std::string_view v) { return value({}, v); }
    JsonWriter& element(std::uint64_t v) { return value({}, v); }

    [[nodiscard]] const std::string& str() const noexcept { return out_; }

    static std::string escape(std::string_view s);

private:
    void key(std::string_view k);
    std::string out_;
    std::vector<bool> first_;  // per open container: no element written yet
};

}  // namespace rxinto::stats
