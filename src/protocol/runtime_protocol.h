#pragma once

#include <string>
#include <utility>

#include "executor/executor.h"
#include "http/server.h"
#include "protocol/action_logs.h"
#include "protocol/messages.h"

namespace wow::protocol {

// OpenWhisk's action-runtime protocol for one action, as the runtime images
// speak it (`wow proxy`): POST /init once, then POST /run per activation.
// After every /run the action's stdout and stderr lines and the
// end-of-activation sentinel go to this process's stdout and stderr.
class RuntimeProtocol {
 public:
  // A non-empty `secret` must come with every request (CheckSecret), else 401.
  RuntimeProtocol(executor::Executor& executor, ActionLogWriter& logs, BodyLimits limits = {},
                  std::string secret = {})
      : executor_(executor), logs_(logs), limits_(limits), secret_(std::move(secret)) {}

  // An http::Handler.
  void Handle(http::Request&& request, http::Responder respond);

  // An http::HeaderCheck: the body limit of the request's route (`limits`).
  http::HeaderVerdict CheckHeader(const http::Request& header) const;

  // The executor container id that holds the proxy's action.
  static constexpr char kContainerId[] = "action";

 private:
  executor::Executor& executor_;
  ActionLogWriter& logs_;
  const BodyLimits limits_;
  std::string secret_;
};

}  // namespace wow::protocol
