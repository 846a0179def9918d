/*
 * fuzz_wire.c - mt-wire frames as the server side of a connection receives
 * them once the handshake is done, and the codec's seal/open round trip.
 *
 * The first input byte picks options; the rest is used three ways:
 *
 *  A. as raw bytes off the socket, under the fixed test-vector keys (client
 *     secret 01*32, server secret 02*32): split into frames with
 *     mt_wire_frame_len (server cap) and opened with mt_wire_open, stopping
 *     where the server would close the connection;
 *  B. (option bit 0) as messages [type, len, payload...] that a client
 *     seals under the same keys; the stream, with one byte flipped (bit 1,
 *     position from the second input byte), goes through step A;
 *  C. as one payload sealed and opened with fresh keys from
 *     mt_wire_keypair, and again with one bit flipped.
 *
 * Invariants:
 *  - every call returns 0 or a known code with err filled;
 *  - mt_wire_frame_len agrees with a big-endian read of the prefix:
 *    MT_ETOOBIG above the cap, MT_EINVAL below 17, else the value;
 *  - each body is opened from a buffer of exactly its length (ASan catches
 *    a read past it); a rejected frame is MT_ECRYPTO and leaves the rx
 *    nonce unchanged; an accepted one advances it by exactly one
 *    (little-endian), and its type and payload lie inside the body: type
 *    = body[0], payload = body + 1, payload_len = len - 17;
 *  - in B, every frame that opens is the next message sealed, byte for
 *    byte, and no frame touching the flipped byte ever opens;
 *  - in C, the frame is len + 21 bytes with a prefix of len + 17, opens to
 *    the same type and payload, and never opens once a bit is flipped.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mt_wire.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAMES 256   /* a stream is cut after this many frames */
#define MAX_MESSAGES 64  /* messages sealed in step B */

static mt_wire_keys g_client, g_server; /* fresh copies are used per input */

/* The test-vector keys, once. */
static void init_keys(void)
{
    static int done;
    uint8_t skc[32], sks[32], pkc[32], pks[32];
    mt_error err;
    if (done)
        return;
    if (sodium_init() < 0)
        abort();
    memset(skc, 0x01, 32);
    memset(sks, 0x02, 32);
    crypto_scalarmult_base(pkc, skc);
    crypto_scalarmult_base(pks, sks);
    FUZZ_CHECK(mt_wire_derive(skc, pks, 1, &g_client, NULL, &err) == 0, "derive: %s", err.message);
    FUZZ_CHECK(mt_wire_derive(sks, pkc, 0, &g_server, NULL, &err) == 0, "derive: %s", err.message);
    done = 1;
}

/* n + 1 as a 12-byte little-endian counter, computed without libsodium. */
static void nonce_next(const uint8_t n[12], uint8_t out[12])
{
    unsigned carry = 1;
    int i;
    for (i = 0; i < 12; i++) {
        unsigned v = n[i] + carry;
        out[i] = (uint8_t)v;
        carry = v >> 8;
    }
}

/* What a frame in a stream is expected to be (step B), or NULL. */
typedef struct expect {
    size_t         n;
    const uint8_t *type;
    const uint8_t *const *payload;
    const size_t  *len;
    size_t         bad_at; /* flipped byte in the stream, or SIZE_MAX */
} expect;

/*
 * Step A: walk a received stream as the server does. Returns the number
 * of frames opened.
 */
static size_t walk_stream(mt_wire_keys *k, const uint8_t *in, size_t n, const expect *ex)
{
    size_t off = 0, opened = 0, frames = 0;

    while (n - off >= 4 && frames < MAX_FRAMES) {
        const uint8_t *h = in + off;
        uint32_t want = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        uint32_t len = 0xdeadbeef;
        uint8_t *body, type = 0, *payload = NULL, before[12], next[12];
        size_t plen = 0;
        mt_error err;
        int rc;

        frames++;
        fuzz_err_init(&err);
        rc = mt_wire_frame_len(h, MT_WIRE_SERVER_FRAME_MAX, &len, &err);
        fuzz_check_result(rc, &err, "mt_wire_frame_len");
        if (want > MT_WIRE_SERVER_FRAME_MAX) {
            FUZZ_CHECK(rc == MT_ETOOBIG, "prefix %u over the cap gave %d", want, rc);
        } else if (want < 17) {
            FUZZ_CHECK(rc == MT_EINVAL, "prefix %u under 17 gave %d", want, rc);
        } else {
            FUZZ_CHECK(rc == 0 && len == want, "prefix %u read as %u (%d)", want, len, rc);
        }
        fuzz_feature("frame_len", rc ? err.message : "ok");
        if (rc)
            break; /* the server closes here */
        if (n - off - 4 < len)
            break; /* the rest has not arrived */

        body = malloc(len); /* exactly: ASan sees any read past it */
        if (!body)
            abort();
        memcpy(body, h + 4, len);
        memcpy(before, k->rx_nonce, 12);
        fuzz_err_init(&err);
        rc = mt_wire_open(k, body, len, &type, &payload, &plen, &err);
        fuzz_check_result(rc, &err, "mt_wire_open");
        if (rc) {
            FUZZ_CHECK(rc == MT_ECRYPTO, "open of %u bytes gave %d", len, rc);
            FUZZ_CHECK(memcmp(before, k->rx_nonce, 12) == 0, "rejected frame moved the nonce");
            fuzz_feature("open", "rejected");
            free(body);
            break; /* the server closes here */
        }
        nonce_next(before, next);
        FUZZ_CHECK(memcmp(next, k->rx_nonce, 12) == 0, "nonce did not advance by one");
        FUZZ_CHECK(payload == body + 1 && plen == len - 17, "payload %p+%zu outside body %p+%u",
                   (void *)payload, plen, (void *)body, len);
        FUZZ_CHECK(type == body[0], "type is not the first byte");
        fuzz_feature("open-type", (const char[]){(char)('A' + (type & 15)), 0});
        if (ex) {
            FUZZ_CHECK(opened < ex->n, "more frames opened than were sealed");
            FUZZ_CHECK(ex->bad_at == SIZE_MAX || ex->bad_at < off || ex->bad_at >= off + 4 + len,
                       "frame holding the flipped byte %zu opened", ex->bad_at);
            FUZZ_CHECK(type == ex->type[opened] && plen == ex->len[opened] &&
                           (plen == 0 || memcmp(payload, ex->payload[opened], plen) == 0),
                       "frame %zu opened to something else", opened);
        }
        opened++;
        free(body);
        off += 4 + len;
    }
    return opened;
}

/* Step B: seal messages from the input as a client would, then walk. */
static void sealed_stream(const uint8_t *in, size_t n, int flip, size_t flip_pos)
{
    uint8_t types[MAX_MESSAGES];
    const uint8_t *payloads[MAX_MESSAGES];
    size_t lens[MAX_MESSAGES], cnt = 0, off = 0, slen = 0, cap = 0;
    uint8_t *stream = NULL;
    mt_wire_keys c = g_client, s = g_server;
    expect ex;

    /* [type][len 2 bytes BE][payload]..., cut to what the input holds */
    while (off + 3 <= n && cnt < MAX_MESSAGES) {
        size_t len = (size_t)in[off + 1] << 8 | in[off + 2];
        if (len > n - off - 3)
            len = n - off - 3;
        types[cnt] = in[off];
        payloads[cnt] = in + off + 3;
        lens[cnt] = len;
        cap += len + 21;
        cnt++;
        off += 3 + len;
    }
    if (cnt == 0)
        return;
    stream = malloc(cap);
    if (!stream)
        abort();
    for (off = 0; off < cnt; off++) {
        mt_error err;
        size_t flen = 0;
        int rc;
        fuzz_err_init(&err);
        rc = mt_wire_seal(&c, types[off], payloads[off], lens[off], stream + slen, cap - slen, &flen, &err);
        fuzz_check_result(rc, &err, "mt_wire_seal");
        FUZZ_CHECK(rc == 0 && flen == lens[off] + 21, "seal of %zu bytes: %d, %zu", lens[off], rc, flen);
        slen += flen;
    }
    ex.n = cnt;
    ex.type = types;
    ex.payload = payloads;
    ex.len = lens;
    ex.bad_at = SIZE_MAX;
    if (flip) {
        ex.bad_at = flip_pos % slen;
        stream[ex.bad_at] ^= 0x01;
    }
    {
        size_t opened = walk_stream(&s, stream, slen, &ex);
        if (!flip)
            FUZZ_CHECK(opened == cnt, "%zu of %zu intact frames opened", opened, cnt);
    }
    free(stream);
    mt_wire_keys_wipe(&c);
    mt_wire_keys_wipe(&s);
}

/* Step C: seal and open with fresh keys; a flipped bit never opens. */
static void round_trip(uint8_t type, const uint8_t *in, size_t n, size_t flip_bit)
{
    uint8_t pka[32], ska[32], pkb[32], skb[32], *frame, got_type = 0, *payload = NULL, one[12] = {1};
    mt_wire_keys a, b;
    size_t flen = 0, plen = 0;
    mt_error err;
    int rc;

    mt_wire_keypair(pka, ska);
    mt_wire_keypair(pkb, skb);
    FUZZ_CHECK(mt_wire_derive(ska, pkb, 1, &a, NULL, &err) == 0, "derive: %s", err.message);
    FUZZ_CHECK(mt_wire_derive(skb, pka, 0, &b, NULL, &err) == 0, "derive: %s", err.message);
    FUZZ_CHECK(memcmp(a.tx, b.rx, 32) == 0 && memcmp(a.rx, b.tx, 32) == 0, "sides derived different keys");
    frame = malloc(n + 21);
    if (!frame)
        abort();
    fuzz_err_init(&err);
    rc = mt_wire_seal(&a, type, in, n, frame, n + 21, &flen, &err);
    fuzz_check_result(rc, &err, "mt_wire_seal");
    FUZZ_CHECK(rc == 0 && flen == n + 21, "seal of %zu bytes: %d, %zu", n, rc, flen);
    FUZZ_CHECK(((size_t)frame[0] << 24 | (size_t)frame[1] << 16 | (size_t)frame[2] << 8 | frame[3]) == n + 17,
               "prefix is not the body length");
    FUZZ_CHECK(memcmp(a.tx_nonce, one, 12) == 0, "tx nonce is not 1");
    if (n + 17 > 4) { /* a flipped copy first: must fail and leave b alone */
        uint8_t *bad = malloc(n + 17);
        if (!bad)
            abort();
        memcpy(bad, frame + 4, n + 17);
        bad[(flip_bit / 8) % (n + 17)] ^= (uint8_t)(1u << (flip_bit % 8));
        fuzz_err_init(&err);
        rc = mt_wire_open(&b, bad, n + 17, &got_type, &payload, &plen, &err);
        fuzz_check_result(rc, &err, "mt_wire_open(flipped)");
        FUZZ_CHECK(rc == MT_ECRYPTO, "flipped frame gave %d", rc);
        FUZZ_CHECK(sodium_is_zero(b.rx_nonce, 12), "rejected frame moved the nonce");
        free(bad);
    }
    fuzz_err_init(&err);
    rc = mt_wire_open(&b, frame + 4, n + 17, &got_type, &payload, &plen, &err);
    fuzz_check_result(rc, &err, "mt_wire_open");
    FUZZ_CHECK(rc == 0, "round trip failed: %s", err.message);
    FUZZ_CHECK(got_type == type && plen == n && payload == frame + 5 && (n == 0 || memcmp(payload, in, n) == 0),
               "round trip changed the frame");
    FUZZ_CHECK(memcmp(b.rx_nonce, one, 12) == 0, "rx nonce is not 1");
    free(frame);
    sodium_memzero(ska, 32);
    sodium_memzero(skb, 32);
    mt_wire_keys_wipe(&a);
    mt_wire_keys_wipe(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_wire_keys s;
    uint8_t opt;
    size_t flip_pos;

    init_keys();
    if (size == 0)
        return 0;
    opt = data[0];
    flip_pos = size > 1 ? (size_t)data[1] * 7 + (size_t)(opt >> 2) : 0;

    s = g_server;
    walk_stream(&s, data + 1, size - 1, NULL);
    mt_wire_keys_wipe(&s);

    if (opt & 1)
        sealed_stream(data + 1, size - 1, (opt & 2) != 0, flip_pos);
    if (size - 1 <= MT_WIRE_FRAME_MAX - 17)
        round_trip(opt, data + 1, size - 1, flip_pos);
    return 0;
}
