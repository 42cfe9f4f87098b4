#include "common/json.h"

#include <fmt/format.h>

namespace wow {

// Deep enough for real documents (the guest SDK allows 512 too); the parser
// itself keeps its own stack, so depth costs no native stack.
constexpr size_t kMaxJsonDepth = 512;

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
  return parser.release();
}

std::string ToJson(const boost::json::value& value) { return boost::json::serialize(value); }

boost::json::value ParseParamValue(std::string_view text) {
  auto parsed = ParseJson(text);
  if (parsed.ok()) return std::move(parsed).value();
  return boost::json::value(boost::json::string(text));
}

}  // namespace wow
