/* Parses HTTP/1.1 request heads: just what the floor routes on. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "floor.h"

static const char* find_blank_line(const char* data, size_t len) {
  for (size_t i = 0; i + 3 < len; ++i)
    if (data[i] == '\r' && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n')
      return data + i;
  return NULL;
}

int floor_parse_request(const char* data, size_t len, struct floor_request* req) {
  const char* end = find_blank_line(data, len);
  if (!end) return len > 64 * 1024 ? -1 : 0;
  memset(req, 0, sizeof *req);
  req->head_len = (size_t)(end - data) + 4;

  /* "METHOD PATH HTTP/1.1\r\n" */
  const char* line_end = memchr(data, '\r', (size_t)(end - data) + 1);
  const char* space = memchr(data, ' ', (size_t)(line_end - data));
  if (!space) return -1;
  req->method = data;
  req->method_len = (size_t)(space - data);
  req->path = space + 1;
  const char* path_end = memchr(req->path, ' ', (size_t)(line_end - req->path));
  if (!path_end) return -1;
  req->path_len = (size_t)(path_end - req->path);

  /* Headers: only Content-Length matters (no chunked request bodies here). */
  const char* line = line_end + 2;
  while (line < end) {
    const char* eol = memchr(line, '\r', (size_t)(end - line) + 1);
    static const char name[] = "content-length:";
    if ((size_t)(eol - line) > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
      size_t value = 0;
      for (const char* p = line + sizeof name - 1; p < eol; ++p)
        if (isdigit((unsigned char)*p)) value = value * 10 + (size_t)(*p - '0');
      req->content_length = value;
    }
    line = eol + 2;
  }
  return 1;
}

bool floor_request_is(const struct floor_request* req, const char* method, const char* path) {
  size_t const m = strlen(method), p = strlen(path);
  if (req->method_len != m || memcmp(req->method, method, m) != 0) return false;
  /* The path may carry a query string. */
  return req->path_len >= p && memcmp(req->path, path, p) == 0 &&
         (req->path_len == p || req->path[p] == '?');
}
