#pragma once

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
  RuntimeProtocol(executor::Executor& executor, ActionLogWriter& logs, BodyLimits limits = {})
      : executor_(executor), logs_(logs), limits_(limits) {}

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
};

}  // namespace wow::protocol
