/* mtctl.h - shared declarations of the mtctl command-line tool. */
#ifndef MTCTL_H
#define MTCTL_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "mt_capi.h"

/* Exit codes (documented in mtctl(1)). */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,  /* the operation ran and failed: not found, stale, timed out, refused */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_LOCAL = 3    /* local problem: files, keys, permissions, engine start */
};

/* Options every network command accepts. */
typedef struct net_opts {
    char  bootstrap[4096];  /* comma list accumulated from --bootstrap */
    const char *listen;     /* --listen, or NULL for the default */
    int   timeout_ms;       /* --timeout */
} net_opts;

extern int g_json;           /* --json: one JSON document on stdout */
extern const char *g_prog;   /* "mtctl" */

/* Print an error (stderr, or a JSON error document on stdout with --json)
 * and return exit_code. */
int fail(int exit_code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Map an MT_E* code to an exit code. */
int exit_for(int mt_code);

/* Print a cJSON document (takes ownership). */
void emit_json(cJSON *doc);

/* Append one --bootstrap argument (HOST:PORT or a comma list). 0 or -1. */
int net_add_bootstrap(net_opts *o, const char *arg);

/*
 * Open a session for a one-shot network command and wait until its routing
 * table holds a node. Returns 0, or an exit code after printing the error.
 */
int net_open(const net_opts *o, mt_session **out);

/* Parse a non-negative integer option value; -1 if invalid. */
long long parse_count(const char *s, long long max);

/* Commands. argv[0] is the command word. */
int cmd_key(int argc, char **argv);
int cmd_dht(int argc, char **argv);
int cmd_testnet(int argc, char **argv);

#endif
