/*
 * fuzz_torrent.c - mt_torrent_info_hashes() on arbitrary .torrent bytes
 * (files from users, metadata from peers).
 *
 * Invariants:
 *  - the call returns 0 or a known code with err filled;
 *  - success: at least one of has_v1/has_v2 is set, the id is v1 when
 *    has_v1 else the first 20 bytes of v2;
 *  - the result does not depend on which optional outputs are given
 *    (all NULL but the id, or all given), and a second call agrees.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mt_capi.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mt_error err;
    uint8_t id[20], v1[20], v2[32], id2[20], v1b[20], v2b[32];
    int has_v1 = -1, has_v2 = -1, has_v1b = -1, has_v2b = -1;
    int rc, rc2;

    memset(id, 0xAA, sizeof id);
    memset(v1, 0xAA, sizeof v1);
    memset(v2, 0xAA, sizeof v2);
    fuzz_err_init(&err);
    rc = mt_torrent_info_hashes(data, size, id, &has_v1, v1, &has_v2, v2, &err);
    fuzz_check_result(rc, &err, "mt_torrent_info_hashes");
    fuzz_feature("info_hashes", rc ? err.message : has_v1 && has_v2 ? "hybrid" : has_v1 ? "v1" : "v2");
    if (size == 0)
        FUZZ_CHECK(rc != 0, "empty .torrent accepted");

    /* Only the id requested: same verdict, same id. */
    memset(id2, 0x55, sizeof id2);
    fuzz_err_init(&err);
    rc2 = mt_torrent_info_hashes(data, size, id2, NULL, NULL, NULL, NULL, &err);
    fuzz_check_result(rc2, &err, "mt_torrent_info_hashes(id only)");
    FUZZ_CHECK(rc2 == rc, "verdict depends on the outputs given: %d vs %d", rc, rc2);

    if (rc != 0)
        return 0;

    FUZZ_CHECK(has_v1 == 0 || has_v1 == 1, "has_v1 = %d", has_v1);
    FUZZ_CHECK(has_v2 == 0 || has_v2 == 1, "has_v2 = %d", has_v2);
    FUZZ_CHECK(has_v1 || has_v2, "accepted a .torrent with neither a v1 nor a v2 info-hash");
    if (has_v1)
        FUZZ_CHECK(memcmp(id, v1, 20) == 0, "id is not the v1 info-hash");
    else
        FUZZ_CHECK(memcmp(id, v2, 20) == 0, "v2-only id is not the first 20 bytes of v2");
    FUZZ_CHECK(memcmp(id2, id, 20) == 0, "id differs between calls");

    /* No error out-parameter and no id: still fine. */
    rc2 = mt_torrent_info_hashes(data, size, NULL, &has_v1b, v1b, &has_v2b, v2b, NULL);
    FUZZ_CHECK(rc2 == 0, "second parse failed: %d", rc2);
    FUZZ_CHECK(has_v1b == has_v1 && has_v2b == has_v2, "has_v1/has_v2 differ between calls");
    if (has_v1)
        FUZZ_CHECK(memcmp(v1b, v1, 20) == 0, "v1 differs between calls");
    if (has_v2)
        FUZZ_CHECK(memcmp(v2b, v2, 32) == 0, "v2 differs between calls");
    return 0;
}
