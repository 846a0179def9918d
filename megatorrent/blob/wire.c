/*
 * wire.c - the mt-wire blob transport (see mt_wire.h): the frame codec, a
 * blocking client, and a server on an mt_loop (the caller's, or one run by
 * a thread of the server's own).
 *
 * Everything a peer sends is untrusted: lengths are checked against a cap
 * before any allocation, a blob's file name is only ever a validated
 * 64-hex id, and a misbehaving connection is closed without disturbing the
 * others. Ephemeral secrets and session keys are wiped when done.
 */
#define _GNU_SOURCE /* accept4 and pipe2: descriptors must be CLOEXEC from birth (mtd forks hooks) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "mt_blob.h"
#include "mt_error.h"
#include "mt_json.h"
#include "mt_loop.h"
#include "mt_util.h"
#include "mt_wire.h"

/* Bytes in front of and around a frame body. */
#define FRAME_HDR       4u
#define FRAME_OVERHEAD  (1u + MT_WIRE_TAG_BYTES)  /* type byte + tag */
#define NONCE_BYTES     crypto_aead_chacha20poly1305_ietf_NPUBBYTES

/* "[v6 address]:port" and a NUL fit in this. */
#define HOSTPORT_MAX    (INET6_ADDRSTRLEN + 10)
/* A PEERS answer holds at most this many "host:port" strings, each < 64. */
#define PEERS_MAX       200u
#define PEER_TEXT_MAX   64u
/* Longest peer ERROR text quoted in a message. */
#define ERROR_TEXT_MAX  120u
/* A client message is small; anything bigger than this is sent from heap. */
#define SMALL_FRAME     256u

#define CLIENT_TIMEOUT_DEFAULT 30000

#define SERVER_HS_TIMEOUT_DEFAULT   10000
#define SERVER_IDLE_TIMEOUT_DEFAULT 60000
#define SERVER_MAX_CONNS_DEFAULT    128
#define SERVER_MAX_CONNS_CAP        4096 /* bounds the tables allocated at start */
#define SERVER_PER_IP_DEFAULT       8
#define SERVER_FRAME_MIN            256u /* a REQUEST frame is 85 bytes */
#define SERVER_RBUF_INITIAL         4096u
/* Stop reading a connection's requests while this much is queued to it:
 * one DATA frame (about 1 MiB) at a time, plus a few small answers. */
#define SERVER_WQ_SOFT              (64u * 1024)
#define SERVER_ACCEPT_BURST         64
#define SERVER_ACCEPT_PAUSE_MS      100  /* after EMFILE and friends */
#define SERVER_LINGER_MS            1000 /* read-and-discard after our last word */
#define SERVER_EXPIRE_MAX_MS        1000 /* the expiry timer runs at least this often */

static const char HELLO_JSON[] = "{\"v\":5,\"gossip\":{}}";

/* ================================================================ codec */

void mt_wire_keypair(uint8_t pk[32], uint8_t sk[32])
{
    if (sodium_init() < 0)
        abort(); /* no randomness: nothing safe to return */
    randombytes_buf(sk, 32);
    crypto_scalarmult_base(pk, sk);
}

/* One session key: BLAKE2b-256(shared || label). */
static void derive_key(const uint8_t shared[32], char label, uint8_t out[32])
{
    crypto_generichash_state st;
    uint8_t l = (uint8_t)label;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, shared, 32);
    crypto_generichash_update(&st, &l, 1);
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof st);
}

int mt_wire_derive(const uint8_t sk[32], const uint8_t peer_pk[32], int initiator, mt_wire_keys *k,
                   uint8_t shared_out[32], mt_error *err)
{
    uint8_t shared[32];

    if (!sk || !peer_pk || !k)
        return mt_error_set(err, MT_EINVAL, "secret key, peer key and keys are required");
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    sodium_memzero(k, sizeof *k);
    /* libsodium refuses an all-zero result itself; the second check keeps
     * that promise independent of the library version. */
    if (crypto_scalarmult(shared, sk, peer_pk) != 0 || sodium_is_zero(shared, sizeof shared)) {
        sodium_memzero(shared, sizeof shared);
        return mt_error_set(err, MT_ECRYPTO, "peer key is a low-order point (all-zero shared secret)");
    }
    /* K_C protects initiator -> responder, K_S the way back. */
    derive_key(shared, 'C', initiator ? k->tx : k->rx);
    derive_key(shared, 'S', initiator ? k->rx : k->tx);
    if (shared_out)
        memcpy(shared_out, shared, sizeof shared);
    sodium_memzero(shared, sizeof shared);
    return MT_OK;
}

void mt_wire_keys_wipe(mt_wire_keys *k)
{
    if (k)
        sodium_memzero(k, sizeof *k);
}

int mt_wire_seal(mt_wire_keys *k, uint8_t type, const uint8_t *payload, size_t len, uint8_t *out,
                 size_t cap, size_t *out_len, mt_error *err)
{
    unsigned long long clen = 0;
    size_t body;

    if (!k || !out || !out_len || (!payload && len))
        return mt_error_set(err, MT_EINVAL, "keys, output and payload are required");
    if (len > MT_WIRE_FRAME_MAX - FRAME_OVERHEAD)
        return mt_error_set(err, MT_ETOOBIG, "payload of %zu bytes is over the frame cap (%u bytes)", len,
                            (unsigned)(MT_WIRE_FRAME_MAX - FRAME_OVERHEAD));
    body = len + FRAME_OVERHEAD;
    if (cap < FRAME_HDR + body)
        return mt_error_set(err, MT_EINVAL, "output buffer of %zu bytes is too small for a %zu-byte frame", cap,
                            FRAME_HDR + body);
    /* memmove: the server reads a blob straight to out + 5 and seals it there. */
    if (len)
        memmove(out + FRAME_HDR + 1, payload, len);
    out[FRAME_HDR] = type;
    crypto_aead_chacha20poly1305_ietf_encrypt(out + FRAME_HDR, &clen, out + FRAME_HDR, len + 1, NULL, 0, NULL,
                                              k->tx_nonce, k->tx);
    out[0] = (uint8_t)(body >> 24);
    out[1] = (uint8_t)(body >> 16);
    out[2] = (uint8_t)(body >> 8);
    out[3] = (uint8_t)body;
    sodium_increment(k->tx_nonce, NONCE_BYTES);
    *out_len = FRAME_HDR + body;
    return MT_OK;
}

int mt_wire_open(mt_wire_keys *k, uint8_t *body, size_t len, uint8_t *type, uint8_t **payload,
                 size_t *payload_len, mt_error *err)
{
    unsigned long long mlen = 0;

    if (!k || !body || !type || !payload || !payload_len)
        return mt_error_set(err, MT_EINVAL, "keys, body and outputs are required");
    if (len < FRAME_OVERHEAD)
        return mt_error_set(err, MT_EINVAL, "frame of %zu bytes is shorter than a tag and a type byte", len);
    /* The nonce moves only when the tag checks, so a forged frame cannot
     * desynchronise the stream (the connection is closed anyway). */
    if (crypto_aead_chacha20poly1305_ietf_decrypt(body, &mlen, NULL, body, len, NULL, 0, k->rx_nonce, k->rx) != 0)
        return mt_error_set(err, MT_ECRYPTO, "frame of %zu bytes failed authentication", len);
    sodium_increment(k->rx_nonce, NONCE_BYTES);
    *type = body[0];
    *payload = body + 1;
    *payload_len = (size_t)mlen - 1;
    return MT_OK;
}

int mt_wire_frame_len(const uint8_t hdr[4], size_t cap, uint32_t *len, mt_error *err)
{
    uint32_t n;
    if (!hdr || !len)
        return mt_error_set(err, MT_EINVAL, "header and length are required");
    n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];
    if (n > cap)
        return mt_error_set(err, MT_ETOOBIG, "frame of %lu bytes is over the cap of %zu", (unsigned long)n, cap);
    if (n < FRAME_OVERHEAD)
        return mt_error_set(err, MT_EINVAL, "frame of %lu bytes is shorter than a tag and a type byte",
                            (unsigned long)n);
    *len = n;
    return MT_OK;
}

/* ===================================================== addresses, sockets */

/*
 * Parse a numeric "a.b.c.d:port" or "[v6]:port" into ss. Port 0 only when
 * allow_zero (a listen address). Names are not resolved: peers come from
 * the DHT as numbers, and a lookup would block the caller.
 */
static int parse_hostport(const char *s, int allow_zero, struct sockaddr_storage *ss, socklen_t *sslen,
                          mt_error *err)
{
    char host[INET6_ADDRSTRLEN];
    const char *port_s, *end;
    size_t hl, i;
    unsigned long port = 0;

    if (!s)
        return mt_error_set(err, MT_EINVAL, "address is required");
    if (strnlen(s, HOSTPORT_MAX) >= HOSTPORT_MAX)
        return mt_error_set(err, MT_EINVAL, "address is too long");
    if (s[0] == '[') {
        end = strchr(s, ']');
        if (!end || end[1] != ':')
            return mt_error_set(err, MT_EINVAL, "%s: expected [v6 address]:port", s);
        hl = (size_t)(end - s - 1);
        if (hl == 0 || hl >= sizeof host)
            return mt_error_set(err, MT_EINVAL, "%s: bad IPv6 address", s);
        memcpy(host, s + 1, hl);
        port_s = end + 2;
    } else {
        end = strrchr(s, ':');
        if (!end)
            return mt_error_set(err, MT_EINVAL, "%s: expected host:port", s);
        hl = (size_t)(end - s);
        if (hl == 0 || hl >= sizeof host || memchr(s, ':', hl))
            return mt_error_set(err, MT_EINVAL, "%s: expected a.b.c.d:port or [v6]:port", s);
        memcpy(host, s, hl);
        port_s = end + 1;
    }
    host[hl] = '\0';
    for (i = 0; port_s[i]; i++) {
        if (i >= 5 || port_s[i] < '0' || port_s[i] > '9')
            return mt_error_set(err, MT_EINVAL, "%s: bad port", s);
        port = port * 10 + (unsigned long)(port_s[i] - '0');
    }
    if (i == 0 || port > 65535 || (port == 0 && !allow_zero))
        return mt_error_set(err, MT_EINVAL, "%s: bad port", s);

    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return mt_error_set(err, MT_EINVAL, "%s: bad IPv6 address", s);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            return mt_error_set(err, MT_EINVAL, "%s: bad IPv4 address", s);
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *sslen = sizeof *a4;
    }
    return MT_OK;
}

/* Milliseconds left until deadline, at least 0 and at most INT_MAX-ish. */
static int ms_left(int64_t deadline)
{
    int64_t left = deadline - mt_now_ms();
    if (left < 0)
        return 0;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Wait for events on fd until deadline: 0, MT_ETIMEDOUT or MT_EIO. */
static int wait_fd(int fd, short events, int64_t deadline, const char *who, mt_error *err)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int left = ms_left(deadline), n = poll(&p, 1, left);
        if (n > 0)
            return MT_OK; /* errors and hang-ups surface in the following recv/send */
        if (n == 0)
            return mt_error_set(err, MT_ETIMEDOUT, "%s: timed out", who);
        if (errno != EINTR)
            return mt_error_set(err, MT_EIO, "%s: poll: %s", who, strerror(errno));
    }
}

/* Send all n bytes before deadline (non-blocking socket). */
static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline, const char *who, mt_error *err)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(fd, POLLOUT, deadline, who, err);
            if (rc)
                return rc;
            continue;
        }
        return mt_error_set(err, MT_EIO, "%s: send: %s", who, w < 0 ? strerror(errno) : "no progress");
    }
    return MT_OK;
}

/* Receive exactly n bytes before deadline; the peer closing is MT_EIO. */
static int recv_all(int fd, uint8_t *p, size_t n, int64_t deadline, const char *who, mt_error *err)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r == 0)
            return mt_error_set(err, MT_EIO, "%s: connection closed by peer", who);
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(fd, POLLIN, deadline, who, err);
            if (rc)
                return rc;
            continue;
        }
        return mt_error_set(err, MT_EIO, "%s: recv: %s", who, strerror(errno));
    }
    return MT_OK;
}

/* Peer text (an ERROR payload) made printable and bounded for a message. */
static void printable(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t i, j = 0;
    for (i = 0; i < n && j + 1 < cap; i++)
        out[j++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[j] = '\0';
}

/* ================================================================ client */

struct mt_wire_conn {
    int         fd;
    int         broken; /* an exchange failed half-way: the stream is out of step */
    mt_wire_keys k;
    char        peer[HOSTPORT_MAX];
};

/* Seal and send one small frame. */
static int client_send(mt_wire_conn *c, uint8_t type, const void *payload, size_t len, int64_t deadline,
                       mt_error *err)
{
    uint8_t frame[SMALL_FRAME];
    size_t flen = 0;
    int rc = mt_wire_seal(&c->k, type, payload, len, frame, sizeof frame, &flen, err);
    if (rc == 0)
        rc = send_all(c->fd, frame, flen, deadline, c->peer, err);
    sodium_memzero(frame, sizeof frame);
    if (rc)
        c->broken = 1;
    return rc;
}

/*
 * Read one frame: the length is checked against MT_WIRE_FRAME_MAX before the
 * body is allocated. *body (malloc'd) holds the decrypted frame; *payload
 * points into it.
 */
static int client_recv(mt_wire_conn *c, int64_t deadline, uint8_t **body, uint8_t *type, uint8_t **payload,
                       size_t *plen, mt_error *err)
{
    uint8_t hdr[FRAME_HDR], *b;
    uint32_t len = 0;
    int rc;

    *body = NULL;
    rc = recv_all(c->fd, hdr, sizeof hdr, deadline, c->peer, err);
    if (rc == 0 && (rc = mt_wire_frame_len(hdr, MT_WIRE_FRAME_MAX, &len, err)) != 0)
        mt_error_prefix(err, c->peer);
    if (rc) {
        c->broken = 1;
        return rc;
    }
    b = malloc(len);
    if (!b) {
        c->broken = 1;
        return mt_error_set(err, MT_ENOMEM, "%s: out of memory for a %lu-byte frame", c->peer,
                            (unsigned long)len);
    }
    rc = recv_all(c->fd, b, len, deadline, c->peer, err);
    if (rc == 0 && (rc = mt_wire_open(&c->k, b, len, type, payload, plen, err)) != 0)
        mt_error_prefix(err, c->peer);
    if (rc) {
        free(b);
        c->broken = 1;
        return rc;
    }
    *body = b;
    return MT_OK;
}

/* Non-blocking connect bounded by deadline. */
static int tcp_connect(const struct sockaddr_storage *ss, socklen_t sslen, int64_t deadline, const char *who,
                       int *out, mt_error *err)
{
    int fd, soerr = 0, one = 1, rc;
    socklen_t sl = sizeof soerr;

    fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mt_error_set(err, MT_EIO, "%s: socket: %s", who, strerror(errno));
    if (connect(fd, (const struct sockaddr *)ss, sslen) != 0) {
        if (errno != EINPROGRESS) {
            rc = mt_error_set(err, MT_EIO, "%s: connect: %s", who, strerror(errno));
            close(fd);
            return rc;
        }
        rc = wait_fd(fd, POLLOUT, deadline, who, err);
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            soerr = errno;
        if (rc == 0 && soerr != 0)
            rc = mt_error_set(err, MT_EIO, "%s: connect: %s", who, strerror(soerr));
        if (rc) {
            close(fd);
            return rc;
        }
    }
    /* Requests are tiny; don't let Nagle hold them back. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *out = fd;
    return MT_OK;
}

/* Default for a non-positive timeout. */
static int64_t deadline_of(int timeout_ms)
{
    return mt_now_ms() + (timeout_ms > 0 ? timeout_ms : CLIENT_TIMEOUT_DEFAULT);
}

int mt_wire_connect(const char *hostport, int timeout_ms, mt_wire_conn **out, mt_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    uint8_t pk[32], sk[32], peer_pk[32];
    mt_wire_conn *c;
    int64_t deadline;
    int rc;

    if (!hostport || !out)
        return mt_error_set(err, MT_EINVAL, "address and out are required");
    *out = NULL;
    rc = parse_hostport(hostport, 0, &ss, &sslen, err);
    if (rc)
        return rc;
    c = calloc(1, sizeof *c);
    if (!c)
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    snprintf(c->peer, sizeof c->peer, "%s", hostport);
    deadline = deadline_of(timeout_ms);
    rc = tcp_connect(&ss, sslen, deadline, c->peer, &c->fd, err);
    if (rc) {
        free(c);
        return rc;
    }
    /* The handshake is a step of its own with a fresh deadline. */
    deadline = deadline_of(timeout_ms);
    mt_wire_keypair(pk, sk);
    rc = send_all(c->fd, pk, sizeof pk, deadline, c->peer, err);
    if (rc == 0)
        rc = recv_all(c->fd, peer_pk, sizeof peer_pk, deadline, c->peer, err);
    if (rc == 0 && (rc = mt_wire_derive(sk, peer_pk, 1, &c->k, NULL, err)) != 0)
        mt_error_prefix(err, c->peer);
    sodium_memzero(sk, sizeof sk);
    if (rc == 0)
        rc = client_send(c, MT_WIRE_HELLO, HELLO_JSON, sizeof HELLO_JSON - 1, deadline, err);
    if (rc) {
        mt_wire_close(c);
        return rc;
    }
    *out = c;
    return MT_OK;
}

/* Common checks of get and find_peers. */
static int client_ready(const mt_wire_conn *c, const char *blob_id, mt_error *err)
{
    if (!c)
        return mt_error_set(err, MT_EINVAL, "connection is required");
    if (c->broken)
        return mt_error_set(err, MT_ESTATE, "%s: connection is unusable after an earlier error", c->peer);
    if (!blob_id || !mt_blob_id_valid(blob_id))
        return mt_error_set(err, MT_EINVAL, "blob id must be 64 lower-case hex digits");
    return MT_OK;
}

int mt_wire_get(mt_wire_conn *c, const char *blob_id, int timeout_ms, uint8_t **blob, size_t *len,
                mt_error *err)
{
    int64_t deadline = deadline_of(timeout_ms);
    int rc;

    if (!blob || !len)
        return mt_error_set(err, MT_EINVAL, "blob and len are required");
    *blob = NULL;
    *len = 0;
    rc = client_ready(c, blob_id, err);
    if (rc == 0)
        rc = client_send(c, MT_WIRE_REQUEST, blob_id, 2 * 32, deadline, err);
    while (rc == 0) {
        uint8_t *body, *payload, type = 0;
        size_t plen = 0;
        char got[MT_BLOB_ID_HEX], text[ERROR_TEXT_MAX];

        rc = client_recv(c, deadline, &body, &type, &payload, &plen, err);
        if (rc)
            break;
        if (type == MT_WIRE_DATA) {
            /* Content addressing is the only integrity a blob has in transit. */
            mt_blob_id(payload, plen, got);
            if (strcmp(got, blob_id) != 0) {
                free(body);
                return mt_error_set(err, MT_ECRYPTO, "%s: blob %.16s... arrived with SHA-256 %.16s...", c->peer,
                                    blob_id, got);
            }
            memmove(body, payload, plen);
            *blob = body;
            *len = plen;
            return MT_OK;
        }
        if (type == MT_WIRE_ERROR) {
            printable(payload, plen, text, sizeof text);
            free(body);
            return mt_error_set(err, MT_ENOTFOUND, "%s: blob %.16s...: peer says \"%s\"", c->peer, blob_id, text);
        }
        free(body); /* HELLO and anything else unasked for */
    }
    return rc;
}

/* Turn a PEERS payload into at most PEERS_MAX checked "host:port" strings. */
static int parse_peers(const uint8_t *p, size_t n, char ***peers, size_t *count, const char *who, mt_error *err)
{
    cJSON *root = NULL, *it;
    char **list;
    size_t k = 0;
    int rc = mt_json_parse((const char *)p, n, 0, MT_WIRE_FRAME_MAX, 4, &root, err);

    if (rc) {
        mt_error_prefix(err, "PEERS");
        mt_error_prefix(err, who);
        return rc;
    }
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return mt_error_set(err, MT_EINVAL, "%s: PEERS is not a JSON array", who);
    }
    list = calloc(PEERS_MAX, sizeof *list);
    if (!list) {
        cJSON_Delete(root);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    cJSON_ArrayForEach(it, root) {
        struct sockaddr_storage ss;
        socklen_t sl;
        const char *s = cJSON_GetStringValue(it);
        if (k == PEERS_MAX)
            break;
        if (!s || strlen(s) >= PEER_TEXT_MAX || parse_hostport(s, 0, &ss, &sl, NULL) != 0)
            continue; /* not host:port: dropped, as documented */
        list[k] = strdup(s);
        if (!list[k]) {
            mt_wire_peers_free(list, k);
            cJSON_Delete(root);
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        }
        k++;
    }
    cJSON_Delete(root);
    *peers = list;
    *count = k;
    return MT_OK;
}

int mt_wire_find_peers(mt_wire_conn *c, const char *blob_id, int timeout_ms, char ***peers, size_t *n,
                       mt_error *err)
{
    int64_t deadline = deadline_of(timeout_ms);
    int rc;

    if (!peers || !n)
        return mt_error_set(err, MT_EINVAL, "peers and n are required");
    *peers = NULL;
    *n = 0;
    rc = client_ready(c, blob_id, err);
    if (rc == 0)
        rc = client_send(c, MT_WIRE_FIND_PEERS, blob_id, 2 * 32, deadline, err);
    while (rc == 0) {
        uint8_t *body, *payload, type = 0;
        size_t plen = 0;
        char text[ERROR_TEXT_MAX];

        rc = client_recv(c, deadline, &body, &type, &payload, &plen, err);
        if (rc)
            break;
        if (type == MT_WIRE_PEERS) {
            rc = parse_peers(payload, plen, peers, n, c->peer, err);
            free(body);
            return rc;
        }
        if (type == MT_WIRE_ERROR) {
            printable(payload, plen, text, sizeof text);
            free(body);
            return mt_error_set(err, MT_EIO, "%s: FIND_PEERS: peer says \"%s\"", c->peer, text);
        }
        free(body);
    }
    return rc;
}

void mt_wire_peers_free(char **peers, size_t n)
{
    size_t i;
    if (!peers)
        return;
    for (i = 0; i < n; i++)
        free(peers[i]);
    free(peers);
}

void mt_wire_close(mt_wire_conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    mt_wire_keys_wipe(&c->k);
    free(c);
}

/* ================================================================ server */

enum conn_state {
    C_KEY,     /* waiting for the peer's 32-byte key */
    C_FRAMES,  /* keys derived: reading requests */
    C_CLOSING, /* said our last word (an ERROR): flushing it, reading nothing */
    C_DRAIN,   /* flushed and shut down for writing: discarding input until EOF */
    C_DEAD     /* closed (and unwatched); freed by its caller's conn_reap */
};

typedef struct wconn {
    mt_wire_server *s;
    size_t       slot;   /* index in s->conns */
    int          fd;
    int          state;
    int          mask;   /* MT_LOOP_* the loop watches fd for */
    uint8_t      ip[16]; /* IPv4 as v4-mapped IPv6, for the per-IP count */
    uint8_t      sk[32]; /* ephemeral secret until the peer's key arrives */
    mt_wire_keys k;
    uint8_t     *rbuf;   /* received bytes not yet handled */
    size_t       rlen, rcap;
    uint8_t     *wbuf;   /* sealed frames not yet sent: wbuf[woff, wlen) */
    size_t       woff, wlen, wcap;
    int64_t      started_ms, last_ms, linger_until;
} wconn;

/* Everything but stats belongs to the loop's thread. */
struct mt_wire_server {
    mt_wire_server_config cfg;
    char            *blob_dir;
    int              lfd, port;
    mt_loop         *loop;
    int              own_loop;       /* thread mode: loop and thread are ours */
    pthread_t        thread;
    int              thread_started;
    pthread_mutex_t  mu;    /* guards stats */
    mt_wire_server_stats stats;
    wconn          **conns; /* n_conns open, at most cfg.max_conns */
    size_t           n_conns;
    char           (*peer_out)[PEER_TEXT_MAX];
    int64_t          expire_id, expire_at; /* the expiry timer and when it is due */
    int64_t          resume_id;            /* re-watch lfd after EMFILE and friends */
};

/* Stats are written here and read by other threads: always under mu. */
#define STAT_ADD(s, field, n)                  \
    do {                                       \
        pthread_mutex_lock(&(s)->mu);          \
        (s)->stats.field += (n);               \
        pthread_mutex_unlock(&(s)->mu);        \
    } while (0)

void mt_wire_server_config_init(mt_wire_server_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->handshake_timeout_ms = SERVER_HS_TIMEOUT_DEFAULT;
    cfg->idle_timeout_ms = SERVER_IDLE_TIMEOUT_DEFAULT;
    cfg->max_conns = SERVER_MAX_CONNS_DEFAULT;
    cfg->max_conns_per_ip = SERVER_PER_IP_DEFAULT;
    cfg->frame_max = MT_WIRE_SERVER_FRAME_MAX;
}

static size_t wq_pending(const wconn *c)
{
    return c->wlen - c->woff;
}

/* Unwatch and close the socket and wipe the connection's secrets; whoever
 * holds the connection when its handling ends frees it (conn_reap). */
static void conn_close(wconn *c)
{
    if (c->state == C_DEAD)
        return;
    mt_loop_unwatch(c->s->loop, c->fd); /* before close: the number may be reused at once */
    close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
    sodium_memzero(c->sk, sizeof c->sk);
    mt_wire_keys_wipe(&c->k);
    if (c->rbuf)
        sodium_memzero(c->rbuf, c->rcap); /* decrypted requests lived here */
    free(c->rbuf);
    free(c->wbuf);
    c->rbuf = c->wbuf = NULL;
    c->rlen = c->rcap = c->woff = c->wlen = c->wcap = 0;
}

/* A frame or handshake the peer got wrong: count it and drop the peer. */
static void conn_bad(mt_wire_server *s, wconn *c)
{
    STAT_ADD(s, bad_frames, 1);
    conn_close(c);
}

/* Make room for need more bytes at the end of the write queue. */
static int wq_reserve(wconn *c, size_t need)
{
    uint8_t *nb;
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->wcap - c->wlen >= need)
        return 0;
    if (c->woff > 0) { /* compact before growing */
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
        if (c->wcap - c->wlen >= need)
            return 0;
    }
    nb = realloc(c->wbuf, c->wlen + need);
    if (!nb)
        return -1;
    c->wbuf = nb;
    c->wcap = c->wlen + need;
    return 0;
}

/* Seal a frame onto the write queue; the connection is closed on failure. */
static int conn_queue(wconn *c, uint8_t type, const void *payload, size_t len)
{
    size_t flen = 0;
    if (wq_reserve(c, len + FRAME_HDR + FRAME_OVERHEAD) != 0 ||
        mt_wire_seal(&c->k, type, payload, len, c->wbuf + c->wlen, c->wcap - c->wlen, &flen, NULL) != 0) {
        conn_close(c);
        return -1;
    }
    c->wlen += flen;
    return 0;
}

/* Say ERROR text and close once it is sent. */
static void conn_refuse(wconn *c, const char *text)
{
    if (conn_queue(c, MT_WIRE_ERROR, text, strlen(text)) == 0)
        c->state = C_CLOSING;
}

/* A payload that must be a blob id: copied out NUL-terminated, or -1. */
static int payload_id(const uint8_t *p, size_t n, char id[MT_BLOB_ID_HEX])
{
    if (n != MT_BLOB_ID_HEX - 1)
        return -1;
    memcpy(id, p, n);
    id[n] = '\0';
    return mt_blob_id_valid(id) ? 0 : -1;
}

/*
 * Read blob_dir/<id> straight into the write queue and seal it there. The
 * path is built from nothing but the validated id; symlinks, non-regular
 * files (a FIFO would block the loop), files over MT_BLOB_BYTES and files
 * whose content no longer matches their name are all "Not Found".
 */
static void serve_blob(mt_wire_server *s, wconn *c, const char *id)
{
    char path[4096];
    struct stat st;
    size_t size, got = 0, flen = 0;
    uint8_t *at;
    char check[MT_BLOB_ID_HEX];
    int fd = -1, ok = 0;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", s->blob_dir, id) < sizeof path)
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
        (uint64_t)st.st_size <= MT_BLOB_BYTES) {
        size = (size_t)st.st_size;
        if (wq_reserve(c, size + FRAME_HDR + FRAME_OVERHEAD) != 0) {
            close(fd);
            conn_close(c);
            return;
        }
        at = c->wbuf + c->wlen + FRAME_HDR + 1;
        while (got < size) {
            ssize_t r = read(fd, at + got, size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got == size) {
            mt_blob_id(at, size, check);
            ok = strcmp(check, id) == 0;
        }
    }
    if (fd >= 0)
        close(fd);
    if (!ok) {
        STAT_ADD(s, not_found, 1);
        conn_queue(c, MT_WIRE_ERROR, "Not Found", 9);
        return;
    }
    /* The payload already sits where mt_wire_seal puts it. */
    if (mt_wire_seal(&c->k, MT_WIRE_DATA, at, size, c->wbuf + c->wlen, c->wcap - c->wlen, &flen, NULL) != 0) {
        conn_close(c);
        return;
    }
    c->wlen += flen;
    STAT_ADD(s, blobs_served, 1);
    if (s->cfg.served)
        s->cfg.served(s->cfg.ud, id);
}

/* Answer FIND_PEERS from the callback: a JSON array of "host:port". */
static void serve_peers(mt_wire_server *s, wconn *c, const char *id)
{
    cJSON *arr = cJSON_CreateArray();
    char *text = NULL;
    size_t n = 0, i;

    if (arr && s->cfg.peers) {
        n = s->cfg.peers(s->cfg.ud, id, s->peer_out, PEERS_MAX);
        if (n > PEERS_MAX)
            n = PEERS_MAX;
    }
    for (i = 0; arr && i < n; i++) {
        cJSON *str;
        s->peer_out[i][PEER_TEXT_MAX - 1] = '\0'; /* the callback's strings are not trusted to end */
        if (!mt_json_utf8_valid(s->peer_out[i]))
            continue;
        str = cJSON_CreateString(s->peer_out[i]);
        if (!str || !cJSON_AddItemToArray(arr, str)) {
            cJSON_Delete(str);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    if (arr)
        text = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    if (!text) {
        conn_close(c);
        return;
    }
    conn_queue(c, MT_WIRE_PEERS, text, strlen(text));
    free(text);
}

/*
 * HELLO: only the version matters here; a peer that says it is older is
 * told and dropped. Like the reference (`v < 5`), a HELLO we cannot read a
 * version from is ignored rather than refused: its gossip is not ours to
 * judge.
 */
static void handle_hello(wconn *c, const uint8_t *p, size_t n)
{
    cJSON *root = NULL, *v;
    int old = 0;
    if (mt_json_parse((const char *)p, n, 0, n, 64, &root, NULL) == 0) {
        v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "v") : NULL;
        old = cJSON_IsNumber(v) && v->valuedouble < MT_WIRE_VERSION;
        cJSON_Delete(root);
    }
    if (old)
        conn_refuse(c, "Protocol Version Mismatch");
}

/* One decrypted frame from a client. */
static void handle_frame(mt_wire_server *s, wconn *c, uint8_t type, const uint8_t *p, size_t n)
{
    char id[MT_BLOB_ID_HEX];
    switch (type) {
    case MT_WIRE_HELLO:
        handle_hello(c, p, n);
        break;
    case MT_WIRE_REQUEST:
    case MT_WIRE_FIND_PEERS:
        if (payload_id(p, n, id) != 0) {
            STAT_ADD(s, bad_frames, 1);
            conn_refuse(c, "Bad Request");
        } else if (type == MT_WIRE_REQUEST) {
            serve_blob(s, c, id);
        } else {
            serve_peers(s, c, id);
        }
        break;
    case 0x06: /* PUBLISH: the reference's; blobs here arrive by swarm instead */
        conn_queue(c, MT_WIRE_ERROR, "Not supported", 13);
        break;
    default: /* ANNOUNCE 7, OK, and types we don't know: ignored */
        break;
    }
}

/* Drop the first n bytes of the read buffer. */
static void rbuf_consume(wconn *c, size_t n)
{
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
}

/* Handle what has been received, as far as back-pressure allows. */
static void conn_process(mt_wire_server *s, wconn *c)
{
    if (c->state == C_KEY && c->rlen >= MT_WIRE_KEY_BYTES) {
        int rc = mt_wire_derive(c->sk, c->rbuf, 0, &c->k, NULL, NULL);
        sodium_memzero(c->sk, sizeof c->sk);
        if (rc != 0) { /* low-order key: nothing is said to such a peer */
            conn_bad(s, c);
            return;
        }
        rbuf_consume(c, MT_WIRE_KEY_BYTES);
        c->state = C_FRAMES;
    }
    while (c->state == C_FRAMES && wq_pending(c) < SERVER_WQ_SOFT && c->rlen >= FRAME_HDR) {
        uint32_t flen = 0;
        uint8_t type = 0, *payload = NULL;
        size_t plen = 0;

        /* The cap is checked on the prefix alone, before any allocation. */
        if (mt_wire_frame_len(c->rbuf, s->cfg.frame_max, &flen, NULL) != 0) {
            conn_bad(s, c);
            return;
        }
        if (c->rlen < FRAME_HDR + flen) {
            if (c->rcap < FRAME_HDR + flen) {
                uint8_t *nb = realloc(c->rbuf, FRAME_HDR + flen);
                if (!nb) {
                    conn_close(c);
                    return;
                }
                c->rbuf = nb;
                c->rcap = FRAME_HDR + flen;
            }
            return; /* wait for the rest */
        }
        if (mt_wire_open(&c->k, c->rbuf + FRAME_HDR, flen, &type, &payload, &plen, NULL) != 0) {
            conn_bad(s, c);
            return;
        }
        handle_frame(s, c, type, payload, plen);
        if (c->state == C_DEAD)
            return;
        rbuf_consume(c, FRAME_HDR + flen);
    }
}

/* Send what the socket takes now. */
static void conn_flush(mt_wire_server *s, wconn *c, int64_t now)
{
    while (wq_pending(c) > 0) {
        ssize_t w = send(c->fd, c->wbuf + c->woff, wq_pending(c), MSG_NOSIGNAL);
        if (w > 0) {
            c->woff += (size_t)w;
            c->last_ms = now;
            STAT_ADD(s, bytes_sent, (uint64_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(c);
        return;
    }
    /* Drained: give back the big buffer a DATA frame needed. */
    c->woff = c->wlen = 0;
    if (c->wcap > SERVER_WQ_SOFT) {
        free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    if (c->state == C_CLOSING) {
        /* Half-close and read until EOF, so the peer gets our ERROR
         * rather than a reset from unread input. */
        shutdown(c->fd, SHUT_WR);
        c->state = C_DRAIN;
        c->linger_until = now + SERVER_LINGER_MS;
    } else if (c->state == C_FRAMES && c->rlen > 0) {
        conn_process(s, c); /* requests held back by the pending DATA */
    }
}

/* Read what is there and act on it. */
static void conn_read(mt_wire_server *s, wconn *c, int64_t now)
{
    uint8_t sink[4096];
    ssize_t r;

    if (c->state == C_DRAIN) {
        r = recv(c->fd, sink, sizeof sink, 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
            conn_close(c);
        return;
    }
    if (c->rlen == c->rcap)
        return; /* a whole frame is waiting on back-pressure */
    r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (r < 0) {
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            conn_close(c);
        return;
    }
    if (r == 0) { /* the peer is done sending: finish what we owe it */
        if (wq_pending(c) > 0 && c->state == C_FRAMES)
            c->state = C_CLOSING;
        else
            conn_close(c);
        return;
    }
    c->rlen += (size_t)r;
    c->last_ms = now;
    conn_process(s, c);
    if (c->state != C_DEAD && wq_pending(c) > 0)
        conn_flush(s, c, now); /* usually all goes at once: saves a poll round */
}

/* Source address as 16 bytes (IPv4 v4-mapped) for the per-IP count. */
static void addr_key(const struct sockaddr_storage *ss, uint8_t out[16])
{
    memset(out, 0, 16);
    if (ss->ss_family == AF_INET) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    }
}

static void stats_open(mt_wire_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->stats.open = (int)s->n_conns;
    pthread_mutex_unlock(&s->mu);
}

/* Close c if still open, take it out of the table and free it. */
static void conn_reap(mt_wire_server *s, wconn *c)
{
    wconn *last = s->conns[--s->n_conns];
    conn_close(c);
    s->conns[c->slot] = last;
    last->slot = c->slot;
    free(c);
    stats_open(s);
}

/* When c is to be closed unless something happens: handshake, idle or
 * linger deadline. *counted: a time-out there counts in stats. */
static int64_t conn_due(const mt_wire_server *s, const wconn *c, int *counted)
{
    *counted = 1;
    if (c->state == C_KEY)
        return c->started_ms + s->cfg.handshake_timeout_ms;
    if (c->state == C_DRAIN) {
        *counted = 0; /* our side ended it */
        return c->linger_until;
    }
    /* A peer that stops reading our ERROR is idle too, but the connection
     * was ending anyway: only C_FRAMES counts. */
    *counted = c->state == C_FRAMES;
    return c->last_ms + s->cfg.idle_timeout_ms;
}

/* Close connections past their deadline; return ms until the next one. */
static int64_t expire(mt_wire_server *s, int64_t now)
{
    int64_t next = now + SERVER_EXPIRE_MAX_MS;
    size_t i = s->n_conns;
    while (i-- > 0) { /* backwards: conn_reap moves the last one into i */
        wconn *c = s->conns[i];
        int counted;
        int64_t due = conn_due(s, c, &counted);
        if (due <= now) {
            if (counted)
                STAT_ADD(s, timeouts, 1);
            conn_reap(s, c);
        } else if (due < next) {
            next = due;
        }
    }
    return next - now;
}

/* The expiry timer: one for all connections. */
static int64_t on_expire(mt_loop *loop, int64_t id, void *arg)
{
    mt_wire_server *s = arg;
    int64_t now = mt_now_ms(), next = expire(s, now);
    (void)loop, (void)id;
    s->expire_at = now + next;
    return next;
}

/* Make the expiry timer fire no later than due. On ENOMEM the running
 * timer stays: deadlines are then met up to SERVER_EXPIRE_MAX_MS late. */
static void expire_by(mt_wire_server *s, int64_t due)
{
    int64_t now, id = 0;
    if (s->expire_id && s->expire_at <= due)
        return;
    now = mt_now_ms();
    if (mt_loop_timer_add(s->loop, due > now ? due - now : 0, on_expire, s, &id, NULL) != 0)
        return;
    mt_loop_timer_cancel(s->loop, s->expire_id);
    s->expire_id = id;
    s->expire_at = due;
}

/* Loop mask a connection wants in its state. */
static int conn_mask(const wconn *c)
{
    int m = 0;
    if (c->state == C_DRAIN || ((c->state == C_KEY || c->state == C_FRAMES) && wq_pending(c) < SERVER_WQ_SOFT))
        m |= MT_LOOP_READ;
    if (wq_pending(c) > 0)
        m |= MT_LOOP_WRITE;
    return m;
}

static void on_conn(mt_loop *loop, int fd, int ready, void *arg);

/* After c was handled: watch it for what its state wants and keep its
 * deadline on the expiry timer. Closes c when the loop cannot watch it. */
static void conn_rearm(mt_wire_server *s, wconn *c)
{
    int m = conn_mask(c), counted;
    if (m != c->mask) {
        if (mt_loop_watch(s->loop, c->fd, m, on_conn, c, NULL) != 0) {
            conn_close(c);
            return;
        }
        c->mask = m;
    }
    expire_by(s, conn_due(s, c, &counted));
}

/* One connection's socket is ready. An error or hang-up shows up as a
 * failing send or recv, which closes it. */
static void on_conn(mt_loop *loop, int fd, int ready, void *arg)
{
    wconn *c = arg;
    mt_wire_server *s = c->s;
    int64_t now = mt_now_ms();
    (void)loop, (void)fd;
    if (ready & MT_LOOP_WRITE)
        conn_flush(s, c, now);
    if (c->state != C_DEAD && (ready & MT_LOOP_READ))
        conn_read(s, c, now);
    if (c->state != C_DEAD)
        conn_rearm(s, c);
    if (c->state == C_DEAD)
        conn_reap(s, c);
}

/* Take one accepted socket into service, or close it at once over a cap. */
static void admit(mt_wire_server *s, int fd, const struct sockaddr_storage *ss, int64_t now)
{
    uint8_t ip[16], pk[32];
    size_t i, same = 0;
    wconn *c;
    int one = 1;

    if (s->n_conns >= (size_t)s->cfg.max_conns) {
        close(fd);
        STAT_ADD(s, refused_full, 1);
        return;
    }
    addr_key(ss, ip);
    for (i = 0; i < s->n_conns; i++)
        same += memcmp(s->conns[i]->ip, ip, 16) == 0;
    if (same >= (size_t)s->cfg.max_conns_per_ip) {
        close(fd);
        STAT_ADD(s, refused_per_ip, 1);
        return;
    }
    c = calloc(1, sizeof *c);
    if (c)
        c->rbuf = malloc(SERVER_RBUF_INITIAL);
    if (!c || !c->rbuf) {
        if (c)
            free(c->rbuf);
        free(c);
        close(fd);
        return;
    }
    c->s = s;
    c->fd = fd;
    c->state = C_KEY;
    memcpy(c->ip, ip, 16);
    c->rcap = SERVER_RBUF_INITIAL;
    c->started_ms = c->last_ms = now;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Our key goes out at once; the reference does not wait for the peer's. */
    mt_wire_keypair(pk, c->sk);
    if (wq_reserve(c, sizeof pk) != 0) {
        conn_close(c);
        free(c);
        return;
    }
    memcpy(c->wbuf, pk, sizeof pk);
    c->wlen = sizeof pk;
    c->slot = s->n_conns;
    s->conns[s->n_conns++] = c;
    pthread_mutex_lock(&s->mu);
    s->stats.accepted++;
    s->stats.open = (int)s->n_conns;
    pthread_mutex_unlock(&s->mu);
    conn_rearm(s, c);
    if (c->state == C_DEAD)
        conn_reap(s, c);
}

static void on_listen(mt_loop *loop, int fd, int ready, void *arg);

/* Accepting again after a pause. */
static int64_t on_accept_resume(mt_loop *loop, int64_t id, void *arg)
{
    mt_wire_server *s = arg;
    (void)id;
    s->resume_id = 0;
    if (mt_loop_watch(loop, s->lfd, MT_LOOP_READ, on_listen, s, NULL) != 0)
        return SERVER_ACCEPT_PAUSE_MS; /* try again later */
    return -1;
}

/* Stop accepting for a while: the backlog would otherwise keep the
 * listening socket ready and the loop spinning. */
static void accept_pause(mt_wire_server *s)
{
    if (s->resume_id)
        return;
    if (mt_loop_timer_add(s->loop, SERVER_ACCEPT_PAUSE_MS, on_accept_resume, s, &s->resume_id, NULL) == 0)
        mt_loop_unwatch(s->loop, s->lfd);
}

/* Accept what is queued on the listening socket (bounded per pass). */
static void on_listen(mt_loop *loop, int fd, int ready, void *arg)
{
    mt_wire_server *s = arg;
    int64_t now = mt_now_ms();
    int i;
    (void)loop, (void)ready;
    for (i = 0; i < SERVER_ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_pause(s);
            return;
        }
        admit(s, cfd, &ss, now);
    }
}

/* Close and free every connection (on the loop's thread, or after it ended). */
static void close_all(mt_wire_server *s)
{
    while (s->n_conns > 0)
        conn_reap(s, s->conns[s->n_conns - 1]);
}

/* Thread mode: run the server's own loop until mt_wire_server_stop. */
static void *server_main(void *arg)
{
    mt_wire_server *s = arg;
    if (mt_loop_run(s->loop, NULL) != 0)
        close_all(s); /* the wait failed: serve nobody rather than hang them */
    return NULL;
}

/* Apply defaults to unset fields and refuse nonsense. */
static int config_check(mt_wire_server_config *c, mt_error *err)
{
    if (!c->listen || !c->blob_dir || !c->blob_dir[0])
        return mt_error_set(err, MT_EINVAL, "listen address and blob_dir are required");
    if (c->handshake_timeout_ms <= 0)
        c->handshake_timeout_ms = SERVER_HS_TIMEOUT_DEFAULT;
    if (c->idle_timeout_ms <= 0)
        c->idle_timeout_ms = SERVER_IDLE_TIMEOUT_DEFAULT;
    if (c->max_conns <= 0)
        c->max_conns = SERVER_MAX_CONNS_DEFAULT;
    if (c->max_conns_per_ip <= 0)
        c->max_conns_per_ip = SERVER_PER_IP_DEFAULT;
    if (c->frame_max == 0)
        c->frame_max = MT_WIRE_SERVER_FRAME_MAX;
    if (c->max_conns > SERVER_MAX_CONNS_CAP)
        return mt_error_set(err, MT_EINVAL, "max_conns %d is over %d", c->max_conns, SERVER_MAX_CONNS_CAP);
    if (c->frame_max < SERVER_FRAME_MIN || c->frame_max > MT_WIRE_FRAME_MAX)
        return mt_error_set(err, MT_EINVAL, "frame_max %zu is outside %u..%u", c->frame_max, SERVER_FRAME_MIN,
                            (unsigned)MT_WIRE_FRAME_MAX);
    return MT_OK;
}

/* Bind and listen on addr; s->lfd and s->port on success. */
static int server_listen(mt_wire_server *s, const char *addr, mt_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int one = 1, rc;

    rc = parse_hostport(addr, 1, &ss, &sl, err);
    if (rc)
        return rc;
    s->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->lfd < 0)
        return mt_error_set(err, MT_EIO, "socket: %s", strerror(errno));
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s->lfd, (struct sockaddr *)&ss, sl) != 0)
        return mt_error_set(err, MT_EIO, "cannot bind %s: %s", addr, strerror(errno));
    if (listen(s->lfd, 128) != 0)
        return mt_error_set(err, MT_EIO, "cannot listen on %s: %s", addr, strerror(errno));
    sl = sizeof ss;
    if (getsockname(s->lfd, (struct sockaddr *)&ss, &sl) != 0)
        return mt_error_set(err, MT_EIO, "getsockname: %s", strerror(errno));
    s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return MT_OK;
}

/* Free what start allocated; on the loop's thread, or with no thread left
 * running the loop. */
static void server_free(mt_wire_server *s)
{
    if (s->loop) {
        close_all(s);
        mt_loop_timer_cancel(s->loop, s->expire_id);
        mt_loop_timer_cancel(s->loop, s->resume_id);
        if (s->lfd >= 0)
            mt_loop_unwatch(s->loop, s->lfd);
        if (s->own_loop)
            mt_loop_free(s->loop);
    }
    if (s->lfd >= 0)
        close(s->lfd);
    free(s->blob_dir);
    free(s->conns);
    free(s->peer_out);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Everything but the thread: listen and serve on loop. */
static int server_open(const mt_wire_server_config *cfg, mt_loop *loop, int own_loop, mt_wire_server **out,
                       mt_error *err)
{
    mt_wire_server *s;
    int rc;

    if (!cfg || !out || !loop) {
        if (own_loop)
            mt_loop_free(loop);
        return mt_error_set(err, MT_EINVAL, "config, loop and out are required");
    }
    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s) {
        if (own_loop)
            mt_loop_free(loop);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    s->cfg = *cfg;
    s->lfd = -1;
    s->loop = loop;
    s->own_loop = own_loop;
    pthread_mutex_init(&s->mu, NULL);
    if (sodium_init() < 0) {
        server_free(s);
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    }
    rc = config_check(&s->cfg, err);
    if (rc) {
        server_free(s);
        return rc;
    }
    s->blob_dir = strdup(cfg->blob_dir);
    s->conns = calloc((size_t)s->cfg.max_conns, sizeof *s->conns);
    s->peer_out = calloc(PEERS_MAX, sizeof *s->peer_out);
    s->cfg.listen = NULL; /* the caller's string is not kept */
    s->cfg.blob_dir = s->blob_dir;
    if (!s->blob_dir || !s->conns || !s->peer_out) {
        server_free(s);
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
    rc = server_listen(s, cfg->listen, err);
    if (rc == 0)
        rc = mt_loop_watch(loop, s->lfd, MT_LOOP_READ, on_listen, s, err);
    if (rc == 0) {
        s->expire_at = mt_now_ms() + SERVER_EXPIRE_MAX_MS;
        rc = mt_loop_timer_add(loop, SERVER_EXPIRE_MAX_MS, on_expire, s, &s->expire_id, err);
    }
    if (rc) {
        server_free(s);
        return rc;
    }
    *out = s;
    return MT_OK;
}

int mt_wire_server_start_on(const mt_wire_server_config *cfg, mt_loop *loop, mt_wire_server **out,
                            mt_error *err)
{
    return server_open(cfg, loop, 0, out, err);
}

int mt_wire_server_start(const mt_wire_server_config *cfg, mt_wire_server **out, mt_error *err)
{
    mt_wire_server *s = NULL;
    mt_loop *loop = NULL;
    int rc;

    if (!cfg || !out)
        return mt_error_set(err, MT_EINVAL, "config and out are required");
    *out = NULL;
    rc = mt_loop_new(&loop, err);
    if (rc)
        return rc;
    rc = server_open(cfg, loop, 1, &s, err); /* frees loop on failure */
    if (rc)
        return rc;
    if ((rc = pthread_create(&s->thread, NULL, server_main, s)) != 0) {
        server_free(s);
        return mt_error_set(err, MT_EIO, "cannot start the server thread: %s", strerror(rc));
    }
    s->thread_started = 1;
    *out = s;
    return MT_OK;
}

int mt_wire_server_port(const mt_wire_server *s)
{
    return s ? s->port : 0;
}

void mt_wire_server_get_stats(mt_wire_server *s, mt_wire_server_stats *st)
{
    if (!s || !st)
        return;
    pthread_mutex_lock(&s->mu);
    *st = s->stats;
    pthread_mutex_unlock(&s->mu);
}

void mt_wire_server_stop(mt_wire_server *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        mt_loop_stop(s->loop);
        pthread_join(s->thread, NULL);
    }
    server_free(s);
}
