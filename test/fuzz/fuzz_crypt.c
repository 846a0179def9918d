/*
 * fuzz_crypt.c - the byte stream an lt_mtcrypt peer sends after the switch
 * (plugin/mt_crypt.h): frames of u32 length || tag || ciphertext, read the
 * way the extension's crypto_plugin reads them.
 *
 * Input: the stream. Frames are taken off it in order with one fixed key
 * and a counter from 0, as a receiving connection does, until a length is
 * refused, the stream runs short, or a frame fails (the connection would
 * end there). Each header and body is copied to a heap buffer of exactly
 * its size, so any over-read is an AddressSanitizer report. The seed corpus
 * holds streams sealed with the fixed key, so the fuzzer starts from frames
 * that open.
 *
 * Invariants:
 *  - mt_crypt_frame_length gives 1..MT_CRYPT_FRAME_MAX or MT_EINVAL with 0;
 *  - mt_crypt_frame_open gives 0 or MT_ECRYPTO for a header whose length is
 *    the body's, and on MT_ECRYPTO the body is all zero;
 *  - a frame that opened, sealed again with the same key and counter,
 *    gives back the input bytes (header and body) exactly;
 *  - it does not open with the next counter (no frame is valid twice), and
 *    a copy with one byte flipped (position from the input) never opens.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mt_crypt.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key the seed corpus was sealed with: bytes 0..31. */
static void fixed_key(uint8_t key[32])
{
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Open one frame (hdr, body of n) as frame number ctr; check the
 * invariants. 1 if it opened. */
static int one_frame(const uint8_t key[32], uint64_t ctr, const uint8_t *hdr_in, const uint8_t *body_in, size_t n)
{
    uint8_t *hdr = malloc(MT_CRYPT_FRAME_HEADER), *body = malloc(n), *again, h2[MT_CRYPT_FRAME_HEADER];
    int rc, opened;
    FUZZ_CHECK(hdr && body, "out of memory");
    memcpy(hdr, hdr_in, MT_CRYPT_FRAME_HEADER);
    memcpy(body, body_in, n);
    rc = mt_crypt_frame_open(key, ctr, hdr, body, n);
    FUZZ_CHECK(rc == 0 || rc == MT_ECRYPTO, "open gave %d", rc);
    opened = rc == 0;
    if (!opened) {
        FUZZ_CHECK(all_zero(body, n), "a refused frame left bytes in the buffer");
    } else {
        /* The plaintext seals back to exactly what came in. */
        again = malloc(n);
        FUZZ_CHECK(again != NULL, "out of memory");
        memcpy(again, body, n);
        FUZZ_CHECK(mt_crypt_frame_seal(key, ctr, again, n, h2) == 0, "reseal failed");
        FUZZ_CHECK(memcmp(h2, hdr_in, MT_CRYPT_FRAME_HEADER) == 0 && memcmp(again, body_in, n) == 0,
                   "a frame that opened does not seal back to its bytes");
        /* Not valid as the next frame. */
        memcpy(again, body_in, n);
        FUZZ_CHECK(mt_crypt_frame_open(key, ctr + 1, hdr_in, again, n) == MT_ECRYPTO,
                   "a frame opened under two counters");
        /* One flipped bit anywhere (tag, length's low byte kept, body). */
        size_t pos = (size_t)body_in[0] * 7919u % (16 + n);
        memcpy(h2, hdr_in, MT_CRYPT_FRAME_HEADER);
        memcpy(again, body_in, n);
        if (pos < 16)
            h2[4 + pos] ^= 0x01;
        else
            again[pos - 16] ^= 0x01;
        FUZZ_CHECK(mt_crypt_frame_open(key, ctr, h2, again, n) == MT_ECRYPTO, "a changed frame opened");
        free(again);
    }
    free(hdr);
    free(body);
    return opened;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t key[32];
    uint64_t ctr = 0;
    size_t at = 0;
    fixed_key(key);
    while (size - at >= MT_CRYPT_FRAME_HEADER) {
        uint8_t *hdr = malloc(MT_CRYPT_FRAME_HEADER);
        size_t n = 12345;
        int rc;
        FUZZ_CHECK(hdr != NULL, "out of memory");
        memcpy(hdr, data + at, MT_CRYPT_FRAME_HEADER);
        rc = mt_crypt_frame_length(hdr, &n);
        free(hdr);
        if (rc != 0) {
            FUZZ_CHECK(rc == MT_EINVAL && n == 0, "length refused with %d, n %zu", rc, n);
            break;
        }
        FUZZ_CHECK(n >= 1 && n <= MT_CRYPT_FRAME_MAX, "length %zu accepted", n);
        if (size - at - MT_CRYPT_FRAME_HEADER < n)
            break; /* the rest has not arrived */
        if (!one_frame(key, ctr, data + at, data + at + MT_CRYPT_FRAME_HEADER, n))
            break; /* the connection ends */
        ctr++;
        at += MT_CRYPT_FRAME_HEADER + n;
    }
    return 0;
}
