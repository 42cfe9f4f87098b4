// The action-runtime protocol's JSON bodies (src/protocol/messages.h), as `wow proxy` and `wow executor` receive
// them: /init ({"value":{name, main, binary, code, env, annotations, limits}}) and /run ({"value": params,
// "deadline", ...}), and the header checks in front of them (secret, body limits per route).
// Input: one selector byte, then the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "executor/executor.h"
#include "protocol/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (selector % 3) {
    case 0: {
      wow::executor::InitRequest init;
      (void)wow::protocol::ParseInitBody(body, init);
      break;
    }
    case 1: {
      wow::executor::RunRequest run;
      (void)wow::protocol::ParseRunBody(body, run);
      break;
    }
    default: {
      // The body as the secret header and as a Content-Length, against a fixed secret. Beast's parser keeps a
      // header under 8 KiB and without CR, LF or NUL.
      if (body.size() > 8192 || body.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) break;
      wow::http::Request header{wow::http::Verb::post, "/init", 11};
      size_t split = body.find('\n');
      header.set(wow::protocol::kSecretHeader, body.substr(0, split));
      if (split != std::string_view::npos) header.set(boost::beast::http::field::content_length, body.substr(split + 1));
      (void)wow::protocol::CheckSecret(header, "s3cret");
      wow::protocol::BodyLimits limits;
      for (std::string_view op : {"init", "run", "destroy"}) {
        (void)wow::protocol::HeaderVerdictFor(header, limits, "s3cret", op);
        (void)wow::protocol::HeaderVerdictFor(header, limits, "", op);
      }
      break;
    }
  }
  return 0;
}
