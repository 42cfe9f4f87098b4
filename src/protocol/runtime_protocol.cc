#include "protocol/runtime_protocol.h"

#include "protocol/messages.h"

namespace wow::protocol {

using http::HttpStatus;

http::HeaderVerdict RuntimeProtocol::CheckHeader(const http::Request& header) const {
  std::string_view target = TargetPath(header);
  return HeaderVerdictFor(header, limits_, secret_, target == "/init" ? "init" : target == "/run" ? "run" : "");
}

void RuntimeProtocol::Handle(http::Request&& request, http::Responder respond) {
  Replier reply = ReplierFor(request, respond);
  if (auto refused = CheckSecret(request, secret_)) return reply(std::move(*refused));
  std::string_view target = TargetPath(request);
  bool init = target == "/init";
  bool run = target == "/run";
  if (!init && !run) return reply({HttpStatus::not_found, http::JsonError("Not found: use POST /init or /run.")});
  if (request.method() != http::Verb::post) {
    return reply({HttpStatus::method_not_allowed, http::JsonError("Use POST.")});
  }

  if (init) {
    executor::InitRequest init_request;
    if (auto error = ParseInitBody(request.body(), init_request)) return reply(std::move(*error));
    executor_.InitAsync(kContainerId, std::move(init_request),
                        [this, reply](Result<std::shared_ptr<const executor::Container>> result) {
                          bool twice = !result.ok() && result.status().code() == Code::kAlreadyExists;
                          // A failed init ends like an activation, so a log collector waiting for the
                          // sentinel is not left hanging; a refused second init does not.
                          if (!result.ok() && !twice) logs_.Write({}, "", true);
                          reply(InitReply(result));
                        });
    return;
  }

  auto container = executor_.Find(kContainerId);
  if (container == nullptr) {
    return reply({HttpStatus::forbidden, http::JsonError("The action has not been initialized yet.")});
  }
  executor::RunRequest run_request;
  if (auto error = ParseRunBody(request.body(), run_request)) return reply(std::move(*error));
  executor_.Run(std::move(container), std::move(run_request), [this, reply](Result<abi::ActivationResult> result) {
    if (result.ok()) logs_.Write(result->logs, "", true);  // a refused run was no activation
    reply(RunReply(result));
  });
}

}  // namespace wow::protocol
