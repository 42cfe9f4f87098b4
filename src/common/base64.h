#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace wow {

std::string Base64Encode(std::string_view bytes);
// Accepts standard base64 with or without padding, ignoring whitespace;
// anything else is kInvalidArgument.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace wow
