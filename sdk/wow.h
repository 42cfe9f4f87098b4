/*
 * wow.h - guest SDK for wow actions written in C or C++ (C11 / C++17).
 *
 * An action is one function from a JSON object (its parameters) to a JSON
 * value (its result, normally an object):
 *
 *     #include "wow.h"
 *
 *     static int add(const char* params, size_t len, wow_output* out) {
 *       int64_t a, b;
 *       if (!wow_require_int(params, len, "param1", &a, out) ||
 *           !wow_require_int(params, len, "param2", &b, out))
 *         return WOW_ERROR;              // out already holds {"error": ...}
 *       wow_json_begin_object(out);
 *       wow_json_key(out, "result");
 *       wow_json_int(out, a + b);
 *       wow_json_end_object(out);
 *       return WOW_OK;
 *     }
 *     WOW_ACTION(add)
 *
 * WOW_ACTION(handler) supplies everything else, depending on the target:
 *
 *  - wasm32-wasi: the WOW guest ABI, the ABI of the original WOW (Rust)
 *    actions. The module exports `memory`, `_start` (from wasi-libc's crt1,
 *    which calls main), `wasm_memory_buffer_allocate_space(i32 len)`,
 *    `get_wasm_memory_buffer_pointer() -> i32` and
 *    `get_wasm_memory_buffer_len() -> i32`. The host sizes the buffer, writes
 *    the parameters into it, calls `_start` with the parameter length as the
 *    last argv entry (WOW passes [name, length]; [length] works too; with no
 *    numeric entry the whole buffer is the input), and then reads
 *    `{"Ok": <result>}` or `{"Err": <error object>}` from the buffer. stdout
 *    and stderr stay free for logs. main returns 0 whenever it stored an
 *    envelope, so an action error is reported as `Err`, not as an exit code.
 *  - anything else (native builds, the baseline for the benchmarks): a
 *    program speaking the WASI-command protocol. Parameters are read from
 *    stdin (empty input means `{}`), the result is printed as the last stdout
 *    line, and the exit status is 0 for WOW_OK and 1 for WOW_ERROR (the error
 *    object is still printed).
 *
 * WOW_COMMAND(handler) instead builds a WASI-command action on every target,
 * wasm included (parameters on stdin, result as the last stdout line): for
 * hosts that speak only WASI, and to show that protocol (examples/clock.c).
 *
 * Contract of a handler (see wow_handler below):
 *  - `params[0..len)` is a validated JSON object; it is not NUL-terminated.
 *  - The handler writes its result, a JSON object or array, into `out` (with
 *    the wow_json_* writer or wow_buf_* appends) and returns WOW_OK, or writes
 *    an error object such as `{"error": "..."}` and returns WOW_ERROR
 *    (wow_error() does both). An empty `out` means `{}`; a bare error value v
 *    becomes {"error": v}; invalid JSON or a scalar result becomes an error.
 *    The output is compacted to one line.
 *  - WOW_ACTION(fn) is written without a trailing semicolon.
 *  - Logs go to stdout/stderr; end every log line with '\n' so the result
 *    stays on a line of its own in native builds.
 *
 * Building an action (the sysroot is Debian's wasi-libc):
 *
 *   wasm:   clang-16 --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Wextra \
 *               -I<repo>/sdk -Wl,--strip-debug -o add.wasm add.c
 *   native: cc -O2 -Wall -Wextra -I<repo>/sdk -o add add.c
 *   C++:    clang-16 -x c++ -std=c++17 -fno-exceptions --target=wasm32-wasi \
 *               --sysroot=/usr -O2 -I<repo>/sdk -Wl,--strip-debug \
 *               -o x.wasm x.cc
 *           (the `clang-16` driver does not link libc++, which Debian ships
 *           for wasm32 only as libc++-16-dev-wasm32; this header needs none.)
 *
 * --strip-debug drops the DWARF that Debian's wasi-libc.a carries (it would
 * triple a small module) and keeps the "name" section for trap backtraces.
 * Native builds add -lm when the action uses libm; the native wow_http_get
 * uses C11 thrd_sleep (in libc since glibc 2.34). To try a module without
 * wow (Node's WASI as the host):
 *   node --no-warnings <repo>/examples/wasm-run.mjs add.wasm < params.json
 *
 * Capabilities:
 *  - net_access: wow_http_get() is WOW's simulated I/O call, imported as
 *        __attribute__((import_module("http"), import_name("get")))
 *        int32_t wow_http_get(void);
 *    It blocks for 300 ms in the host and returns 0. Only modules that call it
 *    import it, and the host links it only for actions with net_access. In
 *    native builds it sleeps 300 ms and returns 0.
 *  - dir: a directory the host preopens through WASI; ordinary stdio/POSIX
 *    file calls work below it and fail with ENOTCAPABLE elsewhere.
 *
 * Notes on wasm32-wasi linking: wasm-ld wraps every export of a command
 * module in calls to __wasm_call_ctors/__wasm_call_dtors (with this Debian
 * wasi-libc), so constructors run again on each buffer call. The SDK keeps
 * its state in zero-initialised statics that constructors do not touch; C++
 * actions should avoid globals with dynamic initialisers for the same reason.
 * The WOW entry points trap (abort) if the buffer cannot be allocated, since
 * they have no way to return an error.
 *
 * Everything here is `static inline` so the header can be included in any
 * number of translation units; WOW_ACTION must appear in exactly one. Nothing
 * is thread-safe (wasm32-wasi actions are single-threaded).
 */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef __cplusplus
#include <stdbool.h>
#endif

#if !defined(__wasm__)
#ifdef __cplusplus
#include <chrono>
#include <thread>
#else
#include <threads.h>
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Return values of a handler. */
enum { WOW_OK = 0, WOW_ERROR = 1 };

/* Maximum nesting of arrays/objects accepted in JSON input. */
#define WOW_JSON_MAX_DEPTH 512

/* ------------------------------------------------------------------------ */
/* wow_buf: a growable byte string.                                         */
/* ------------------------------------------------------------------------ */

/*
 * `data` is NUL-terminated whenever it is non-NULL (the NUL is not counted in
 * `len`), so text without embedded NULs can be used as a C string. An
 * allocation failure sets `failed`, after which appends are ignored; check it
 * once at the end instead of after every call. The SDK checks it for `out`.
 * A wow_buf owns `data`; release it with wow_buf_free().
 */
typedef struct wow_buf {
  char* data;
  size_t len;
  size_t cap;
  bool failed;
} wow_buf;

/* The result a handler writes. */
typedef wow_buf wow_output;

/* Handler signature; see the contract at the top of this file. */
typedef int (*wow_handler)(const char* params, size_t len, wow_output* out);

#define WOW_BUF_INIT \
  { NULL, 0, 0, false }

static inline void wow_buf_init(wow_buf* b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->failed = false;
}

static inline void wow_buf_free(wow_buf* b) {
  free(b->data);
  wow_buf_init(b);
}

/* Empties the buffer (keeping its allocation) and clears `failed`. */
static inline void wow_buf_reset(wow_buf* b) {
  b->len = 0;
  b->failed = false;
  if (b->data != NULL) b->data[0] = '\0';
}

/* Makes room for `extra` more bytes plus the terminating NUL. */
static inline bool wow_buf_reserve(wow_buf* b, size_t extra) {
  if (b->failed) return false;
  if (extra > SIZE_MAX - 1 - b->len) {
    b->failed = true;
    return false;
  }
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return true;
  size_t cap = b->cap < 64 ? 64 : b->cap;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char* data = (char*)realloc(b->data, cap);
  if (data == NULL) {
    b->failed = true;
    return false;
  }
  b->data = data;
  b->cap = cap;
  return true;
}

static inline bool wow_buf_append(wow_buf* b, const void* bytes, size_t n) {
  if (!wow_buf_reserve(b, n)) return false;
  if (n > 0) memcpy(b->data + b->len, bytes, n);
  b->len += n;
  b->data[b->len] = '\0';
  return true;
}

static inline bool wow_buf_putc(wow_buf* b, char c) {
  return wow_buf_append(b, &c, 1);
}

static inline bool wow_buf_puts(wow_buf* b, const char* s) {
  return wow_buf_append(b, s, strlen(s));
}

static inline bool wow_buf_vprintf(wow_buf* b, const char* fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    b->failed = true;
    return false;
  }
  if ((size_t)n < sizeof small) return wow_buf_append(b, small, (size_t)n);
  if (!wow_buf_reserve(b, (size_t)n)) return false;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return true;
}

static inline bool wow_buf_printf(wow_buf* b, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline bool wow_buf_printf(wow_buf* b, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  bool ok = wow_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return ok;
}

/* Appends everything readable from `f` (until EOF). False on a read error. */
static inline bool wow_read_all(FILE* f, wow_buf* b) {
  for (;;) {
    if (!wow_buf_reserve(b, 4096)) return false;
    size_t n = fread(b->data + b->len, 1, b->cap - b->len - 1, f);
    b->len += n;
    b->data[b->len] = '\0';
    if (n == 0) return !ferror(f);
  }
}

/* ------------------------------------------------------------------------ */
/* JSON writer: appends to a wow_buf and inserts commas by itself.          */
/* ------------------------------------------------------------------------ */

/*
 * A separator is needed unless the buffer is empty or ends in '{', '[' or
 * ':'. This holds as long as the buffer is only written through these
 * functions (wow_json_raw included), so no writer state is needed.
 */
static inline void wow__json_sep(wow_buf* b) {
  if (b->len == 0) return;
  char last = b->data[b->len - 1];
  if (last != '{' && last != '[' && last != ':') wow_buf_putc(b, ',');
}

static inline void wow_json_begin_object(wow_buf* b) {
  wow__json_sep(b);
  wow_buf_putc(b, '{');
}

static inline void wow_json_end_object(wow_buf* b) { wow_buf_putc(b, '}'); }

static inline void wow_json_begin_array(wow_buf* b) {
  wow__json_sep(b);
  wow_buf_putc(b, '[');
}

static inline void wow_json_end_array(wow_buf* b) { wow_buf_putc(b, ']'); }

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid. */
static inline size_t wow__utf8_len(const unsigned char* s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/*
 * Appends s[0..n) as a quoted JSON string. Control characters, '"' and '\\'
 * are escaped; bytes that are not valid UTF-8 become U+FFFD, so the output is
 * always valid JSON whatever the input (file contents, for instance).
 */
static inline void wow_json_string_n(wow_buf* b, const char* s, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  const unsigned char* u = (const unsigned char*)s;
  wow__json_sep(b);
  wow_buf_putc(b, '"');
  size_t run = 0; /* start of the pending run of bytes copied verbatim */
  size_t i = 0;
  while (i < n) {
    unsigned char c = u[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    size_t len = c >= 0x80 ? wow__utf8_len(u + i, n - i) : 0;
    if (len > 0) {
      i += len;
      continue;
    }
    wow_buf_append(b, s + run, i - run);
    switch (c) {
      case '"':
        wow_buf_append(b, "\\\"", 2);
        break;
      case '\\':
        wow_buf_append(b, "\\\\", 2);
        break;
      case '\b':
        wow_buf_append(b, "\\b", 2);
        break;
      case '\f':
        wow_buf_append(b, "\\f", 2);
        break;
      case '\n':
        wow_buf_append(b, "\\n", 2);
        break;
      case '\r':
        wow_buf_append(b, "\\r", 2);
        break;
      case '\t':
        wow_buf_append(b, "\\t", 2);
        break;
      default:
        if (c < 0x20) {
          char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          wow_buf_append(b, esc, sizeof esc);
        } else {
          wow_buf_append(b, "\\ufffd", 6);
        }
    }
    run = ++i;
  }
  wow_buf_append(b, s + run, n - run);
  wow_buf_putc(b, '"');
}

static inline void wow_json_string(wow_buf* b, const char* s) {
  wow_json_string_n(b, s, strlen(s));
}

/* Writes an object key followed by ':'; the next write is its value. */
static inline void wow_json_key(wow_buf* b, const char* key) {
  wow_json_string(b, key);
  wow_buf_putc(b, ':');
}

static inline void wow_json_int(wow_buf* b, int64_t v) {
  wow__json_sep(b);
  wow_buf_printf(b, "%" PRId64, v);
}

static inline void wow_json_uint(wow_buf* b, uint64_t v) {
  wow__json_sep(b);
  wow_buf_printf(b, "%" PRIu64, v);
}

/* Shortest "%.*g" form that reads back exactly; NaN and infinities (which
 * JSON cannot express) are written as null. */
static inline void wow_json_double(wow_buf* b, double v) {
  wow__json_sep(b);
  if (!isfinite(v)) {
    wow_buf_append(b, "null", 4);
    return;
  }
  char text[32];
  for (int precision = 15; precision <= 17; ++precision) {
    snprintf(text, sizeof text, "%.*g", precision, v);
    if (strtod(text, NULL) == v) break;
  }
  wow_buf_puts(b, text);
}

static inline void wow_json_bool(wow_buf* b, bool v) {
  wow__json_sep(b);
  wow_buf_puts(b, v ? "true" : "false");
}

static inline void wow_json_null(wow_buf* b) {
  wow__json_sep(b);
  wow_buf_append(b, "null", 4);
}

/* Appends an already serialised JSON value (e.g. a span from wow_json_find).
 * The SDK validates a handler's final output, so a bad value is caught. */
static inline void wow_json_raw(wow_buf* b, const char* json, size_t n) {
  wow__json_sep(b);
  wow_buf_append(b, json, n);
}

/*
 * Replaces the contents of `out` with {"error": "<formatted message>"} and
 * returns WOW_ERROR, so a handler can `return wow_error(out, "...", ...);`.
 */
static inline int wow_error(wow_output* out, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int wow_error(wow_output* out, const char* fmt, ...) {
  wow_buf message = WOW_BUF_INIT;
  va_list ap;
  va_start(ap, fmt);
  wow_buf_vprintf(&message, fmt, ap);
  va_end(ap);
  wow_buf_reset(out);
  wow_json_begin_object(out);
  wow_json_key(out, "error");
  if (message.failed)
    wow_json_string(out, fmt);
  else
    wow_json_string_n(out, message.data, message.len);
  wow_json_end_object(out);
  wow_buf_free(&message);
  return WOW_ERROR;
}

/* ------------------------------------------------------------------------ */
/* JSON reader: validation and top-level lookups. Never reads outside       */
/* [json, json + len), whatever the input.                                  */
/* ------------------------------------------------------------------------ */

typedef enum wow_json_status {
  WOW_JSON_OK = 0,
  WOW_JSON_MISSING, /* key absent, or its value is null */
  WOW_JSON_TYPE,    /* value has another type (or is not integral) */
  WOW_JSON_RANGE,   /* number does not fit the requested type */
  WOW_JSON_INVALID, /* the document is not a well-formed JSON object */
  WOW_JSON_NOMEM    /* allocation failed */
} wow_json_status;

static inline size_t wow__ws(const char* s, size_t n, size_t i) {
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
    ++i;
  return i;
}

static inline bool wow__is_digit(char c) { return c >= '0' && c <= '9'; }

static inline int wow__hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Value of the 4 hex digits at s[0..4), or -1. */
static inline int32_t wow__hex4(const char* s) {
  int32_t v = 0;
  for (int k = 0; k < 4; ++k) {
    int h = wow__hex(s[k]);
    if (h < 0) return -1;
    v = (v << 4) | h;
  }
  return v;
}

/* String at s[*i] == '"': on success *i is just past the closing quote. */
static inline bool wow__scan_string(const char* s, size_t n, size_t* i) {
  size_t j = *i + 1;
  while (j < n) {
    unsigned char c = (unsigned char)s[j];
    if (c == '"') {
      *i = j + 1;
      return true;
    }
    if (c < 0x20) return false;
    if (c != '\\') {
      ++j;
      continue;
    }
    if (j + 1 >= n) return false;
    char e = s[j + 1];
    if (e == 'u') {
      if (n - j < 6 || wow__hex4(s + j + 2) < 0) return false;
      j += 6;
    } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' ||
               e == 'n' || e == 'r' || e == 't') {
      j += 2;
    } else {
      return false;
    }
  }
  return false;
}

/* Number per RFC 8259 at s[*i]; on success *i is just past it. */
static inline bool wow__scan_number(const char* s, size_t n, size_t* i) {
  size_t j = *i;
  if (j < n && s[j] == '-') ++j;
  if (j >= n) return false;
  if (s[j] == '0') {
    ++j;
  } else if (s[j] >= '1' && s[j] <= '9') {
    while (j < n && wow__is_digit(s[j])) ++j;
  } else {
    return false;
  }
  if (j < n && s[j] == '.') {
    ++j;
    if (j >= n || !wow__is_digit(s[j])) return false;
    while (j < n && wow__is_digit(s[j])) ++j;
  }
  if (j < n && (s[j] == 'e' || s[j] == 'E')) {
    ++j;
    if (j < n && (s[j] == '+' || s[j] == '-')) ++j;
    if (j >= n || !wow__is_digit(s[j])) return false;
    while (j < n && wow__is_digit(s[j])) ++j;
  }
  *i = j;
  return true;
}

static inline bool wow__scan_literal(const char* s, size_t n, size_t* i,
                                     const char* word) {
  size_t len = strlen(word);
  if (n - *i < len || memcmp(s + *i, word, len) != 0) return false;
  *i += len;
  return true;
}

/* `"key" ws ':'` at or after whitespace from s[*i]; *i ends past the ':'. */
static inline bool wow__scan_member_key(const char* s, size_t n, size_t* i) {
  size_t j = wow__ws(s, n, *i);
  if (j >= n || s[j] != '"' || !wow__scan_string(s, n, &j)) return false;
  j = wow__ws(s, n, j);
  if (j >= n || s[j] != ':') return false;
  *i = j + 1;
  return true;
}

/*
 * Validates and skips one JSON value starting at or after whitespace from
 * s[*pos]; on success *pos is just past it. Nesting is tracked on an
 * explicit stack (bounded by WOW_JSON_MAX_DEPTH), so hostile input cannot
 * exhaust the small wasm stack.
 */
static inline bool wow__skip_value(const char* s, size_t n, size_t* pos) {
  char open[WOW_JSON_MAX_DEPTH]; /* '{' or '[' per nesting level */
  size_t depth = 0;
  size_t i = *pos;
  for (;;) {
    /* A value starts here. */
    i = wow__ws(s, n, i);
    if (i >= n) return false;
    char c = s[i];
    if (c == '{' || c == '[') {
      if (depth == WOW_JSON_MAX_DEPTH) return false;
      open[depth++] = c;
      i = wow__ws(s, n, i + 1);
      if (i < n && s[i] == (c == '{' ? '}' : ']')) {
        --depth; /* empty container: a complete value */
        ++i;
      } else if (c == '{') {
        if (!wow__scan_member_key(s, n, &i)) return false;
        continue;
      } else {
        continue;
      }
    } else if (c == '"') {
      if (!wow__scan_string(s, n, &i)) return false;
    } else if (c == '-' || wow__is_digit(c)) {
      if (!wow__scan_number(s, n, &i)) return false;
    } else if (!wow__scan_literal(s, n, &i, "true") &&
               !wow__scan_literal(s, n, &i, "false") &&
               !wow__scan_literal(s, n, &i, "null")) {
      return false;
    }
    /* A value ended: close containers until one continues with ','. */
    for (;;) {
      if (depth == 0) {
        *pos = i;
        return true;
      }
      i = wow__ws(s, n, i);
      if (i >= n) return false;
      char top = open[depth - 1];
      if (s[i] == (top == '{' ? '}' : ']')) {
        --depth;
        ++i;
        continue;
      }
      if (s[i] != ',') return false;
      ++i;
      if (top == '{' && !wow__scan_member_key(s, n, &i)) return false;
      break;
    }
  }
}

/* True if json[0..len) is empty or only whitespace (no parameters). */
static inline bool wow_json_is_blank(const char* json, size_t len) {
  return wow__ws(json, len, 0) == len;
}

/* True if json[0..len) is exactly one JSON value (surrounding whitespace
 * allowed). */
static inline bool wow_json_validate(const char* json, size_t len) {
  size_t i = 0;
  return wow__skip_value(json, len, &i) && wow__ws(json, len, i) == len;
}

/* True if json[0..len) is exactly one JSON object. */
static inline bool wow_json_validate_object(const char* json, size_t len) {
  size_t i = wow__ws(json, len, 0);
  return i < len && json[i] == '{' && wow_json_validate(json, len);
}

/*
 * Decodes one character of the validated string body s[*i..n) to UTF-8 in
 * out[4]; returns its byte count. \uXXXX escapes (including surrogate pairs)
 * become UTF-8; a lone surrogate becomes U+FFFD.
 */
static inline size_t wow__decode_char(const char* s, size_t n, size_t* i,
                                      unsigned char out[4]) {
  if (s[*i] != '\\') {
    out[0] = (unsigned char)s[(*i)++];
    return 1;
  }
  char e = s[*i + 1];
  *i += 2;
  switch (e) {
    case 'b':
      out[0] = '\b';
      return 1;
    case 'f':
      out[0] = '\f';
      return 1;
    case 'n':
      out[0] = '\n';
      return 1;
    case 'r':
      out[0] = '\r';
      return 1;
    case 't':
      out[0] = '\t';
      return 1;
    case 'u':
      break;
    default:
      out[0] = (unsigned char)e;
      return 1; /* '"', '\\', '/' */
  }
  uint32_t cp = (uint32_t)wow__hex4(s + *i);
  *i += 4;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (n - *i >= 6 && s[*i] == '\\' && s[*i + 1] == 'u') {
      int32_t low = wow__hex4(s + *i + 2);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)low - 0xDC00);
        *i += 6;
      } else {
        cp = 0xFFFD;
      }
    } else {
      cp = 0xFFFD;
    }
  } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
    cp = 0xFFFD;
  }
  if (cp < 0x80) {
    out[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (unsigned char)(0xC0 | (cp >> 6));
    out[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (unsigned char)(0xE0 | (cp >> 12));
    out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (unsigned char)(0xF0 | (cp >> 18));
  out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Compares the validated string body s[0..n) (escapes decoded) to key. */
static inline bool wow__string_equals(const char* s, size_t n, const char* key,
                                      size_t key_len) {
  size_t i = 0, k = 0;
  unsigned char ch[4];
  while (i < n) {
    size_t m = wow__decode_char(s, n, &i, ch);
    if (key_len - k < m || memcmp(key + k, ch, m) != 0) return false;
    k += m;
  }
  return k == key_len;
}

/*
 * Finds `key` (UTF-8, NUL-terminated) among the members of the top-level
 * object json[0..len). On WOW_JSON_OK, `*value` and `*value_len` span its
 * raw JSON text (null included). The whole document is validated, so a
 * truncated or malformed object is WOW_JSON_INVALID even if the key was
 * seen. The first of duplicate keys wins.
 */
static inline wow_json_status wow_json_find(const char* json, size_t len,
                                            const char* key, const char** value,
                                            size_t* value_len) {
  size_t key_len = strlen(key);
  bool found = false;
  size_t i = wow__ws(json, len, 0);
  if (i >= len || json[i] != '{') return WOW_JSON_INVALID;
  i = wow__ws(json, len, i + 1);
  if (i < len && json[i] == '}') {
    ++i;
  } else {
    for (;;) {
      if (i >= len || json[i] != '"') return WOW_JSON_INVALID;
      size_t key_start = i + 1;
      if (!wow__scan_string(json, len, &i)) return WOW_JSON_INVALID;
      size_t key_end = i - 1;
      i = wow__ws(json, len, i);
      if (i >= len || json[i] != ':') return WOW_JSON_INVALID;
      size_t value_start = wow__ws(json, len, i + 1);
      i = value_start;
      if (!wow__skip_value(json, len, &i)) return WOW_JSON_INVALID;
      if (!found && wow__string_equals(json + key_start, key_end - key_start,
                                       key, key_len)) {
        found = true;
        *value = json + value_start;
        *value_len = i - value_start;
      }
      i = wow__ws(json, len, i);
      if (i >= len) return WOW_JSON_INVALID;
      if (json[i] == '}') {
        ++i;
        break;
      }
      if (json[i] != ',') return WOW_JSON_INVALID;
      i = wow__ws(json, len, i + 1);
    }
  }
  if (wow__ws(json, len, i) != len) return WOW_JSON_INVALID;
  return found ? WOW_JSON_OK : WOW_JSON_MISSING;
}

/* Looks up `key`; maps null to WOW_JSON_MISSING. */
static inline wow_json_status wow__find_non_null(const char* json, size_t len,
                                                 const char* key,
                                                 const char** value,
                                                 size_t* value_len) {
  wow_json_status st = wow_json_find(json, len, key, value, value_len);
  if (st == WOW_JSON_OK && **value == 'n') return WOW_JSON_MISSING;
  return st;
}

/* Copies a validated number token into a NUL-terminated buffer for strtod
 * (the JSON text itself need not be terminated). */
static inline wow_json_status wow__number_value(const char* v, size_t n,
                                                double* out) {
  char small[64];
  char* text = n < sizeof small ? small : (char*)malloc(n + 1);
  if (text == NULL) return WOW_JSON_NOMEM;
  memcpy(text, v, n);
  text[n] = '\0';
  *out = strtod(text, NULL);
  if (text != small) free(text);
  return isfinite(*out) ? WOW_JSON_OK : WOW_JSON_RANGE;
}

/* Number value of `key`. */
static inline wow_json_status wow_json_get_number(const char* json, size_t len,
                                                  const char* key,
                                                  double* out) {
  const char* v = NULL; /* initialised for gcc's -Wmaybe-uninitialized */
  size_t n = 0;
  wow_json_status st = wow__find_non_null(json, len, key, &v, &n);
  if (st != WOW_JSON_OK) return st;
  if (*v != '-' && !wow__is_digit(*v)) return WOW_JSON_TYPE;
  return wow__number_value(v, n, out);
}

/*
 * Integer value of `key`. Integral values written with a fraction or an
 * exponent (2.0, 1e3) are accepted; 1.5 is WOW_JSON_TYPE, values outside
 * int64_t are WOW_JSON_RANGE.
 */
static inline wow_json_status wow_json_get_int(const char* json, size_t len,
                                               const char* key, int64_t* out) {
  const char* v = NULL; /* initialised for gcc's -Wmaybe-uninitialized */
  size_t n = 0;
  wow_json_status st = wow__find_non_null(json, len, key, &v, &n);
  if (st != WOW_JSON_OK) return st;
  if (*v != '-' && !wow__is_digit(*v)) return WOW_JSON_TYPE;
  bool plain = true;
  for (size_t i = 0; i < n; ++i)
    if (v[i] == '.' || v[i] == 'e' || v[i] == 'E') plain = false;
  if (plain) {
    bool negative = *v == '-';
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t acc = 0;
    for (size_t i = negative ? 1 : 0; i < n; ++i) {
      uint64_t digit = (uint64_t)(v[i] - '0');
      if (acc > (limit - digit) / 10) return WOW_JSON_RANGE;
      acc = acc * 10 + digit;
    }
    /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
    *out = negative ? (int64_t)(0 - acc) : (int64_t)acc;
    return WOW_JSON_OK;
  }
  double d;
  st = wow__number_value(v, n, &d);
  if (st != WOW_JSON_OK) return st;
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
    return WOW_JSON_RANGE;
  int64_t i = (int64_t)d;
  if ((double)i != d) return WOW_JSON_TYPE;
  *out = i;
  return WOW_JSON_OK;
}

static inline wow_json_status wow_json_get_bool(const char* json, size_t len,
                                                const char* key, bool* out) {
  const char* v = NULL; /* initialised for gcc's -Wmaybe-uninitialized */
  size_t n = 0;
  wow_json_status st = wow__find_non_null(json, len, key, &v, &n);
  if (st != WOW_JSON_OK) return st;
  if (*v != 't' && *v != 'f') return WOW_JSON_TYPE;
  *out = *v == 't';
  return WOW_JSON_OK;
}

/*
 * Unescaped string value of `key`, replacing the contents of `out` (UTF-8;
 * may contain NUL bytes, see out->len).
 */
static inline wow_json_status wow_json_get_string(const char* json, size_t len,
                                                  const char* key,
                                                  wow_buf* out) {
  const char* v = NULL; /* initialised for gcc's -Wmaybe-uninitialized */
  size_t n = 0;
  wow_json_status st = wow__find_non_null(json, len, key, &v, &n);
  if (st != WOW_JSON_OK) return st;
  if (*v != '"') return WOW_JSON_TYPE;
  wow_buf_reset(out);
  if (!wow_buf_reserve(out, n))
    return WOW_JSON_NOMEM; /* decoding only shrinks */
  size_t body = n - 1;     /* index of the closing quote */
  size_t i = 1;
  unsigned char ch[4];
  while (i < body) {
    size_t m = wow__decode_char(v, body, &i, ch);
    memcpy(out->data + out->len, ch, m);
    out->len += m;
  }
  out->data[out->len] = '\0';
  return WOW_JSON_OK;
}

/*
 * Appends json[0..len) (already valid) with insignificant whitespace removed,
 * so a result always fits on one output line.
 */
static inline void wow_json_compact(wow_buf* b, const char* json, size_t len) {
  size_t run = 0;
  size_t i = 0;
  while (i < len) {
    char c = json[i];
    if (c == '"') {
      if (!wow__scan_string(json, len, &i))
        i = len; /* unterminated: copy as is */
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      wow_buf_append(b, json + run, i - run);
      run = i = wow__ws(json, len, i);
    } else {
      ++i;
    }
  }
  wow_buf_append(b, json + run, len - run);
}

/* ------------------------------------------------------------------------ */
/* Parameter helpers: on failure they write an error object naming the key  */
/* into `out` and return false, so a handler can `return WOW_ERROR;`.       */
/* ------------------------------------------------------------------------ */

static inline bool wow__param_failed(wow_output* out, const char* key,
                                     wow_json_status st, const char* type) {
  switch (st) {
    case WOW_JSON_OK:
      return true;
    case WOW_JSON_MISSING:
      wow_error(out, "missing parameter '%s'", key);
      break;
    case WOW_JSON_TYPE:
      wow_error(out, "parameter '%s' must be %s", key, type);
      break;
    case WOW_JSON_RANGE:
      wow_error(out, "parameter '%s' is out of range", key);
      break;
    case WOW_JSON_INVALID:
      wow_error(out, "parameters are not a valid JSON object");
      break;
    case WOW_JSON_NOMEM:
      wow_error(out, "out of memory reading parameter '%s'", key);
      break;
  }
  return false;
}

/* Required parameters. */
static inline bool wow_require_int(const char* params, size_t len,
                                   const char* key, int64_t* value,
                                   wow_output* out) {
  return wow__param_failed(out, key, wow_json_get_int(params, len, key, value),
                           "an integer");
}

static inline bool wow_require_number(const char* params, size_t len,
                                      const char* key, double* value,
                                      wow_output* out) {
  return wow__param_failed(
      out, key, wow_json_get_number(params, len, key, value), "a number");
}

static inline bool wow_require_string(const char* params, size_t len,
                                      const char* key, wow_buf* value,
                                      wow_output* out) {
  return wow__param_failed(
      out, key, wow_json_get_string(params, len, key, value), "a string");
}

/* Optional parameters: a missing (or null) key yields `fallback`. */
static inline bool wow_param_int(const char* params, size_t len,
                                 const char* key, int64_t fallback,
                                 int64_t* value, wow_output* out) {
  wow_json_status st = wow_json_get_int(params, len, key, value);
  if (st == WOW_JSON_MISSING) {
    *value = fallback;
    return true;
  }
  return wow__param_failed(out, key, st, "an integer");
}

static inline bool wow_param_number(const char* params, size_t len,
                                    const char* key, double fallback,
                                    double* value, wow_output* out) {
  wow_json_status st = wow_json_get_number(params, len, key, value);
  if (st == WOW_JSON_MISSING) {
    *value = fallback;
    return true;
  }
  return wow__param_failed(out, key, st, "a number");
}

static inline bool wow_param_bool(const char* params, size_t len,
                                  const char* key, bool fallback, bool* value,
                                  wow_output* out) {
  wow_json_status st = wow_json_get_bool(params, len, key, value);
  if (st == WOW_JSON_MISSING) {
    *value = fallback;
    return true;
  }
  return wow__param_failed(out, key, st, "a boolean");
}

static inline bool wow_param_string(const char* params, size_t len,
                                    const char* key, const char* fallback,
                                    wow_buf* value, wow_output* out) {
  wow_json_status st = wow_json_get_string(params, len, key, value);
  if (st == WOW_JSON_MISSING) {
    wow_buf_reset(value);
    if (wow_buf_puts(value, fallback)) return true;
    st = WOW_JSON_NOMEM;
  }
  return wow__param_failed(out, key, st, "a string");
}

/* ------------------------------------------------------------------------ */
/* net_access: WOW's simulated I/O call.                                    */
/* ------------------------------------------------------------------------ */

#if defined(__wasm__)
/* Blocks 300 ms in the host and returns 0. Linked only with net_access. */
__attribute__((import_module("http"), import_name("get"))) int32_t wow_http_get(
    void);
#elif defined(__cplusplus)
} /* extern "C" */
/* Native stand-in: the same 300 ms of blocking. */
static inline int32_t wow_http_get(void) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return 0;
}
extern "C" {
#else
/* Native stand-in: the same 300 ms of blocking. */
static inline int32_t wow_http_get(void) {
  struct timespec left = {0, 300 * 1000 * 1000};
  /* -1 means interrupted by a signal: sleep for the time left. */
  while (thrd_sleep(&left, &left) == -1) continue;
  return 0;
}
#endif

/* ------------------------------------------------------------------------ */
/* Runtime glue behind WOW_ACTION.                                          */
/* ------------------------------------------------------------------------ */

/* Used when even the error envelope cannot be allocated. */
#define WOW__OOM_RESULT "{\"error\":\"out of memory\"}"

/*
 * Runs the handler on params[0..len) and leaves a valid, single-line JSON
 * value in `result`, unless result->failed (out of memory). Returns WOW_OK or
 * WOW_ERROR.
 */
static inline int wow__invoke(wow_handler handler, const char* params,
                              size_t len, wow_output* result) {
  if (wow_json_is_blank(params, len)) { /* no input: no parameters */
    params = "{}";
    len = 2;
  }
  if (!wow_json_validate_object(params, len))
    return wow_error(result, "parameters are not a valid JSON object");
  int rc = handler(params, len, result) == WOW_OK ? WOW_OK : WOW_ERROR;
  if (result->failed)
    return wow_error(result, "out of memory while building the result");
  if (result->len == 0) {
    if (rc == WOW_OK) return wow_buf_puts(result, "{}") ? WOW_OK : WOW_ERROR;
    return wow_error(result, "action failed without an error message");
  }
  if (!wow_json_validate(result->data, result->len))
    return wow_error(result, "action produced invalid JSON");
  wow_buf compact = WOW_BUF_INIT;
  wow_json_compact(&compact, result->data, result->len);
  if (compact.failed) {
    wow_buf_free(&compact);
    return wow_error(result, "out of memory while building the result");
  }
  wow_buf_free(result);
  *result = compact;
  char first = result->data[0];
  if (rc == WOW_OK && first != '{' && first != '[')
    return wow_error(result, "action result must be a JSON object or array");
  if (rc == WOW_ERROR && first != '{') {
    /* Keep a bare error value, but as the error object hosts expect. */
    wow_buf wrapped = WOW_BUF_INIT;
    wow_buf_puts(&wrapped, "{\"error\":");
    wow_buf_append(&wrapped, result->data, result->len);
    wow_buf_putc(&wrapped, '}');
    wow_buf_free(result);
    *result = wrapped; /* on failure the caller sees result->failed */
  }
  return rc;
}

/*
 * The WASI-command protocol over stdio: parameters on stdin (empty means
 * {}), the result as the last stdout line, exit status 0 for WOW_OK and 1 for
 * WOW_ERROR. Behind WOW_COMMAND on every target, and behind WOW_ACTION in
 * native builds.
 */
static inline int wow__run_command(wow_handler handler, int argc, char** argv) {
  (void)argc;
  (void)argv;
  wow_buf input = WOW_BUF_INIT;
  wow_output result = WOW_BUF_INIT;
  int rc;
  if (!wow_read_all(stdin, &input))
    rc = wow_error(&result, "cannot read parameters from stdin: %s",
                   input.failed ? "out of memory" : strerror(errno));
  else
    rc = wow__invoke(handler, input.data != NULL ? input.data : "", input.len,
                     &result);
  wow_buf_free(&input);
  if (result.failed) {
    rc = WOW_ERROR;
    fputs(WOW__OOM_RESULT "\n", stdout);
  } else {
    fwrite(result.data, 1, result.len, stdout);
    fputc('\n', stdout);
  }
  wow_buf_free(&result);
  if (fflush(stdout) != 0) return 1;
  return rc == WOW_OK ? 0 : 1;
}

/* Makes `handler` a WASI-command action on every target (wasm included). */
#define WOW_COMMAND(handler) \
  int main(int argc, char** argv) { return wow__run_command((handler), argc, argv); }

#if defined(__wasm__)

/* The exported buffer: parameters in, {"Ok":...}/{"Err":...} out. */
typedef struct wow__abi_buffer {
  char* data;
  size_t len;
  size_t cap;
} wow__abi_buffer;

/* Zero-initialised static state: untouched by constructor re-runs. */
static inline wow__abi_buffer* wow__abi(void) {
  static wow__abi_buffer buffer;
  return &buffer;
}

/* Keeps one spare byte so data[len] can hold a NUL for debugging. */
static inline void wow__abi_allocate(int32_t requested) {
  wow__abi_buffer* b = wow__abi();
  size_t len = (size_t)(uint32_t)requested;
  if (len == SIZE_MAX) abort();
  if (len >= b->cap) {
    char* data = (char*)realloc(b->data, len + 1);
    if (data == NULL) abort(); /* no error channel: trap */
    b->data = data;
    b->cap = len + 1;
  }
  b->len = len;
  b->data[len] = '\0';
}

static inline int32_t wow__abi_pointer(void) {
  return (int32_t)(uintptr_t)wow__abi()->data;
}

static inline int32_t wow__abi_len(void) { return (int32_t)wow__abi()->len; }

/* Strict decimal parse of an argv entry. */
static inline bool wow__parse_size(const char* s, size_t* out) {
  size_t v = 0;
  if (*s == '\0') return false;
  for (; *s != '\0'; ++s) {
    if (!wow__is_digit(*s)) return false;
    size_t digit = (size_t)(*s - '0');
    if (v > (SIZE_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *out = v;
  return true;
}

static inline int wow__run(wow_handler handler, int argc, char** argv) {
  wow__abi_buffer* b = wow__abi();
  wow_output result = WOW_BUF_INIT;
  int rc;
  /*
   * The parameter length is the last argv entry: WOW passes
   * [name, length], some hosts only [length]. Without a numeric entry (a
   * plain WASI run) the whole buffer is the input.
   */
  size_t len = b->len;
  bool have_len = argc >= 1 && wow__parse_size(argv[argc - 1], &len);
  if (argc >= 2 && !have_len) {
    rc = wow_error(&result, "last argument '%s' is not a parameter length",
                   argv[argc - 1]);
  } else if (len > b->len) {
    rc = wow_error(&result, "parameter length %zu exceeds the %zu-byte buffer",
                   len, b->len);
  } else {
    rc = wow__invoke(handler, b->data != NULL ? b->data : "", len, &result);
  }

  wow_buf envelope = WOW_BUF_INIT;
  wow_buf_puts(&envelope, rc == WOW_OK ? "{\"Ok\":" : "{\"Err\":");
  if (result.failed)
    wow_buf_puts(&envelope, WOW__OOM_RESULT);
  else
    wow_buf_append(&envelope, result.data, result.len);
  wow_buf_putc(&envelope, '}');
  wow_buf_free(&result);
  if (envelope.failed) {
    wow_buf_free(&envelope);
    static const char kOom[] = "{\"Err\":" WOW__OOM_RESULT "}";
    wow__abi_allocate((int32_t)(sizeof kOom - 1));
    memcpy(b->data, kOom, sizeof kOom - 1);
    return 0;
  }
  /* Hand the envelope's allocation to the ABI buffer. */
  free(b->data);
  b->data = envelope.data;
  b->len = envelope.len;
  b->cap = envelope.cap;
  return 0;
}

#define WOW__EXPORT(name) __attribute__((export_name(name), used))

#ifdef __cplusplus
#define WOW__EXTERN_C extern "C"
#else
#define WOW__EXTERN_C
#endif

/* Defines the WOW-ABI exports and main() for `handler`. */
#define WOW_ACTION(handler)                                           \
  WOW__EXTERN_C WOW__EXPORT("wasm_memory_buffer_allocate_space") void \
  wasm_memory_buffer_allocate_space(int32_t len) {                    \
    wow__abi_allocate(len);                                           \
  }                                                                   \
  WOW__EXTERN_C WOW__EXPORT("get_wasm_memory_buffer_pointer") int32_t \
  get_wasm_memory_buffer_pointer(void) {                              \
    return wow__abi_pointer();                                        \
  }                                                                   \
  WOW__EXTERN_C WOW__EXPORT("get_wasm_memory_buffer_len") int32_t     \
  get_wasm_memory_buffer_len(void) {                                  \
    return wow__abi_len();                                            \
  }                                                                   \
  int main(int argc, char** argv) { return wow__run((handler), argc, argv); }

#else /* native: the WASI-command protocol over stdio */

#define WOW_ACTION(handler) WOW_COMMAND(handler)

#endif /* __wasm__ */

#ifdef __cplusplus
} /* extern "C" */
#endif
