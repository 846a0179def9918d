/*
 * tcprelay.h - a recording TCP relay for tests: accepts connections on one
 * loopback address, dials a target for each from another, copies bytes
 * both ways on its own thread and keeps every byte it carried, so a test can
 * search the wire for plaintext. Assertion failures go through Check.
 */
#ifndef MT_TCPRELAY_H
#define MT_TCPRELAY_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define T_RELAY_PAIRS 8

/* Bytes seen in one direction, in order (all connections appended). */
typedef struct t_rec {
    uint8_t *buf;
    size_t len, cap;
} t_rec;

typedef struct t_relay {
    int lfd, port;                   /* listening socket and its port */
    struct sockaddr_in target, bind_from;
    int cfd[T_RELAY_PAIRS], sfd[T_RELAY_PAIRS];
    int accepted;                    /* connections taken (read after t_relay_stop) */
    atomic_int stop;
    int stopped;
    pthread_t th;
    t_rec down, up;                  /* down: target to client; up: client to target */
} t_relay;

/* Listen on listen_addr (port 0: any) and relay each client to
 * target:target_port, dialling from bind_addr. At most T_RELAY_PAIRS at once. */
void t_relay_start(t_relay *r, const char *listen_addr, const char *bind_addr, const char *target,
                   int target_port);

/* Stop the thread and close every socket. Idempotent; the recordings stay. */
void t_relay_stop(t_relay *r);

/* Free the recordings. */
void t_relay_free(t_relay *r);

#endif
