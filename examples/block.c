/*
 * block: WOW's I/O-bound workload. Calls http.get(), which blocks for 300 ms
 * in the host, and returns {"status": <its return value>} (0).
 * WOW ABI (wow.h); needs the net_access capability, without which the host
 * refuses to link the `http.get` import. Native builds sleep 300 ms instead.
 */
#include "wow.h"

static int block(const char* params, size_t len, wow_output* out) {
  (void)params;
  (void)len;
  int32_t status = wow_http_get();
  wow_json_begin_object(out);
  wow_json_key(out, "status");
  wow_json_int(out, status);
  wow_json_end_object(out);
  return WOW_OK;
}

WOW_ACTION(block)
