#include "common/json.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

namespace wow {

// Deep enough for real documents (the guest SDK allows 512 too); the parser
// itself keeps its own stack, so depth costs no native stack.
constexpr size_t kMaxJsonDepth = 512;

namespace {

// Numbers such as 1e999999 parse as infinity, which JSON cannot carry on.
bool AllNumbersFinite(const boost::json::value& root) {
  std::vector<const boost::json::value*> pending{&root};
  while (!pending.empty()) {
    const boost::json::value* v = pending.back();
    pending.pop_back();
    if (v->is_double() && !std::isfinite(v->get_double())) return false;
    if (const auto* a = v->if_array()) {
      for (const auto& e : *a) pending.push_back(&e);
    } else if (const auto* o = v->if_object()) {
      for (const auto& kv : *o) pending.push_back(&kv.value());
    }
  }
  return true;
}

}  // namespace

Result<boost::json::value> ParseJson(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::json::stream_parser parser({}, options);
  boost::system::error_code ec;
  size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec && consumed == text.size()) parser.finish(ec);
  if (!ec && !parser.done()) parser.finish(ec);
  if (!ec && consumed < text.size()) {
    // Only whitespace may follow the value.
    for (size_t i = consumed; i < text.size(); ++i) {
      char c = text[i];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
        return Status::InvalidArgument(fmt::format("malformed JSON: unexpected data after the value at offset {}", i));
      }
    }
  }
  if (ec) {
    return Status::InvalidArgument(fmt::format("malformed JSON: {} (at offset {})", ec.message(), consumed));
  }
  boost::json::value value = parser.release();
  if (!AllNumbersFinite(value)) {
    return Status::InvalidArgument("malformed JSON: a number is too large to represent (JSON has no infinity)");
  }
  return value;
}

std::string ToJson(const boost::json::value& value) { return boost::json::serialize(value); }

std::optional<uint64_t> WholeNumber(const boost::json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64() && v.get_int64() >= 0) return static_cast<uint64_t>(v.get_int64());
  if (v.is_double()) {
    double d = v.get_double();
    if (d >= 0 && d < 1.8e19 && std::floor(d) == d) return static_cast<uint64_t>(d);
  }
  return std::nullopt;
}

boost::json::value ParseParamValue(std::string_view text) {
  auto parsed = ParseJson(text);
  if (parsed.ok()) return std::move(parsed).value();
  return boost::json::value(boost::json::string(text));
}

}  // namespace wow
