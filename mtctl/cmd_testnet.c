/* cmd_testnet.c - mtctl testnet: serve a loopback DHT network. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_testnet.h"
#include "mt_util.h"
#include "mtctl.h"

static const char testnet_usage[] =
    "usage: mtctl testnet [--nodes N] [--seconds S] [--address A] [--json]\n"
    "\n"
    "Run N DHT nodes (default 8) on consecutive loopback addresses starting at\n"
    "A (default 127.0.1.1), each on a free port, bootstrapped to each other.\n"
    "Prints the endpoints once every routing table is filled, then serves\n"
    "until SIGINT/SIGTERM or until S seconds pass (default: forever).\n"
    "Point other commands at it with --bootstrap ENDPOINT.\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int cmd_testnet(int argc, char **argv)
{
    static const struct option opts[] = {
        {"nodes", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'},
        {"address", required_argument, NULL, 'a'},
        OPT_JSON,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long long nodes = 8, seconds = 0;
    const char *addr = "127.0.1.1";
    mt_testnet *net = NULL;
    mt_error err;
    struct sigaction sa;
    struct pollfd *pfd;
    int64_t deadline;
    int c, i, rc, n;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:s:a:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if ((nodes = parse_count(optarg, MT_TESTNET_MAX)) < 1)
                return fail(EXIT_USAGE, "--nodes wants 1-%d, not '%s'", MT_TESTNET_MAX, optarg);
            break;
        case 's':
            if ((seconds = parse_count(optarg, 365LL * 86400)) < 0)
                return fail(EXIT_USAGE, "--seconds wants a number of seconds, not '%s'", optarg);
            break;
        case 'a': addr = optarg; break;
        case 0: break; /* OPT_JSON */
        case 'h': fputs(testnet_usage, stdout); return EXIT_OK;
        default: return fail(EXIT_USAGE, "testnet: bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return fail(EXIT_USAGE, "testnet takes no arguments ('%s')", argv[optind]);
    if (!mt_addr_is_loopback(addr))
        return fail(EXIT_USAGE, "--address must be in 127.0.0.0/8, not '%s'", addr);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = mt_testnet_start(addr, (int)nodes, 60000, &net, &err);
    if (rc)
        return fail(rc == MT_EINVAL ? EXIT_USAGE : EXIT_LOCAL, "testnet: %s", err.message);
    n = mt_testnet_size(net);
    if (g_out.json) {
        cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "nodes");
        for (i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(mt_testnet_endpoint(net, i)));
        cJSON_AddStringToObject(doc, "bootstrap", mt_testnet_bootstrap(net));
        emit_json(doc);
    } else {
        for (i = 0; i < n; i++)
            printf("node %-4d %s\n", i, mt_testnet_endpoint(net, i));
        printf("bootstrap %s\n", mt_testnet_bootstrap(net));
        printf("serving %d nodes%s; Ctrl-C stops\n", n, seconds ? " for a limited time" : "");
        fflush(stdout);
    }

    pfd = calloc((size_t)n, sizeof *pfd);
    if (!pfd) {
        mt_testnet_free(net);
        return fail(EXIT_LOCAL, "out of memory");
    }
    for (i = 0; i < n; i++) {
        pfd[i].fd = mt_session_fd(mt_testnet_session(net, i));
        pfd[i].events = POLLIN;
    }
    deadline = seconds ? mt_now_ms() + seconds * 1000 : 0;
    while (!stop_flag && (!deadline || mt_now_ms() < deadline)) {
        poll(pfd, (nfds_t)n, 500);
        mt_testnet_drain(net); /* events are not needed; keep queues empty */
    }
    free(pfd);
    mt_testnet_free(net);
    if (!g_out.json)
        printf("stopped\n");
    return EXIT_OK;
}
