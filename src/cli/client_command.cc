#include "cli/client_command.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <filesystem>
#include <tuple>

#include "cli/commands.h"
#include "cli/params.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "http/client.h"

namespace wow::cli {

namespace json = boost::json;

namespace {

// Connecting must not take long; a blocking invocation may (OpenWhisk waits up
// to 60 s for the result, then answers 202).
constexpr std::chrono::seconds kConnectTimeout{30};
constexpr std::chrono::seconds kRequestTimeout{120};
constexpr std::chrono::seconds kInvokeTimeout{330};

bool HasSuffixNoCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    char c = s[s.size() - suffix.size() + i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != suffix[i]) return false;
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

json::array KeyValues(const json::object& object) {
  json::array array;
  for (const auto& [k, v] : object) array.push_back(json::object{{"key", k}, {"value", v}});
  return array;
}

void PrettyTo(const json::value& v, int indent, std::string& out) {
  auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<size_t>(level) * 2, ' ');
  };
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (const auto& [k, value] : o) {
      if (!first) out += ',';
      first = false;
      newline(indent + 1);
      out += json::serialize(json::string(k));
      out += ": ";
      PrettyTo(value, indent + 1, out);
    }
    newline(indent);
    out += '}';
  } else if (v.is_array()) {
    const auto& a = v.as_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const auto& value : a) {
      if (!first) out += ',';
      first = false;
      newline(indent + 1);
      PrettyTo(value, indent + 1, out);
    }
    newline(indent);
    out += ']';
  } else if (v.is_double()) {
    out += fmt::format("{}", v.as_double());  // shortest form: 1.5, not 1.5E0
  } else {
    out += json::serialize(v);
  }
}

std::string StringField(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return {};
  if (it->value().is_string()) return std::string(it->value().as_string());
  return json::serialize(it->value());
}

std::optional<int64_t> IntField(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<int64_t>(it->value().as_uint64());
  if (it->value().is_double()) return static_cast<int64_t>(it->value().as_double());
  return std::nullopt;
}

std::string FormatStart(std::optional<int64_t> ms) {
  if (!ms) return std::string(19, '-');
  std::time_t seconds = static_cast<std::time_t>(*ms / 1000);
  std::tm tm{};
  if (localtime_r(&seconds, &tm) == nullptr) return std::string(19, '-');
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// ---- talking to the API

struct Reply {
  unsigned status = 0;
  std::string body;
  std::optional<json::value> json;  // the body, when it parses
};

class Query {
 public:
  Query& Add(std::string_view key, std::string_view value) {
    text_ += text_.empty() ? '?' : '&';
    text_ += PercentEncode(key);
    text_ += '=';
    text_ += PercentEncode(value, "/:@");
    return *this;
  }
  Query& Add(std::string_view key, bool value) { return Add(key, std::string_view(value ? "true" : "false")); }
  Query& Add(std::string_view key, uint64_t value) { return Add(key, std::string_view(std::to_string(value))); }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

Result<Reply> Call(const ClientConfig& config, http::Verb verb, const std::string& target, std::string body = {},
                   std::chrono::seconds timeout = kRequestTimeout) {
  WOW_ASSIGN_OR_RETURN(http::Client client,
                       http::Client::Connect(config.apihost.host, config.apihost.port, kConnectTimeout));
  client.set_timeout(timeout);
  http::Headers headers = {
      {"Authorization", "Basic " + Base64Encode(config.auth)}, {"Accept", "application/json"}, {"Connection", "close"}};
  WOW_ASSIGN_OR_RETURN(http::Response response,
                       client.Send(verb, target, std::move(body), "application/json", headers));
  Reply reply;
  reply.status = response.result_int();
  reply.body = std::move(response.body());
  auto parsed = ParseJson(reply.body);
  if (parsed.ok()) reply.json = std::move(parsed).value();
  return reply;
}

std::string ApiBase(const ApiHost& api) { return api.base_path + "/api/v1/namespaces/"; }

// "<error> (code <code>)" from OpenWhisk's {"error","code"} body, else the body itself.
std::string ServerMessage(const Reply& reply) {
  std::string message;
  if (reply.json && reply.json->is_object()) {
    const auto& o = reply.json->as_object();
    message = StringField(o, "error");
    std::string code = StringField(o, "code");
    if (!message.empty() && !code.empty()) message += " (code " + code + ")";
  }
  if (message.empty()) {
    std::string_view body = reply.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.remove_suffix(1);
    message = body.size() > 500 ? std::string(body.substr(0, 500)) + "..." : std::string(body);
  }
  if (message.empty()) message = "no message";
  return fmt::format("{} [HTTP {}]", message, reply.status);
}

int ReportServerError(ClientIo io, std::string_view command, std::string_view what, const Reply& reply) {
  fmt::print(io.err, "wow {}: {}: {}\n", command, what, ServerMessage(reply));
  return kExitFailed;
}

// The request never got an answer (cannot resolve, connect, send or read); the status names the host.
int ReportCallError(ClientIo io, std::string_view command, const Status& status) {
  fmt::print(io.err, "wow {}: {}\n", command, status.ToString());
  return kExitFailed;
}

// The configuration, or a usage error printed.
std::optional<ClientConfig> LoadConfig(const ClientFlags& flags, std::string_view command, ClientIo io) {
  std::filesystem::path path = flags.props_path.empty() ? WskPropsPath() : flags.props_path;
  auto props = ReadWskProps(path);
  if (!props.ok()) {
    fmt::print(io.err, "wow {}: {}\n", command, props.status().WithContext(path.string()).ToString());
    return std::nullopt;
  }
  auto config = ResolveClientConfig(flags.apihost, flags.auth, *props, path);
  if (!config.ok()) {
    fmt::print(io.err, "wow {}: {}\n", command, config.status().ToString());
    return std::nullopt;
  }
  return std::move(config).value();
}

void PrintJsonOrBody(ClientIo io, const Reply& reply) {
  if (reply.json) {
    fmt::print(io.out, "{}", PrettyJson(*reply.json));
  } else {
    fmt::print(io.out, "{}{}", reply.body, reply.body.empty() || reply.body.back() == '\n' ? "" : "\n");
  }
}

const char* ActionCommandName(ActionFlags::Verb verb) {
  switch (verb) {
    case ActionFlags::Verb::kCreate: return "action create";
    case ActionFlags::Verb::kUpdate: return "action update";
    case ActionFlags::Verb::kGet: return "action get";
    case ActionFlags::Verb::kList: return "action list";
    case ActionFlags::Verb::kDelete: return "action delete";
    case ActionFlags::Verb::kInvoke: return "action invoke";
  }
  return "action";
}

const char* ActivationCommandName(ActivationFlags::Verb verb) {
  switch (verb) {
    case ActivationFlags::Verb::kList: return "activation list";
    case ActivationFlags::Verb::kGet: return "activation get";
    case ActivationFlags::Verb::kLogs: return "activation logs";
    case ActivationFlags::Verb::kResult: return "activation result";
  }
  return "activation";
}

int ActionList(const ActionFlags& flags, const ClientConfig& config, const char* command, ClientIo io) {
  std::string ns = config.namespace_;
  if (!flags.name.empty()) {
    std::string_view given = flags.name;
    if (given.front() == '/') given.remove_prefix(1);
    if (given.empty() || given.find('/') != std::string_view::npos) {
      fmt::print(io.err, "wow {}: '{}' is not a namespace (expected /NAMESPACE)\n", command, flags.name);
      return kExitUsage;
    }
    ns = std::string(given);
  }
  std::string target = ApiBase(config.apihost) + PercentEncode(ns) + "/actions" +
                       Query().Add("limit", flags.limit.value_or(30)).Add("skip", flags.skip.value_or(0)).str();
  auto reply = Call(config, http::Verb::get, target);
  if (!reply.ok()) return ReportCallError(io, command, reply.status());
  if (reply->status != 200) return ReportServerError(io, command, "cannot list actions of /" + ns, *reply);
  if (!reply->json) {
    fmt::print(io.err, "wow {}: the server's answer is not JSON: {}\n", command, reply->body);
    return kExitFailed;
  }
  fmt::print(io.out, "{}", FormatActionList(*reply->json));
  return kExitOk;
}

int ActionInvoke(const ActionFlags& flags, const ClientConfig& config, const EntityName& entity, const char* command,
                 ClientIo io) {
  auto params = BuildInvokeParams(flags);
  if (!params.ok()) {
    fmt::print(io.err, "wow {}: {}\n", command, params.status().ToString());
    return kExitUsage;
  }
  bool blocking = flags.blocking || flags.result;
  std::string target =
      ActionTarget(config.apihost, entity) + Query().Add("blocking", blocking).Add("result", flags.result).str();
  auto reply = Call(config, http::Verb::post, target, ToJson(*params), kInvokeTimeout);
  if (!reply.ok()) return ReportCallError(io, command, reply.status());
  switch (reply->status) {
    case 200: PrintJsonOrBody(io, *reply); return kExitOk;
    case 202: {
      std::string id;
      if (reply->json && reply->json->is_object()) id = StringField(reply->json->as_object(), "activationId");
      if (id.empty()) {
        fmt::print(io.err, "wow {}: accepted, but the answer carries no activation id: {}\n", command, reply->body);
        return kExitFailed;
      }
      fmt::print(io.out, "ok: invoked {} with id {}\n", entity.qualified(), id);
      return kExitOk;
    }
    case 502:  // the action failed: the activation (or, with --result, its error result)
      PrintJsonOrBody(io, *reply);
      return kExitFailed;
    default: return ReportServerError(io, command, "cannot invoke " + entity.qualified(), *reply);
  }
}

}  // namespace

// ---- pure parts

Result<EntityName> ParseEntityName(std::string_view text, std::string_view default_namespace) {
  auto fail = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a valid entity name (expected NAME, PACKAGE/NAME, /NAMESPACE/NAME or "
                                   "/NAMESPACE/PACKAGE/NAME)");
  };
  bool qualified = !text.empty() && text.front() == '/';
  std::string_view rest = qualified ? text.substr(1) : text;
  std::vector<std::string> parts;
  while (true) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part.empty()) return fail();
    parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  EntityName entity;
  entity.namespace_ = std::string(default_namespace.empty() ? "_" : default_namespace);
  if (qualified) {
    if (parts.size() < 2 || parts.size() > 3) return fail();
    entity.namespace_ = parts[0];
    parts.erase(parts.begin());
  } else if (parts.size() > 2) {
    return fail();
  }
  entity.name = parts.back();
  if (parts.size() == 2) entity.package = parts[0];
  return entity;
}

std::string PercentEncode(std::string_view text, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved || keep.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string ActionTarget(const ApiHost& api, const EntityName& entity) {
  std::string target = ApiBase(api) + PercentEncode(entity.namespace_) + "/actions/";
  if (!entity.package.empty()) target += PercentEncode(entity.package) + "/";
  return target + PercentEncode(entity.name);
}

json::object ExecFromFile(std::string_view path, std::string_view bytes, std::string_view kind, std::string_view main) {
  bool binary = HasSuffixNoCase(path, ".wasm") || HasSuffixNoCase(path, ".zip") ||
                bytes.substr(0, 4) == std::string_view("\0asm", 4) || !IsValidUtf8(bytes);
  json::object exec;
  exec["kind"] = kind;
  exec["code"] = binary ? Base64Encode(bytes) : std::string(bytes);
  exec["binary"] = binary;
  if (!main.empty()) exec["main"] = main;
  return exec;
}

Result<json::object> BuildActionBody(const ActionFlags& flags, const EntityName& entity) {
  bool update = flags.verb == ActionFlags::Verb::kUpdate;
  json::object body;
  // As in OpenWhisk's documents, a packaged action's namespace is "ns/pkg".
  body["namespace"] = entity.package.empty() ? entity.namespace_ : entity.namespace_ + "/" + entity.package;
  body["name"] = entity.name;
  if (!flags.file.empty()) {
    WOW_ASSIGN_OR_RETURN(std::string bytes, ReadFile(flags.file));
    body["exec"] = ExecFromFile(flags.file, bytes, flags.kind, flags.main);
  } else if (!update) {
    return Status::InvalidArgument("an action needs its code: FILE is missing");
  } else if (!flags.main.empty()) {
    return Status::InvalidArgument("--main needs FILE");
  }
  WOW_ASSIGN_OR_RETURN(json::object params, MergeParams(flags.param_files, flags.params, EmptyStdin::kMalformed));
  if (!update || !params.empty()) body["parameters"] = KeyValues(params);
  json::object annotations;
  for (const auto& [key, value] : flags.annotations) annotations[key] = ParseParamValue(value);
  if (!update || !annotations.empty()) body["annotations"] = KeyValues(annotations);
  json::object limits;
  if (flags.timeout_ms) limits["timeout"] = *flags.timeout_ms;
  if (flags.memory_mb) limits["memory"] = *flags.memory_mb;
  if (flags.logsize_mb) limits["logs"] = *flags.logsize_mb;
  if (flags.concurrency) limits["concurrency"] = *flags.concurrency;
  if (!limits.empty()) body["limits"] = std::move(limits);
  return body;
}

Result<json::object> BuildInvokeParams(const ActionFlags& flags) {
  return MergeParams(flags.param_files, flags.params, EmptyStdin::kMalformed);
}

std::string PrettyJson(const json::value& value) {
  std::string out;
  PrettyTo(value, 0, out);
  out += '\n';
  return out;
}

std::string FormatActionList(const json::value& actions) {
  if (!actions.is_array()) return PrettyJson(actions);
  struct Row {
    std::string name, visibility, kind;
  };
  std::vector<Row> rows;
  size_t width = 0;
  for (const auto& item : actions.as_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.as_object();
    Row row;
    row.name = "/" + StringField(o, "namespace") + "/" + StringField(o, "name");
    auto publish = o.find("publish");
    row.visibility = publish != o.end() && publish->value() == true ? "shared" : "private";
    if (auto exec = o.find("exec"); exec != o.end() && exec->value().is_object()) {
      row.kind = StringField(exec->value().as_object(), "kind");
    }
    if (auto ann = o.find("annotations"); row.kind.empty() && ann != o.end() && ann->value().is_array()) {
      for (const auto& kv : ann->value().as_array()) {
        if (kv.is_object() && StringField(kv.as_object(), "key") == "exec")
          row.kind = StringField(kv.as_object(), "value");
      }
    }
    width = std::max(width, row.name.size());
    rows.push_back(std::move(row));
  }
  std::string out = "actions\n";
  for (const auto& row : rows) {
    std::string line = fmt::format("{:<{}}  {:<7}  {}", row.name, width, row.visibility, row.kind);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string ActivationStatusText(const json::object& activation) {
  auto response = activation.find("response");
  const json::object* r =
      response != activation.end() && response->value().is_object() ? &response->value().as_object() : nullptr;
  if (r != nullptr) {
    std::string status = StringField(*r, "status");
    if (!status.empty()) return status;
  }
  std::optional<int64_t> code = IntField(activation, "statusCode");
  if (!code && r != nullptr) code = IntField(*r, "statusCode");
  if (!code) return {};
  switch (*code) {
    case 0: return "success";
    case 1: return "application error";
    case 2: return "action developer error";
    case 3: return "whisk internal error";
    default: return fmt::format("status {}", *code);
  }
}

std::string FormatActivationList(const json::value& activations) {
  if (!activations.is_array()) return PrettyJson(activations);
  struct Row {
    std::string start, id, name, status;
  };
  std::vector<Row> rows;
  size_t id_width = 0, name_width = 0;
  for (const auto& item : activations.as_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.as_object();
    Row row{FormatStart(IntField(o, "start")), StringField(o, "activationId"), StringField(o, "name"),
            ActivationStatusText(o)};
    if (row.status.empty()) row.status = "-";
    id_width = std::max(id_width, row.id.size());
    name_width = std::max(name_width, row.name.size());
    rows.push_back(std::move(row));
  }
  std::string out = "activations\n";
  for (const auto& row : rows) {
    out += fmt::format("{} {:<{}}  {:<{}}  {}\n", row.start, row.id, id_width, row.name, name_width, row.status);
  }
  return out;
}

// ---- the commands

int RunAction(const ActionFlags& flags, ClientIo io) {
  const char* command = ActionCommandName(flags.verb);
  auto config = LoadConfig(flags.client, command, io);
  if (!config) return kExitUsage;
  if (flags.verb == ActionFlags::Verb::kList) return ActionList(flags, *config, command, io);

  auto entity = ParseEntityName(flags.name, config->namespace_);
  if (!entity.ok()) {
    fmt::print(io.err, "wow {}: {}\n", command, entity.status().ToString());
    return kExitUsage;
  }
  std::string target = ActionTarget(config->apihost, *entity);
  switch (flags.verb) {
    case ActionFlags::Verb::kCreate:
    case ActionFlags::Verb::kUpdate: {
      bool update = flags.verb == ActionFlags::Verb::kUpdate;
      auto body = BuildActionBody(flags, *entity);
      if (!body.ok()) {
        fmt::print(io.err, "wow {}: {}\n", command, body.status().ToString());
        return kExitUsage;
      }
      auto reply = Call(*config, http::Verb::put, target + Query().Add("overwrite", update).str(), ToJson(*body));
      if (!reply.ok()) return ReportCallError(io, command, reply.status());
      if (reply->status != 200) {
        return ReportServerError(io, command,
                                 fmt::format("cannot {} action {}", update ? "update" : "create", flags.name), *reply);
      }
      fmt::print(io.out, "ok: {} action {}\n", update ? "updated" : "created", flags.name);
      return kExitOk;
    }
    case ActionFlags::Verb::kGet: {
      auto reply = Call(*config, http::Verb::get, target + Query().Add("code", flags.code).str());
      if (!reply.ok()) return ReportCallError(io, command, reply.status());
      if (reply->status != 200) return ReportServerError(io, command, "cannot get action " + flags.name, *reply);
      PrintJsonOrBody(io, *reply);
      return kExitOk;
    }
    case ActionFlags::Verb::kDelete: {
      auto reply = Call(*config, http::Verb::delete_, target);
      if (!reply.ok()) return ReportCallError(io, command, reply.status());
      if (reply->status != 200) return ReportServerError(io, command, "cannot delete action " + flags.name, *reply);
      fmt::print(io.out, "ok: deleted action {}\n", flags.name);
      return kExitOk;
    }
    case ActionFlags::Verb::kInvoke: return ActionInvoke(flags, *config, *entity, command, io);
    case ActionFlags::Verb::kList: break;
  }
  return kExitUsage;
}

int RunActivation(const ActivationFlags& flags, ClientIo io) {
  const char* command = ActivationCommandName(flags.verb);
  auto config = LoadConfig(flags.client, command, io);
  if (!config) return kExitUsage;
  std::string base = ApiBase(config->apihost);

  if (flags.verb == ActivationFlags::Verb::kList) {
    std::string ns = config->namespace_;
    Query query;
    if (!flags.name_or_id.empty()) {
      auto entity = ParseEntityName(flags.name_or_id, config->namespace_);
      if (!entity.ok()) {
        fmt::print(io.err, "wow {}: {}\n", command, entity.status().ToString());
        return kExitUsage;
      }
      ns = entity->namespace_;
      query.Add("name", entity->path());
    }
    query.Add("limit", flags.limit.value_or(30)).Add("skip", flags.skip.value_or(0));
    if (flags.since_ms) query.Add("since", *flags.since_ms);
    if (flags.upto_ms) query.Add("upto", *flags.upto_ms);
    auto reply = Call(*config, http::Verb::get, base + PercentEncode(ns) + "/activations" + query.str());
    if (!reply.ok()) return ReportCallError(io, command, reply.status());
    if (reply->status != 200) return ReportServerError(io, command, "cannot list activations of /" + ns, *reply);
    if (!reply->json) {
      fmt::print(io.err, "wow {}: the server's answer is not JSON: {}\n", command, reply->body);
      return kExitFailed;
    }
    fmt::print(io.out, "{}", FormatActivationList(*reply->json));
    return kExitOk;
  }

  if (flags.name_or_id.empty()) {
    fmt::print(io.err, "wow {}: an activation id is required\n", command);
    return kExitUsage;
  }
  std::string target = base + PercentEncode(config->namespace_) + "/activations/" + PercentEncode(flags.name_or_id);
  if (flags.verb == ActivationFlags::Verb::kLogs) target += "/logs";
  if (flags.verb == ActivationFlags::Verb::kResult) target += "/result";
  auto reply = Call(*config, http::Verb::get, target);
  if (!reply.ok()) return ReportCallError(io, command, reply.status());
  if (reply->status != 200) {
    return ReportServerError(io, command, "cannot get activation " + flags.name_or_id, *reply);
  }
  switch (flags.verb) {
    case ActivationFlags::Verb::kGet: PrintJsonOrBody(io, *reply); return kExitOk;
    case ActivationFlags::Verb::kLogs: {
      // {"logs":[...]} as OpenWhisk answers; a bare array is accepted too.
      const json::value* logs = nullptr;
      if (reply->json && reply->json->is_object()) logs = reply->json->as_object().if_contains("logs");
      if (reply->json && reply->json->is_array()) logs = &*reply->json;
      if (logs == nullptr || !logs->is_array()) {
        fmt::print(io.err, "wow {}: the server's answer has no logs: {}\n", command, reply->body);
        return kExitFailed;
      }
      for (const auto& line : logs->as_array()) {
        fmt::print(io.out, "{}\n", line.is_string() ? std::string(line.as_string()) : json::serialize(line));
      }
      return kExitOk;
    }
    case ActivationFlags::Verb::kResult: {
      // OpenWhisk answers the activation's response {"result","success","status",...}; print its result.
      if (reply->json && reply->json->is_object()) {
        const auto& o = reply->json->as_object();
        const json::value* result = o.if_contains("result");
        if (result != nullptr && (o.contains("success") || o.contains("status"))) {
          fmt::print(io.out, "{}", PrettyJson(*result));
          return kExitOk;
        }
      }
      PrintJsonOrBody(io, *reply);
      return kExitOk;
    }
    case ActivationFlags::Verb::kList: break;
  }
  return kExitUsage;
}

// ---- command-line registration

struct ClientCommands::State {
  ClientFlags client;
  // Deques: the flags are bound by reference, so their addresses must not move.
  std::deque<std::pair<CLI::App*, ActionFlags>> actions;
  std::deque<std::pair<CLI::App*, ActivationFlags>> activations;
};

namespace {

void AddClientFlags(CLI::App* cmd, ClientFlags& flags) {
  cmd->add_option("--apihost", flags.apihost,
                  "API host: HOST[:PORT] or http://HOST:PORT (else APIHOST of ~/.wskprops)");
  cmd->add_option("-u,--auth", flags.auth, "Authorization key UUID:KEY (else AUTH of ~/.wskprops)");
  cmd->add_flag("-i,--insecure", flags.insecure, "Accepted for wsk compatibility; ignored (no TLS)");
}

}  // namespace

ClientCommands::ClientCommands(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;

  CLI::App* action = app.add_subcommand("action", "Manage and invoke actions on an OpenWhisk API host (like wsk)");
  action->require_subcommand(1);
  AddClientFlags(action, s.client);
  auto add_action = [&](const char* name, const char* help, ActionFlags::Verb verb) {
    CLI::App* cmd = action->add_subcommand(name, help);
    cmd->fallthrough();
    AddClientFlags(cmd, s.client);
    auto& flags = s.actions.emplace_back(cmd, ActionFlags{}).second;
    flags.verb = verb;
    return std::pair<CLI::App*, ActionFlags*>(cmd, &flags);
  };
  auto add_params = [](CLI::App* cmd, ActionFlags& f) {
    cmd->add_option("-p,--param", f.params, "Parameter KEY VALUE (VALUE as JSON if it parses, else a string)")
        ->allow_extra_args(false);
    cmd->add_option("-P,--param-file", f.param_files, "JSON object file of parameters (- for stdin)");
  };
  for (auto verb : {ActionFlags::Verb::kCreate, ActionFlags::Verb::kUpdate}) {
    bool create = verb == ActionFlags::Verb::kCreate;
    auto [cmd, f] = add_action(create ? "create" : "update",
                               create ? "Create an action from a .wasm, .zip or text (.wat) file"
                                      : "Update an action (PUT with overwrite=true)",
                               verb);
    cmd->add_option("NAME", f->name, "NAME, PACKAGE/NAME, /NAMESPACE/NAME or /NAMESPACE/PACKAGE/NAME")->required();
    auto* file = cmd->add_option("FILE", f->file, "The code: .wasm or .zip (sent as base64), else text");
    if (create) file->required();
    cmd->add_option("--kind", f->kind, "Runtime kind")->capture_default_str();
    cmd->add_option("--main", f->main, "Entry point (exec.main)");
    add_params(cmd, *f);
    cmd->add_option("-a,--annotation", f->annotations, "Annotation KEY VALUE (VALUE as JSON if it parses)")
        ->allow_extra_args(false);
    cmd->add_option("-t,--timeout", f->timeout_ms, "Time limit in ms (limits.timeout)");
    cmd->add_option("-m,--memory", f->memory_mb, "Memory limit in MB (limits.memory)");
    cmd->add_option("-l,--logsize", f->logsize_mb, "Log size limit in MB (limits.logs)");
    cmd->add_option("-c,--concurrency", f->concurrency, "Activations per container (limits.concurrency)");
  }
  {
    auto [cmd, f] = add_action("get", "Print an action as JSON", ActionFlags::Verb::kGet);
    cmd->add_option("NAME", f->name, "Action name")->required();
    cmd->add_flag("--code", f->code, "Include the code");
  }
  {
    auto [cmd, f] = add_action("list", "List actions", ActionFlags::Verb::kList);
    cmd->add_option("NAMESPACE", f->name, "/NAMESPACE (default: _ or NAMESPACE of ~/.wskprops)");
    cmd->add_option("--limit", f->limit, "How many (default 30; 0: the server's maximum)");
    cmd->add_option("--skip", f->skip, "How many to skip");
  }
  {
    auto [cmd, f] = add_action("delete", "Delete an action", ActionFlags::Verb::kDelete);
    cmd->add_option("NAME", f->name, "Action name")->required();
  }
  {
    auto [cmd, f] = add_action("invoke", "Invoke an action", ActionFlags::Verb::kInvoke);
    cmd->add_option("NAME", f->name, "Action name")->required();
    add_params(cmd, *f);
    cmd->add_flag("-b,--blocking", f->blocking, "Wait for the activation and print it");
    cmd->add_flag("-r,--result", f->result, "Wait and print only the result (implies --blocking)");
  }

  CLI::App* activation = app.add_subcommand("activation", "Inspect activations on an OpenWhisk API host (like wsk)");
  activation->require_subcommand(1);
  AddClientFlags(activation, s.client);
  auto add_activation = [&](const char* name, const char* help, ActivationFlags::Verb verb) {
    CLI::App* cmd = activation->add_subcommand(name, help);
    cmd->fallthrough();
    AddClientFlags(cmd, s.client);
    auto& flags = s.activations.emplace_back(cmd, ActivationFlags{}).second;
    flags.verb = verb;
    return std::pair<CLI::App*, ActivationFlags*>(cmd, &flags);
  };
  {
    auto [cmd, f] = add_activation("list", "List activations, newest first", ActivationFlags::Verb::kList);
    cmd->add_option("NAME", f->name_or_id, "Only the activations of this action");
    cmd->add_option("--limit", f->limit, "How many (default 30; 0: the server's maximum)");
    cmd->add_option("--skip", f->skip, "How many to skip");
    cmd->add_option("--since", f->since_ms, "Only those started since this epoch time in ms");
    cmd->add_option("--upto", f->upto_ms, "Only those started up to this epoch time in ms");
  }
  for (auto [name, help, verb] :
       {std::tuple{"get", "Print an activation record as JSON", ActivationFlags::Verb::kGet},
        std::tuple{"logs", "Print an activation's log lines", ActivationFlags::Verb::kLogs},
        std::tuple{"result", "Print an activation's result", ActivationFlags::Verb::kResult}}) {
    auto [cmd, f] = add_activation(name, help, verb);
    cmd->add_option("ID", f->name_or_id, "Activation id")->required();
  }
}

ClientCommands::~ClientCommands() = default;

std::optional<int> ClientCommands::Run() const {
  for (const auto& [cmd, flags] : state_->actions) {
    if (*cmd) {
      ActionFlags f = flags;
      f.client = state_->client;
      return RunAction(f);
    }
  }
  for (const auto& [cmd, flags] : state_->activations) {
    if (*cmd) {
      ActivationFlags f = flags;
      f.client = state_->client;
      return RunActivation(f);
    }
  }
  return std::nullopt;
}

}  // namespace wow::cli
