#include "protocol/executor_protocol.h"

#include <fmt/format.h>

#include <optional>
#include <utility>

#include "protocol/messages.h"

namespace wow::protocol {

using http::HttpStatus;

namespace {

// Ids appear in every log line's "[<id>] " prefix: without brackets, spaces
// or control characters there, the prefix ends at the line's first ']'.
bool ValidContainerId(std::string_view id) {
  if (id.empty() || id.size() > ExecutorProtocol::kMaxContainerIdBytes) return false;
  for (char ch : id) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '[' || c == ']') return false;
  }
  return true;
}

// /{container_id}/{op}: the id and the op, or nullopt.
std::optional<std::pair<std::string_view, std::string_view>> SplitTarget(std::string_view target) {
  size_t slash = target.size() > 1 ? target.find('/', 1) : std::string_view::npos;
  if (target.empty() || target[0] != '/' || slash == std::string_view::npos || slash == 1) return std::nullopt;
  return std::pair(target.substr(1, slash - 1), target.substr(slash + 1));
}

}  // namespace

http::HeaderVerdict ExecutorProtocol::CheckHeader(const http::Request& header) const {
  auto parts = SplitTarget(TargetPath(header));
  return HeaderVerdictFor(header, limits_, secret_, parts ? parts->second : "");
}

void ExecutorProtocol::Handle(http::Request&& request, http::Responder respond) {
  Replier reply = ReplierFor(request, respond);
  if (auto refused = CheckSecret(request, secret_)) return reply(std::move(*refused));
  // /{container_id}/{init|run|destroy}
  auto parts = SplitTarget(TargetPath(request));
  if (!parts) {
    return reply(
        {HttpStatus::not_found, http::JsonError("Not found: use POST /{container_id}/init, /run or /destroy.")});
  }
  std::string id(parts->first);
  if (!ValidContainerId(id)) {
    return reply({HttpStatus::bad_request,
                  http::JsonError(fmt::format("A container id is 1 to {} printable ASCII characters other than "
                                              "brackets and spaces.",
                                              kMaxContainerIdBytes))});
  }
  std::string_view op = parts->second;
  if (op != "init" && op != "run" && op != "destroy") {
    return reply(
        {HttpStatus::not_found, http::JsonError("Not found: use POST /{container_id}/init, /run or /destroy.")});
  }
  if (request.method() != http::Verb::post) {
    return reply({HttpStatus::method_not_allowed, http::JsonError("Use POST.")});
  }

  if (op == "init") {
    executor::InitRequest init_request;
    if (auto error = ParseInitBody(request.body(), init_request)) return reply(std::move(*error));
    executor_.InitAsync(
        std::move(id), std::move(init_request),
        [reply](Result<std::shared_ptr<const executor::Container>> result) { reply(InitReply(result)); });
    return;
  }
  if (op == "destroy") {
    if (!executor_.Destroy(id)) {
      return reply({HttpStatus::not_found, http::JsonError(fmt::format("The container {} does not exist.", id))});
    }
    return reply({HttpStatus::ok, R"({"ok":true})"});
  }

  auto container = executor_.Find(id);
  if (container == nullptr) {
    return reply({HttpStatus::not_found, http::JsonError(fmt::format("The container {} does not exist.", id))});
  }
  executor::RunRequest run_request;
  if (auto error = ParseRunBody(request.body(), run_request)) return reply(std::move(*error));
  executor_.Run(std::move(container), std::move(run_request),
                [this, reply, prefix = "[" + id + "] "](Result<abi::ActivationResult> result) {
                  if (result.ok()) logs_.Write(result->logs, prefix, false);
                  reply(RunReply(result));
                });
}

}  // namespace wow::protocol
