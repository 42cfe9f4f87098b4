/*
 * abi_runtime: a WASI command for the end-to-end tests of `wow proxy` and
 * `wow executor` (tests/proxy_test.cc, tests/executor_service_test.cc). It
 * reads its parameters on stdin and picks what to do from the string
 * parameter "mode" (an array, or an object without "mode", means "echo"):
 *
 *   echo    prints stdin back unchanged as the last stdout line, so the
 *           result is the parameters exactly (object or array).
 *   log     prints the string "out" as a line on stdout and "err" as a line
 *           on stderr (each when present), then echoes like `echo`.
 *   env     "names": "A,B,C" -> {"A": getenv("A") or null, ...}.
 *   scalar  prints 42: a result that is neither an object nor an array.
 *   spin    loops forever without calling the host.
 *   grow    mallocs 1 MiB blocks until malloc fails, logs how far it got on
 *           stderr, then returns {"allocated_mb": n} or, with "then":
 *           "abort", aborts (a trap).
 *   write   writes "content" to the file "path" and returns
 *           {"written": <bytes>}, or {"error": "<errno text>"}.
 *   exit    exits with "code" (default 3) without printing a result.
 *   spam    prints "lines" lines (default 1000) of "size" bytes (default
 *           100) on stdout, "spam <i> xxx...", then echoes like `echo`.
 *
 * Built by tests/CMakeLists.txt with clang-16 --target=wasm32-wasi.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wow.h"

static void print_result(const wow_buf* b) {
  fwrite(b->data != NULL ? b->data : "{}", 1, b->data != NULL ? b->len : 2, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void echo(const wow_buf* input) {
  /* The host sends compact JSON on one line; print it back as it came. */
  if (input->len == 0) {
    puts("{}");
  } else {
    fwrite(input->data, 1, input->len, stdout);
    fputc('\n', stdout);
  }
  fflush(stdout);
}

static int env_mode(const wow_buf* input) {
  wow_buf names = WOW_BUF_INIT, out = WOW_BUF_INIT;
  if (wow_json_get_string(input->data, input->len, "names", &names) != WOW_JSON_OK) {
    puts("{\"error\":\"env needs a string parameter 'names'\"}");
    return 0;
  }
  wow_json_begin_object(&out);
  char* save = NULL;
  for (char* name = strtok_r(names.data, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save)) {
    wow_json_key(&out, name);
    const char* value = getenv(name);
    if (value == NULL)
      wow_json_null(&out);
    else
      wow_json_string(&out, value);
  }
  wow_json_end_object(&out);
  print_result(&out);
  wow_buf_free(&names);
  wow_buf_free(&out);
  return 0;
}

static int grow_mode(const wow_buf* input) {
  wow_buf then = WOW_BUF_INIT;
  wow_json_get_string(input->data, input->len, "then", &then);
  size_t mb = 0;
  for (;;) {
    volatile char* block = (volatile char*)malloc(1u << 20);
    if (block == NULL) break;
    block[0] = 1; /* touch it */
    ++mb;
  }
  fprintf(stderr, "grow: malloc failed after %zu MiB\n", mb);
  fflush(stderr);
  if (then.data != NULL && strcmp(then.data, "abort") == 0) abort();
  printf("{\"allocated_mb\":%zu}\n", mb);
  return 0;
}

static int write_mode(const wow_buf* input) {
  wow_buf path = WOW_BUF_INIT, content = WOW_BUF_INIT, out = WOW_BUF_INIT;
  wow_json_get_string(input->data, input->len, "path", &path);
  wow_json_get_string(input->data, input->len, "content", &content);
  FILE* f = path.data != NULL ? fopen(path.data, "w") : NULL;
  wow_json_begin_object(&out);
  if (f == NULL) {
    wow_json_key(&out, "error");
    wow_json_string(&out, strerror(errno));
  } else {
    size_t n = fwrite(content.data != NULL ? content.data : "", 1, content.len, f);
    fclose(f);
    wow_json_key(&out, "written");
    wow_json_uint(&out, n);
  }
  wow_json_end_object(&out);
  print_result(&out);
  wow_buf_free(&path);
  wow_buf_free(&content);
  wow_buf_free(&out);
  return 0;
}

int main(void) {
  wow_buf input = WOW_BUF_INIT;
  if (!wow_read_all(stdin, &input)) {
    puts("{\"error\":\"cannot read stdin\"}");
    return 1;
  }
  wow_buf mode = WOW_BUF_INIT;
  if (input.len > 0 && wow_json_validate_object(input.data, input.len))
    wow_json_get_string(input.data, input.len, "mode", &mode);
  const char* m = mode.data != NULL ? mode.data : "echo";

  if (strcmp(m, "echo") == 0) {
    echo(&input);
    return 0;
  }
  if (strcmp(m, "log") == 0) {
    wow_buf line = WOW_BUF_INIT;
    if (wow_json_get_string(input.data, input.len, "out", &line) == WOW_JSON_OK) {
      printf("%s\n", line.data);
      fflush(stdout);
    }
    if (wow_json_get_string(input.data, input.len, "err", &line) == WOW_JSON_OK) {
      fprintf(stderr, "%s\n", line.data);
      fflush(stderr);
    }
    wow_buf_free(&line);
    echo(&input);
    return 0;
  }
  if (strcmp(m, "env") == 0) return env_mode(&input);
  if (strcmp(m, "scalar") == 0) {
    puts("42");
    return 0;
  }
  if (strcmp(m, "spin") == 0) {
    volatile unsigned long counter = 0;
    for (;;) ++counter;
  }
  if (strcmp(m, "grow") == 0) return grow_mode(&input);
  if (strcmp(m, "write") == 0) return write_mode(&input);
  if (strcmp(m, "spam") == 0) {
    int64_t lines = 1000, size = 100;
    wow_json_get_int(input.data, input.len, "lines", &lines);
    wow_json_get_int(input.data, input.len, "size", &size);
    for (int64_t i = 0; i < lines; ++i) {
      int n = printf("spam %" PRId64 " ", i);
      for (int64_t k = n; k < size; ++k) putchar('x');
      putchar('\n');
    }
    echo(&input);
    return 0;
  }
  if (strcmp(m, "exit") == 0) {
    int64_t code = 3;
    wow_json_get_int(input.data, input.len, "code", &code);
    exit((int)code);
  }
  printf("{\"error\":\"unknown mode '%s'\"}\n", m);
  return 0;
}
