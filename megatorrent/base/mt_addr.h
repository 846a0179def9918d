/* mt_addr.h - address helpers shared by the daemon, the CLI and the tests. */
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
