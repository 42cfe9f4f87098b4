/*
 * abi_confine: a WASI command for the confinement tests. Tries to reach files
 * outside the directory the host granted, both through raw WASI path_open
 * calls (relative to the preopened descriptor, so the host's own checks are
 * what stops them) and through wasi-libc's open() (which maps absolute paths
 * onto preopens first). Every attempt reports 0 or the errno it failed with:
 *   {"dir": "<granted dir>", "other": "<absolute path of a file elsewhere>"}
 *     -> {"preopen_fd": <fd or -1>,
 *         "raw":  {"<attempt>": <errno>, ..., "inside_content": "..."},
 *         "libc": {"<attempt>": <errno>, ..., "inside_content": "..."}}
 * The test prepares, inside the granted dir: sub/, link_read -> a file
 * outside, link_create -> a missing file outside, link_abs -> /etc/passwd,
 * link_inside -> target_inside (a file inside), link_rel -> ../outside/secret,
 * link_dir -> the other directory (absolute).
 * Built by tests/CMakeLists.txt with clang-16 --target=wasm32-wasi.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <unistd.h>
#include <wasi/api.h>

#include "wow.h"

static const char kContent[] = "written inside the granted directory\n";

static int raw_open(int dirfd, const char* path, int create, __wasi_fd_t* out) {
  __wasi_fd_t fd = 0;
  __wasi_oflags_t oflags = create ? (__WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC) : 0;
  __wasi_rights_t rights = __WASI_RIGHTS_FD_READ | (create ? __WASI_RIGHTS_FD_WRITE : 0);
  __wasi_errno_t e = __wasi_path_open((__wasi_fd_t)dirfd, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path,
                                      oflags, rights, 0, 0, &fd);
  if (e == 0) {
    if (out != NULL) {
      *out = fd;
    } else {
      (void)__wasi_fd_close(fd);
    }
  }
  return e;
}

static int libc_open(const char* path, int create) {
  int fd = create ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : open(path, O_RDONLY);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

static void report(wow_buf* out, const char* key, int err) {
  wow_json_key(out, key);
  wow_json_int(out, err);
}

/* The first preopened directory descriptor, or -1. */
static int find_preopen(void) {
  for (int fd = 3; fd < 64; ++fd) {
    __wasi_prestat_t prestat;
    if (__wasi_fd_prestat_get((__wasi_fd_t)fd, &prestat) == 0) return fd;
  }
  return -1;
}

static void raw_attempts(int dirfd, wow_buf* out) {
  /* Descriptor 3 when nothing is preopened: must fail (EBADF). */
  int fd = dirfd >= 0 ? dirfd : 3;
  report(out, "dotdot_read", raw_open(fd, "../outside/secret", 0, NULL));
  report(out, "dotdot_create", raw_open(fd, "../outside/created_raw", 1, NULL));
  report(out, "etc_passwd", raw_open(fd, "/etc/passwd", 0, NULL));
  report(out, "etc_passwd_dotdot", raw_open(fd, "../../../../../../../../etc/passwd", 0, NULL));
  report(out, "symlink_read", raw_open(fd, "link_read", 0, NULL));
  report(out, "symlink_create", raw_open(fd, "link_create", 1, NULL));
  report(out, "symlink_abs", raw_open(fd, "link_abs", 0, NULL));
  report(out, "sub_dotdot_create", raw_open(fd, "sub/../../x_raw", 1, NULL));
  report(out, "symlink_rel", raw_open(fd, "link_rel", 0, NULL));
  report(out, "symlink_dir", raw_open(fd, "link_dir/secret", 0, NULL));
  report(out, "symlink_inside", raw_open(fd, "link_inside", 0, NULL));

  __wasi_fd_t file = 0;
  int err = raw_open(fd, "inside_raw.txt", 1, &file);
  if (err == 0) {
    __wasi_ciovec_t iov = {(const uint8_t*)kContent, sizeof kContent - 1};
    __wasi_size_t n = 0;
    err = __wasi_fd_write(file, &iov, 1, &n);
    if (err == 0 && n != sizeof kContent - 1) err = -1;
    (void)__wasi_fd_close(file);
  }
  report(out, "inside_write", err);
  char buf[256] = {0};
  __wasi_size_t n = 0;
  err = raw_open(fd, "inside_raw.txt", 0, &file);
  if (err == 0) {
    __wasi_iovec_t iov = {(uint8_t*)buf, sizeof buf - 1};
    err = __wasi_fd_read(file, &iov, 1, &n);
    (void)__wasi_fd_close(file);
  }
  report(out, "inside_read", err);
  wow_json_key(out, "inside_content");
  wow_json_string_n(out, buf, err == 0 ? n : 0);
}

static void libc_attempts(const char* dir, const char* other, wow_buf* out) {
  wow_buf p = WOW_BUF_INIT;
#define AT(suffix) (p.len = 0, wow_buf_printf(&p, "%s%s", dir, suffix), p.data)
  report(out, "dotdot_read", libc_open(AT("/../outside/secret"), 0));
  report(out, "dotdot_create", libc_open(AT("/../outside/created_libc"), 1));
  report(out, "etc_passwd", libc_open("/etc/passwd", 0));
  report(out, "other_abs", libc_open(other, 0));
  report(out, "symlink_read", libc_open(AT("/link_read"), 0));
  report(out, "symlink_create", libc_open(AT("/link_create"), 1));
  report(out, "symlink_abs", libc_open(AT("/link_abs"), 0));
  report(out, "sub_dotdot_create", libc_open(AT("/sub/../../x_libc"), 1));
  report(out, "symlink_rel", libc_open(AT("/link_rel"), 0));
  report(out, "symlink_dir", libc_open(AT("/link_dir/secret"), 0));
  report(out, "symlink_inside", libc_open(AT("/link_inside"), 0));

  int err = 0;
  FILE* f = fopen(AT("/inside_libc.txt"), "w");
  if (f == NULL) {
    err = errno;
  } else {
    if (fputs(kContent, f) < 0) err = errno;
    if (fclose(f) != 0 && err == 0) err = errno;
  }
  report(out, "inside_write", err);
  char buf[256] = {0};
  size_t n = 0;
  f = fopen(AT("/inside_libc.txt"), "r");
  if (f == NULL) {
    err = errno;
  } else {
    err = 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    if (ferror(f)) err = errno;
    fclose(f);
  }
  report(out, "inside_read", err);
  wow_json_key(out, "inside_content");
  wow_json_string_n(out, buf, err == 0 ? n : 0);
#undef AT
  wow_buf_free(&p);
}

int main(void) {
  wow_buf params = WOW_BUF_INIT, result = WOW_BUF_INIT;
  wow_buf dir = WOW_BUF_INIT, other = WOW_BUF_INIT;
  if (!wow_read_all(stdin, &params) || !wow_json_validate_object(params.data, params.len) ||
      !wow_param_string(params.data, params.len, "dir", "/granted", &dir, &result) ||
      !wow_param_string(params.data, params.len, "other", "/nonexistent", &other, &result)) {
    if (result.len == 0) wow_error(&result, "bad parameters");
    puts(result.data);
    return 1;
  }
  int dirfd = find_preopen();
  wow_json_begin_object(&result);
  wow_json_key(&result, "preopen_fd");
  wow_json_int(&result, dirfd);
  wow_json_key(&result, "raw");
  wow_json_begin_object(&result);
  raw_attempts(dirfd, &result);
  /* "other" is absolute; the raw call must refuse it like /etc/passwd. */
  report(&result, "other_abs", raw_open(dirfd >= 0 ? dirfd : 3, other.data, 0, NULL));
  wow_json_end_object(&result);
  wow_json_key(&result, "libc");
  wow_json_begin_object(&result);
  libc_attempts(dir.data, other.data, &result);
  wow_json_end_object(&result);
  wow_json_end_object(&result);
  if (result.failed) {
    puts("{\"error\":\"out of memory\"}");
    return 1;
  }
  puts(result.data);
  return 0;
}
