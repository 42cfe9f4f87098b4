#pragma once

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace wow::cli {

// What an empty stdin (`-P -` with nothing piped in) means.
enum class EmptyStdin {
  kNoParameters,  // `{}`, as the native example builds read it (`wow run`)
  kMalformed,     // malformed JSON, like any other empty file (`wow action`)
};

// An action's parameters from the command line, as `wsk` builds them: the
// JSON object files of `-P` in order (`-` reads stdin), then the `-p KEY
// VALUE` pairs (VALUE as JSON when it parses, else a string); later keys win.
Result<boost::json::object> MergeParams(const std::vector<std::string>& files,
                                        const std::vector<std::pair<std::string, std::string>>& pairs,
                                        EmptyStdin empty_stdin);

}  // namespace wow::cli
