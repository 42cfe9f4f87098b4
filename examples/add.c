/*
 * add: {"param1": a, "param2": b} -> {"result": a + b}.
 * WOW ABI (wow.h). Both parameters are required 64-bit integers; a missing or
 * non-integer parameter, or an overflowing sum, is an application error.
 */
#include "wow.h"

static int add(const char* params, size_t len, wow_output* out) {
  int64_t a, b, sum;
  if (!wow_require_int(params, len, "param1", &a, out) ||
      !wow_require_int(params, len, "param2", &b, out))
    return WOW_ERROR;
  if (__builtin_add_overflow(a, b, &sum))
    return wow_error(out, "param1 + param2 overflows a 64-bit integer");
  wow_json_begin_object(out);
  wow_json_key(out, "result");
  wow_json_int(out, sum);
  wow_json_end_object(out);
  return WOW_OK;
}

WOW_ACTION(add)
