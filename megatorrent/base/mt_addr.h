/*
 * mt_addr.h - address helpers shared by the daemon, the CLI and the tests.
 *
 * Errors and memory, as everywhere in the library (mt_error.h): 0 or a
 * negative MT_E* code, detail in an optional mt_error; strings and buffers
 * it returns are released with mt_free(), objects with their own *_free().
 */
#ifndef MT_ADDR_H
#define MT_ADDR_H

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if addr (dotted quad, nothing after it) lies in 127.0.0.0/8, else 0.
 * NULL gives 0. Used to pick loopback-network engine settings. */
int mt_addr_is_loopback(const char *addr);

#ifdef __cplusplus
}
#endif
#endif
