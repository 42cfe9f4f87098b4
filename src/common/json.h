#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace wow {

// Parses `text` as one JSON value; a malformed text yields kInvalidArgument
// with the parser's reason and byte offset.
Result<boost::json::value> ParseJson(std::string_view text);

// Serialises compactly (no spaces), as OpenWhisk clients expect.
std::string ToJson(const boost::json::value& value);

// The value of `wsk -p KEY VALUE`: VALUE as JSON when it parses, else as a string.
boost::json::value ParseParamValue(std::string_view text);

// A JSON number that is a whole, non-negative value (1, 1.0), else nullopt.
std::optional<uint64_t> WholeNumber(const boost::json::value& v);

}  // namespace wow
