/* net.c - mtctl: the session a one-shot network command opens. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_testnet.h"
#include "mtctl.h"

int net_add_bootstrap(net_opts *o, const char *arg)
{
    size_t have = strlen(o->bootstrap), add = strlen(arg);
    if (add == 0 || have + add + 2 > sizeof o->bootstrap)
        return -1;
    if (have)
        o->bootstrap[have++] = ',';
    memcpy(o->bootstrap + have, arg, add + 1);
    return 0;
}

int net_all_loopback(const char *list)
{
    char buf[4096], *save = NULL, *tok;
    int any = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(tok, ':');
        if (colon)
            *colon = '\0';
        if (!mt_addr_is_loopback(tok))
            return 0;
        any = 1;
    }
    return any;
}

int net_open(const net_opts *o, mt_session **out)
{
    mt_session_config cfg;
    mt_error err;
    int rc, loop = o->bootstrap[0] && net_all_loopback(o->bootstrap);
    char listen_host[64] = "";

    if (o->listen) {
        const char *colon = strrchr(o->listen, ':');
        size_t n = colon ? (size_t)(colon - o->listen) : 0;
        if (!colon || n == 0 || n >= sizeof listen_host || parse_count(colon + 1, 65535) < 0)
            return fail(EXIT_USAGE, "--listen wants ADDR:PORT, not '%s'", o->listen);
        memcpy(listen_host, o->listen, n);
        listen_host[n] = '\0';
        loop = mt_addr_is_loopback(listen_host);
    }
    if (loop) {
        mt_session_config_init_loopback(&cfg, o->listen ? o->listen : "127.0.0.1:0");
        cfg.outgoing_interfaces = o->listen ? listen_host : "127.0.0.1";
    } else {
        mt_session_config_init(&cfg);
        cfg.listen_interfaces = o->listen ? o->listen : "0.0.0.0:0,[::]:0";
        /* A one-shot command should not touch the router's port mappings. */
        cfg.enable_upnp = 0;
        cfg.enable_natpmp = 0;
        cfg.enable_lsd = 0;
    }
    if (o->bootstrap[0])
        cfg.dht_nodes = o->bootstrap;
    /* BEP-43 read-only: a one-shot process should not become a dead entry
     * in other nodes' routing tables once it exits. */
    cfg.dht_read_only = 1;
    rc = mt_session_new(&cfg, out, &err);
    if (rc)
        return fail(rc == MT_EINVAL ? EXIT_USAGE : EXIT_LOCAL, "cannot start a session: %s", err.message);
    rc = mt_dht_wait_nodes(*out, 1, o->timeout_ms, &err);
    if (rc) {
        mt_session_free(*out);
        *out = NULL;
        return fail(EXIT_FAILED, "could not join the DHT%s%s: %s", o->bootstrap[0] ? " via " : "",
                    o->bootstrap, err.message);
    }
    return EXIT_OK;
}
