// The REST API's header check and handler in process, as http::Server drives them (the check's context goes to
// the handler) and as an in-process caller without the server does (the handler checks the request itself):
// a real Store in a temporary directory, an Executor and Invoker that never run anything here.

#include "protocol/rest_api.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "executor/executor.h"

namespace wow::protocol {
namespace {

namespace bh = boost::beast::http;

const controller::Subject kGuest{"23bc46b1-71f6-4ed5-8c54-816aa4f8c502", "guestkey", "guest", "guest"};

http::Request Get(std::string target, bool with_auth = true) {
  http::Request req(http::Verb::get, target, 11);
  if (with_auth) req.set(bh::field::authorization, "Basic " + Base64Encode(kGuest.uuid + ":" + kGuest.key));
  return req;
}

class RestApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = controller::Store::Open(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ASSERT_TRUE(store_->PutSubject(kGuest).ok());
    executor::ExecutorOptions eo;
    eo.engine_options.data_dir = dir_.path();
    eo.workers = 1;
    auto executor = executor::Executor::Create(eo);
    ASSERT_TRUE(executor.ok()) << executor.status().ToString();
    executor_ = std::move(*executor);
    invoker_ = std::make_unique<controller::Invoker>(*executor_, *store_, controller::InvokerOptions{});
    RestApiOptions options;
    options.max_params_bytes = 100;
    api_ = std::make_unique<RestApi>(*store_, *invoker_, options);
  }
  void TearDown() override {
    api_.reset();
    if (executor_) executor_->Shutdown();
    invoker_.reset();
    executor_.reset();
    store_.reset();
  }

  // Handle's answer (every request here is answered synchronously).
  http::Response Handle(http::Request request, std::any context = {}) {
    std::optional<http::Response> got;
    api_->Handle(std::move(request),
                 http::Responder::Calling([&](http::Response&& r) { got = std::move(r); }, std::move(context)));
    EXPECT_TRUE(got.has_value());
    return got ? std::move(*got) : http::Response();
  }

  TempDir dir_{"wow-rest-api-test"};
  std::unique_ptr<controller::Store> store_;
  std::unique_ptr<executor::Executor> executor_;
  std::unique_ptr<controller::Invoker> invoker_;
  std::unique_ptr<RestApi> api_;
};

// The handler routes with what the header check learned: the target and principal are parsed and authenticated
// once, at the header (here the credential is even gone by the time the handler runs).
TEST_F(RestApiTest, HandlerUsesTheHeaderChecksTargetAndPrincipal) {
  http::Request req = Get("/api/v1/namespaces");
  http::HeaderVerdict verdict = api_->CheckHeader(req);
  ASSERT_FALSE(verdict.reject.has_value());
  ASSERT_TRUE(verdict.context.has_value());
  req.erase(bh::field::authorization);
  http::Response res = Handle(std::move(req), std::move(verdict.context));
  EXPECT_EQ(res.result(), http::HttpStatus::ok) << res.body();
  EXPECT_EQ(res.body(), R"(["guest"])");
}

// Without the header check's context (an in-process caller), the handler applies the same rules itself.
TEST_F(RestApiTest, HandlerWithoutTheHeaderCheckChecksTheRequestItself) {
  http::Response unauthenticated = Handle(Get("/api/v1/namespaces", /*with_auth=*/false));
  EXPECT_EQ(unauthenticated.result(), http::HttpStatus::unauthorized) << unauthenticated.body();
  EXPECT_NE(unauthenticated.body().find("requires authentication"), std::string::npos) << unauthenticated.body();

  http::Request invoke = Get("/api/v1/namespaces/_/actions/a");
  invoke.method(http::Verb::post);
  invoke.body() = R"({"data":")" + std::string(200, 'x') + R"("})";
  invoke.prepare_payload();
  http::Response too_large = Handle(std::move(invoke));
  EXPECT_EQ(too_large.result(), http::HttpStatus::payload_too_large) << too_large.body();
  EXPECT_NE(too_large.body().find("more than the allowed 100 bytes for the parameters of an invocation"),
            std::string::npos)
      << too_large.body();

  http::Response listed = Handle(Get("/api/v1/namespaces"));
  EXPECT_EQ(listed.result(), http::HttpStatus::ok) << listed.body();
  EXPECT_EQ(Handle(Get("/api/v1")).result(), http::HttpStatus::ok);  // the description needs no credential
  EXPECT_EQ(Handle(Get("/other", false)).result(), http::HttpStatus::not_found);
  EXPECT_EQ(Handle(Get("http://x/api/v1", false)).result(), http::HttpStatus::bad_request);  // not a URL path
}

// The check refuses before the body: a missing credential, and a Content-Length over the route's limit.
TEST_F(RestApiTest, HeaderCheckRefusesAuthAndSizeBeforeTheBody) {
  EXPECT_EQ(api_->CheckHeader(Get("/api/v1/namespaces", false)).reject->result(), http::HttpStatus::unauthorized);
  http::Request invoke = Get("/api/v1/namespaces/_/actions/a");
  invoke.method(http::Verb::post);
  invoke.content_length(101);
  http::HeaderVerdict verdict = api_->CheckHeader(invoke);
  ASSERT_TRUE(verdict.reject.has_value());
  EXPECT_EQ(verdict.reject->result(), http::HttpStatus::payload_too_large);
  invoke.content_length(100);
  verdict = api_->CheckHeader(invoke);
  EXPECT_FALSE(verdict.reject.has_value());
  EXPECT_EQ(verdict.body_limit, 100u);
}

}  // namespace
}  // namespace wow::protocol
