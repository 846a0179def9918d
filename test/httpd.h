/*
 * httpd.h - a tiny HTTP/1.1 file server for the tests (web seeds).
 *
 * Serves regular files under a root folder for GET and HEAD, with one
 * "Range: bytes=a-b" / "bytes=a-" / "bytes=-n" range (206 + Content-Range,
 * 416 when unsatisfiable), keep-alive and pipelined requests, one thread per
 * connection. Refuses ".." path segments (403), answers 404 for missing
 * files, 405 for other methods, 400 for malformed requests and 431 for a
 * request header over 8 KiB. Paths are URL-decoded (%XX); a query string is
 * ignored. Never meant to face anything but loopback test traffic.
 */
#ifndef MT_TEST_HTTPD_H
#define MT_TEST_HTTPD_H

typedef struct mt_test_httpd mt_test_httpd;

/* Bytes of request line + headers accepted before answering 431. */
#define MT_TEST_HTTPD_HEADER_MAX 8192

/*
 * Listen on addr (numeric IPv4 or IPv6) and port (0: a free one, see
 * mt_test_httpd_port) and serve files under root from a background thread.
 * 0 on success (*out owns the server), -1 on failure (errno says why).
 */
int mt_test_httpd_start(const char *addr, int port, const char *root, mt_test_httpd **out);

/* The port the server listens on. */
int mt_test_httpd_port(const mt_test_httpd *h);

/* Requests answered so far (any status), and those answered 200 or 206. */
long mt_test_httpd_requests(mt_test_httpd *h);
long mt_test_httpd_ok_requests(mt_test_httpd *h);

/* Body bytes sent so far. */
long long mt_test_httpd_bytes(mt_test_httpd *h);

/* Stop every thread the server started, close every socket and free. NULL ok. */
void mt_test_httpd_stop(mt_test_httpd *h);

#endif
