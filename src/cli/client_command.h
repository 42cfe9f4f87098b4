#pragma once

// The client commands of the wow binary, mirroring `wsk`: `wow action
// create|update|get|list|delete|invoke` and `wow activation
// list|get|logs|result`, talking to an OpenWhisk-compatible REST API
// (`wow serve`, or an OpenWhisk over plain HTTP). Exit codes as for every
// subcommand: 0 success, 1 an error answered by the server (or an action that
// failed), 2 usage errors.

#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/wskprops.h"
#include "common/status.h"

namespace CLI {
class App;
}

namespace wow::cli {

// Flags every client command accepts.
struct ClientFlags {
  std::string apihost;    // --apihost; else APIHOST of the wsk properties
  std::string auth;       // --auth/-u UUID:KEY; else AUTH
  bool insecure = false;  // -i: accepted for wsk compatibility, ignored (no TLS)
  // Where the wsk properties are read from; empty: WskPropsPath().
  std::filesystem::path props_path;
};

struct ActionFlags {
  enum class Verb { kCreate, kUpdate, kGet, kList, kDelete, kInvoke } verb = Verb::kGet;
  ClientFlags client;
  std::string name;  // NAME, PKG/NAME, /NS/NAME or /NS/PKG/NAME; for list an optional /NS
  std::string file;  // create/update: the code (.wasm, .zip, .wat or other text)
  std::string kind = "wasm";
  std::string main;
  std::vector<std::pair<std::string, std::string>> params;       // -p KEY VALUE
  std::vector<std::string> param_files;                          // -P file.json
  std::vector<std::pair<std::string, std::string>> annotations;  // -a KEY VALUE
  std::optional<uint64_t> timeout_ms, memory_mb, logsize_mb, concurrency;
  bool code = false;                    // get --code
  bool blocking = false;                // invoke -b
  bool result = false;                  // invoke -r (implies blocking)
  std::optional<uint64_t> limit, skip;  // list
};

struct ActivationFlags {
  enum class Verb { kList, kGet, kLogs, kResult } verb = Verb::kList;
  ClientFlags client;
  std::string name_or_id;  // list: an optional action name; otherwise the activation id
  std::optional<uint64_t> limit, skip, since_ms, upto_ms;
};

// Where a command writes; tests pass memory streams.
struct ClientIo {
  std::FILE* out = stdout;
  std::FILE* err = stderr;
};

int RunAction(const ActionFlags& flags, ClientIo io = {});
int RunActivation(const ActivationFlags& flags, ClientIo io = {});

// Registers `action` and `activation` with their subcommands on `app`; after
// app.parse(), Run() runs the one that was selected.
class ClientCommands {
 public:
  explicit ClientCommands(CLI::App& app);
  ClientCommands(const ClientCommands&) = delete;
  ClientCommands& operator=(const ClientCommands&) = delete;
  ~ClientCommands();

  // The exit code of the client command given on the command line, or
  // nullopt when none was.
  std::optional<int> Run() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ---- pure parts, exposed for tests

// A qualified entity name: NAME, PKG/NAME, /NS/NAME or /NS/PKG/NAME.
struct EntityName {
  std::string namespace_;  // "_" (the default) unless given
  std::string package;     // empty unless given
  std::string name;
  // "name" or "pkg/name", as in the REST path after /actions/.
  std::string path() const { return package.empty() ? name : package + "/" + name; }
  // "/ns/name" or "/ns/pkg/name".
  std::string qualified() const { return "/" + namespace_ + "/" + path(); }
};

// kInvalidArgument for empty segments, a missing name or too many levels.
Result<EntityName> ParseEntityName(std::string_view text, std::string_view default_namespace = "_");

// Percent-encodes everything but RFC 3986 unreserved characters (and, when
// `keep` lists some, those too).
std::string PercentEncode(std::string_view text, std::string_view keep = {});

// "/api/v1/namespaces/NS/actions/PKG/NAME" with every segment encoded.
std::string ActionTarget(const ApiHost& api, const EntityName& entity);

// {"kind","code","binary"[, "main"]}: binary (base64) for a .wasm or .zip file
// or for any file that starts with the Wasm magic, else the text as it is.
boost::json::object ExecFromFile(std::string_view path, std::string_view bytes, std::string_view kind,
                                 std::string_view main);

// The PUT body of create/update. Reads flags.file (when given) and the -P
// files; kNotFound/kIoError/kInvalidArgument when they cannot be used.
Result<boost::json::object> BuildActionBody(const ActionFlags& flags, const EntityName& entity);

// The invoke body: -P files merged, then -p pairs (which win).
Result<boost::json::object> BuildInvokeParams(const ActionFlags& flags);

// JSON with 2-space indentation, like JSON.stringify(v, null, 2), and a
// trailing newline.
std::string PrettyJson(const boost::json::value& value);

// The tables of `action list` and `activation list` (header line included).
std::string FormatActionList(const boost::json::value& actions);
std::string FormatActivationList(const boost::json::value& activations);

// "success", "application error", "action developer error", "whisk internal
// error" for OpenWhisk's status codes 0..3.
std::string ActivationStatusText(const boost::json::object& activation);

}  // namespace wow::cli
