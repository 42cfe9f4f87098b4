/*
 * filesys: writes a file, reads it back and returns what it read.
 *   {"dir": "/tmp/wow-filesys", "path": "<file>", "content": "..."}
 *     -> {"path": "<file>", "bytes": <count read>, "content": "<text read>"}
 * WOW ABI (wow.h). Needs the `dir` capability: the host must preopen the
 * directory (default /tmp/wow-filesys). Without it open() fails with
 * ENOTCAPABLE and the action returns an error object carrying the errno text.
 * Without `path`, the file is a fresh random name in `dir` (so concurrent
 * activations do not collide) and is removed afterwards; an explicit `path`
 * is left in place.
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wow.h"

static const char kDefaultDir[] = "/tmp/wow-filesys";
static const char kDefaultContent[] = "Hello from a wow action.\n";

static bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= (size_t)w;
  }
  return true;
}

static bool read_all(int fd, wow_buf* b) {
  for (;;) {
    if (!wow_buf_reserve(b, 4096)) {
      errno = ENOMEM;
      return false;
    }
    ssize_t r = read(fd, b->data + b->len, b->cap - b->len - 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) return true;
    b->len += (size_t)r;
    b->data[b->len] = '\0';
  }
}

/* Writes then reads `path`; on failure writes the error into `out`. */
static int round_trip(const char* path, const wow_buf* content,
                      wow_buf* read_back, wow_output* out) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return wow_error(out, "cannot open '%s' for writing: %s", path,
                     strerror(errno));
  bool ok =
      write_all(fd, content->data != NULL ? content->data : "", content->len);
  int saved = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (!ok)
    return wow_error(out, "cannot write '%s': %s", path, strerror(saved));

  fd = open(path, O_RDONLY);
  if (fd < 0)
    return wow_error(out, "cannot open '%s' for reading: %s", path,
                     strerror(errno));
  ok = read_all(fd, read_back);
  saved = errno;
  close(fd);
  if (!ok) return wow_error(out, "cannot read '%s': %s", path, strerror(saved));
  return WOW_OK;
}

static int filesys(const char* params, size_t len, wow_output* out) {
  wow_buf dir = WOW_BUF_INIT, path = WOW_BUF_INIT, content = WOW_BUF_INIT;
  wow_buf read_back = WOW_BUF_INIT;
  int rc = WOW_ERROR;
  bool generated = false;
  if (!wow_param_string(params, len, "dir", kDefaultDir, &dir, out) ||
      !wow_param_string(params, len, "path", "", &path, out) ||
      !wow_param_string(params, len, "content", kDefaultContent, &content, out))
    goto done;
  if (memchr(dir.data, '\0', dir.len) != NULL ||
      memchr(path.data, '\0', path.len) != NULL) {
    rc = wow_error(out, "paths must not contain NUL characters");
    goto done;
  }

  if (path.len == 0) {
    unsigned char nonce[8];
    if (getentropy(nonce, sizeof nonce) != 0) {
      rc = wow_error(out, "cannot pick a file name: %s", strerror(errno));
      goto done;
    }
    wow_buf_printf(&path, "%s/wow-filesys-", dir.data);
    for (size_t i = 0; i < sizeof nonce; ++i)
      wow_buf_printf(&path, "%02x", nonce[i]);
    wow_buf_puts(&path, ".txt");
    if (path.failed) {
      rc = wow_error(out, "out of memory");
      goto done;
    }
    generated = true;
    /* Natively the directory may not exist yet; under WASI it is the preopen
     * itself (EEXIST) or not granted (open reports that). */
    mkdir(dir.data, 0755);
  }

  rc = round_trip(path.data, &content, &read_back, out);
  if (generated) unlink(path.data);
  if (rc != WOW_OK) goto done;

  wow_json_begin_object(out);
  wow_json_key(out, "path");
  wow_json_string_n(out, path.data, path.len);
  wow_json_key(out, "bytes");
  wow_json_uint(out, read_back.len);
  wow_json_key(out, "content");
  wow_json_string_n(out, read_back.data != NULL ? read_back.data : "",
                    read_back.len);
  wow_json_end_object(out);

done:
  wow_buf_free(&dir);
  wow_buf_free(&path);
  wow_buf_free(&content);
  wow_buf_free(&read_back);
  return rc;
}

WOW_ACTION(filesys)
