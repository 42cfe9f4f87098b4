#pragma once

#include <string>
#include <utility>

#include "executor/executor.h"
#include "http/server.h"
#include "protocol/action_logs.h"
#include "protocol/messages.h"

namespace wow::protocol {

// WOW's executor protocol (`wow executor`), what an OpenWhisk invoker with
// WOW's Wasm container factory sends: POST /{container_id}/init,
// /{container_id}/run and /{container_id}/destroy, for many containers and
// many concurrent runs each. Bodies and answers follow the action-runtime
// protocol (messages.h). Activation logs go to this process's stdout and
// stderr, each line prefixed with "[<container_id>] " (framed as
// ActionLogWriter::Write says).
class ExecutorProtocol {
 public:
  // A non-empty `secret` must come with every request (CheckSecret), else 401.
  ExecutorProtocol(executor::Executor& executor, ActionLogWriter& logs, BodyLimits limits = {},
                   std::string secret = {})
      : executor_(executor), logs_(logs), limits_(limits), secret_(std::move(secret)) {}

  // An http::Handler.
  void Handle(http::Request&& request, http::Responder respond);

  // The longest container id accepted (bytes); longer ones, and ids holding
  // brackets, spaces or control characters, are answered 400.
  static constexpr size_t kMaxContainerIdBytes = 256;

  // An http::HeaderCheck: the body limit of the request's route (`limits`).
  http::HeaderVerdict CheckHeader(const http::Request& header) const;

 private:
  executor::Executor& executor_;
  ActionLogWriter& logs_;
  const BodyLimits limits_;
  std::string secret_;
};

}  // namespace wow::protocol
