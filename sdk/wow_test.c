/*
 * Unit test of wow.h's JSON toolkit and handler glue, built natively both as
 * C11 and as C++17 (the same file). Exits non-zero on the first failure.
 * Inputs are copied into exact-size heap blocks so ASan catches any read
 * past the end.
 */
#include "wow.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* An exact-size, non-terminated heap copy of a string literal. */
static char* dup_exact(const char* s, size_t* len) {
  *len = strlen(s);
  char* p = (char*)malloc(*len > 0 ? *len : 1);
  if (*len > 0) memcpy(p, s, *len);
  return p;
}

static wow_json_status get_int(const char* doc, const char* key, int64_t* v) {
  size_t n;
  char* p = dup_exact(doc, &n);
  wow_json_status st = wow_json_get_int(p, n, key, v);
  free(p);
  return st;
}

static wow_json_status get_str(const char* doc, const char* key, wow_buf* v) {
  size_t n;
  char* p = dup_exact(doc, &n);
  wow_json_status st = wow_json_get_string(p, n, key, v);
  free(p);
  return st;
}

static bool valid(const char* doc) {
  size_t n;
  char* p = dup_exact(doc, &n);
  bool ok = wow_json_validate(p, n);
  free(p);
  return ok;
}

static void test_validate(void) {
  const char* good[] = {
      "{}",
      " { } ",
      "[]",
      "0",
      "-0",
      "1.5e-3",
      "\"a\\u00e9\\n\"",
      "true",
      "null",
      "{\"a\":[1,{\"b\":null},\"x\"],\"c\":{}}",
      "[[[[]]]]",
      "{\"k\" : -12.5E+2 }",
  };
  const char* bad[] = {
      "",          " ",          "{",          "}",
      "{\"a\"}",   "{\"a\":}",   "{\"a\":1,}", "[1,]",
      "[1 2]",     "01",         "1.",         ".5",
      "-",         "1e",         "+1",         "\"abc",
      "\"\\x\"",   "\"\\u12\"",  "\"\x01\"",   "tru",
      "nul",       "{\"a\":1}}", "{} {}",      "{a:1}",
      "[\"a\":1]", "{\"a\" 1}",  "\"\\",       "{\"a\":\"\\u00",
  };
  for (size_t i = 0; i < sizeof good / sizeof *good; ++i) CHECK(valid(good[i]));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i) {
    if (valid(bad[i])) fprintf(stderr, "accepted: %s\n", bad[i]);
    CHECK(!valid(bad[i]));
  }

  /* Nesting is bounded, not recursive. */
  char deep[2 * WOW_JSON_MAX_DEPTH + 4];
  size_t n = 0;
  for (int i = 0; i < WOW_JSON_MAX_DEPTH; ++i) deep[n++] = '[';
  for (int i = 0; i < WOW_JSON_MAX_DEPTH; ++i) deep[n++] = ']';
  CHECK(wow_json_validate(deep, n));
  n = 0;
  for (int i = 0; i <= WOW_JSON_MAX_DEPTH; ++i) deep[n++] = '[';
  for (int i = 0; i <= WOW_JSON_MAX_DEPTH; ++i) deep[n++] = ']';
  CHECK(!wow_json_validate(deep, n));
  CHECK(!wow_json_validate_object("[]", 2));
  CHECK(wow_json_validate_object(" {} ", 4));
}

static void test_getters(void) {
  int64_t v = 0;
  CHECK(get_int("{\"a\":1,\"b\":-42}", "b", &v) == WOW_JSON_OK && v == -42);
  CHECK(get_int("{\"a\":9223372036854775807}", "a", &v) == WOW_JSON_OK &&
        v == INT64_MAX);
  CHECK(get_int("{\"a\":-9223372036854775808}", "a", &v) == WOW_JSON_OK &&
        v == INT64_MIN);
  CHECK(get_int("{\"a\":9223372036854775808}", "a", &v) == WOW_JSON_RANGE);
  CHECK(get_int("{\"a\":-9223372036854775809}", "a", &v) == WOW_JSON_RANGE);
  CHECK(get_int("{\"a\":1e3}", "a", &v) == WOW_JSON_OK && v == 1000);
  CHECK(get_int("{\"a\":2.0}", "a", &v) == WOW_JSON_OK && v == 2);
  CHECK(get_int("{\"a\":1.5}", "a", &v) == WOW_JSON_TYPE);
  CHECK(get_int("{\"a\":1e400}", "a", &v) == WOW_JSON_RANGE);
  CHECK(get_int("{\"a\":\"1\"}", "a", &v) == WOW_JSON_TYPE);
  CHECK(get_int("{\"a\":null}", "a", &v) == WOW_JSON_MISSING);
  CHECK(get_int("{\"a\":1}", "b", &v) == WOW_JSON_MISSING);
  CHECK(get_int("{}", "b", &v) == WOW_JSON_MISSING);
  CHECK(get_int("{\"a\":1", "a", &v) == WOW_JSON_INVALID); /* truncated */
  CHECK(get_int("{\"a\":1,\"b\"", "b", &v) == WOW_JSON_INVALID);
  CHECK(get_int("{\"a\":1} x", "b", &v) == WOW_JSON_INVALID);
  CHECK(get_int("[1]", "a", &v) == WOW_JSON_INVALID);
  /* Nested keys are not top-level keys; the first duplicate wins. */
  CHECK(get_int("{\"o\":{\"a\":1},\"a\":2,\"a\":3}", "a", &v) == WOW_JSON_OK &&
        v == 2);
  /* Escaped keys compare after decoding. */
  CHECK(get_int("{\"\\u0061\\/\":7}", "a/", &v) == WOW_JSON_OK && v == 7);

  double d = 0;
  CHECK(wow_json_get_number("{\"x\": 2.5e1 }", 13, "x", &d) == WOW_JSON_OK &&
        d == 25.0);
  bool b = false;
  CHECK(wow_json_get_bool("{\"t\":true}", 10, "t", &b) == WOW_JSON_OK && b);
  CHECK(wow_json_get_bool("{\"t\":0}", 7, "t", &b) == WOW_JSON_TYPE);

  wow_buf s = WOW_BUF_INIT;
  CHECK(get_str("{\"s\":\"a\\\"b\\\\c\\/\\n\"}", "s", &s) == WOW_JSON_OK &&
        s.len == 7 && memcmp(s.data, "a\"b\\c/\n", 7) == 0);
  CHECK(get_str("{\"s\":\"\\u00e9\\u20ac\\ud83d\\ude00\"}", "s", &s) ==
            WOW_JSON_OK &&
        strcmp(s.data, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") == 0);
  CHECK(get_str("{\"s\":\"\\ud83d\"}", "s", &s) == WOW_JSON_OK &&
        strcmp(s.data, "\xef\xbf\xbd") == 0); /* lone surrogate */
  CHECK(get_str("{\"s\":\"\\ude00x\"}", "s", &s) == WOW_JSON_OK &&
        strcmp(s.data, "\xef\xbf\xbdx") == 0);
  CHECK(get_str("{\"s\":\"a\\u0000b\"}", "s", &s) == WOW_JSON_OK &&
        s.len == 3 && s.data[1] == '\0');
  CHECK(get_str("{\"s\":\"\"}", "s", &s) == WOW_JSON_OK && s.len == 0);
  CHECK(get_str("{\"s\":5}", "s", &s) == WOW_JSON_TYPE);
  wow_buf_free(&s);

  const char* raw;
  size_t raw_len;
  CHECK(wow_json_find("{\"a\": [1, 2] }", 14, "a", &raw, &raw_len) ==
            WOW_JSON_OK &&
        raw_len == 6 && memcmp(raw, "[1, 2]", 6) == 0);
}

static void test_writer(void) {
  wow_buf b = WOW_BUF_INIT;
  wow_json_begin_object(&b);
  wow_json_key(&b, "s");
  wow_json_string(&b, "q\"\\\n\x01\xc3\xa9\xff");
  wow_json_key(&b, "a");
  wow_json_begin_array(&b);
  wow_json_int(&b, -1);
  wow_json_uint(&b, UINT64_MAX);
  wow_json_double(&b, 0.1);
  wow_json_double(&b, 1.0 / 0.0);
  wow_json_bool(&b, true);
  wow_json_null(&b);
  wow_json_begin_object(&b);
  wow_json_end_object(&b);
  wow_json_raw(&b, "{\"x\":1}", 7);
  wow_json_end_array(&b);
  wow_json_end_object(&b);
  const char* want =
      "{\"s\":\"q\\\"\\\\\\n\\u0001\xc3\xa9\\ufffd\",\"a\":[-1,"
      "18446744073709551615,0.1,null,true,null,{},{\"x\":1}]}";
  CHECK(!b.failed && strcmp(b.data, want) == 0);
  if (b.data && strcmp(b.data, want) != 0) fprintf(stderr, "got %s\n", b.data);
  CHECK(wow_json_validate(b.data, b.len));

  /* Truncated and overlong UTF-8 sequences are replaced, not copied. */
  wow_buf_reset(&b);
  wow_json_string_n(&b, "\xe2\x82", 2);
  CHECK(strcmp(b.data, "\"\\ufffd\\ufffd\"") == 0);
  wow_buf_reset(&b);
  wow_json_string(&b, "\xc0\xaf\xed\xa0\x80\xf0\x9f\x98\x80");
  CHECK(strncmp(b.data, "\"\\ufffd\\ufffd", 13) == 0);
  CHECK(strstr(b.data, "\xf0\x9f\x98\x80\"") != NULL);

  /* Long printf output takes the heap path. */
  wow_buf_reset(&b);
  wow_buf_printf(&b, "%0300d", 7);
  CHECK(b.len == 300 && b.data[299] == '7');

  wow_buf_reset(&b);
  const char* pretty = "{\n  \"a\" : [ 1, \"x y\\\" \" ],\n  \"b\": {} }\n";
  wow_json_compact(&b, pretty, strlen(pretty));
  CHECK(strcmp(b.data, "{\"a\":[1,\"x y\\\" \"],\"b\":{}}") == 0);
  wow_buf_free(&b);

  wow_output out = WOW_BUF_INIT;
  CHECK(wow_error(&out, "bad %s %d", "thing", 3) == WOW_ERROR);
  CHECK(strcmp(out.data, "{\"error\":\"bad thing 3\"}") == 0);
  wow_buf_free(&out);
}

static int echo_handler(const char* params, size_t len, wow_output* out) {
  wow_json_raw(out, params, len);
  return WOW_OK;
}
static int bad_json_handler(const char* params, size_t len, wow_output* out) {
  (void)params;
  (void)len;
  wow_buf_puts(out, "{\"a\":");
  return WOW_OK;
}
static int need_int_handler(const char* params, size_t len, wow_output* out) {
  int64_t v;
  if (!wow_require_int(params, len, "n", &v, out)) return WOW_ERROR;
  return WOW_OK; /* empty output means {} */
}

static int scalar_handler(const char* params, size_t len, wow_output* out) {
  (void)params;
  (void)len;
  wow_json_int(out, 7);
  return WOW_OK;
}
static int bare_error_handler(const char* params, size_t len, wow_output* out) {
  (void)params;
  (void)len;
  wow_json_string(out, "boom");
  return WOW_ERROR;
}

static void test_invoke(void) {
  wow_output out = WOW_BUF_INIT;
  CHECK(wow__invoke(echo_handler, " {\n\"a\": 1 }\n", 12, &out) == WOW_OK &&
        strcmp(out.data, "{\"a\":1}") == 0);
  wow_buf_free(&out);
  CHECK(wow__invoke(echo_handler, "", 0, &out) == WOW_OK &&
        strcmp(out.data, "{}") == 0);
  wow_buf_free(&out);
  CHECK(wow__invoke(echo_handler, "[1]", 3, &out) == WOW_ERROR &&
        strstr(out.data, "not a valid JSON object") != NULL);
  wow_buf_free(&out);
  CHECK(wow__invoke(bad_json_handler, "{}", 2, &out) == WOW_ERROR &&
        strstr(out.data, "invalid JSON") != NULL);
  wow_buf_free(&out);
  CHECK(wow__invoke(need_int_handler, "{}", 2, &out) == WOW_ERROR &&
        strcmp(out.data, "{\"error\":\"missing parameter 'n'\"}") == 0);
  wow_buf_free(&out);
  CHECK(wow__invoke(need_int_handler, "{\"n\":\"x\"}", 9, &out) == WOW_ERROR &&
        strcmp(out.data, "{\"error\":\"parameter 'n' must be an integer\"}") ==
            0);
  wow_buf_free(&out);
  CHECK(wow__invoke(scalar_handler, "{}", 2, &out) == WOW_ERROR &&
        strstr(out.data, "must be a JSON object or array") != NULL);
  wow_buf_free(&out);
  CHECK(wow__invoke(bare_error_handler, "{}", 2, &out) == WOW_ERROR &&
        strcmp(out.data, "{\"error\":\"boom\"}") == 0);
  wow_buf_free(&out);
  CHECK(wow__invoke(echo_handler, "{\"a\":[]}", 8, &out) == WOW_OK &&
        strcmp(out.data, "{\"a\":[]}") == 0);
  wow_buf_free(&out);
  CHECK(wow__invoke(need_int_handler, "{\"n\":3}", 7, &out) == WOW_OK &&
        strcmp(out.data, "{}") == 0);
  wow_buf_free(&out);
}

/* Every prefix of every document must be handled without reading past it. */
static void test_prefixes(void) {
  const char* docs[] = {
      "{\"a\":[1,{\"b\":null},\"x\\u00e9\\ud83d\\ude00\"],\"c\":{\"d\":-1.5e+3}"
      ","
      "\"s\":\"\\\"\",\"t\":true,\"f\":false}",
  };
  for (size_t d = 0; d < sizeof docs / sizeof *docs; ++d) {
    size_t full = strlen(docs[d]);
    for (size_t n = 0; n <= full; ++n) {
      char* p = (char*)malloc(n > 0 ? n : 1);
      memcpy(p, docs[d], n);
      bool ok = wow_json_validate(p, n);
      CHECK(ok == (n == full));
      int64_t v;
      wow_buf s = WOW_BUF_INIT;
      wow_json_get_int(p, n, "zz", &v);
      wow_json_get_string(p, n, "s", &s);
      wow_buf_free(&s);
      free(p);
    }
  }
}

int main(void) {
  test_validate();
  test_getters();
  test_writer();
  test_invoke();
  test_prefixes();
  if (failures == 0) printf("wow_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
