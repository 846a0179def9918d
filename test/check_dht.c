/*
 * check_dht.c - BEP-44/46 vectors and DHT operations on a real loopback
 * network of libtorrent sessions (127.0.10.x).
 */
#define _POSIX_C_SOURCE 200809L
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt_identity.h"
#include "mt_manifest.h"
#include "mt_pointer.h"
#include "mt_testnet.h"
#include "testutil.h"

#define NET_ADDR "127.0.10.1"
#define NET_NODES 8

static mt_testnet *net;

static void net_up(void)
{
    mt_error err;
    int rc = mt_testnet_start(NET_ADDR, NET_NODES, T_WAIT_MS, &net, &err);
    ck_assert_msg(rc == 0, "testnet: %s", err.message);
}

static void net_down(void)
{
    mt_testnet_free(net);
    net = NULL;
}

/* The identity whose seed is 00 01 .. 1f. */
static mt_identity *seed_identity(void)
{
    uint8_t seed[32];
    mt_identity *id = NULL;
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    ck_assert(mt_identity_from_seed(seed, &id, NULL) == 0);
    return id;
}

/* ------------------------------------------------------------ vectors */

START_TEST(bep44_vectors)
{
    /* BEP-44 "test vectors": value "Hello World!", seq 1. */
    uint8_t pk[32], sig[64], target[20], buf[256];
    size_t len = 0;
    static const char v[] = "12:Hello World!";

    t_hex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548", pk, 32);

    ck_assert(mt_dht_signature_buffer(NULL, 0, 1, (const uint8_t *)v, strlen(v), buf, sizeof buf, &len, NULL) == 0);
    ck_assert_uint_eq(len, strlen("3:seqi1e1:v12:Hello World!"));
    ck_assert(memcmp(buf, "3:seqi1e1:v12:Hello World!", len) == 0);
    t_hex("305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff"
          "1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01", sig, 64);
    ck_assert_int_eq(mt_dht_verify_mutable(pk, NULL, 0, 1, (const uint8_t *)v, strlen(v), sig, NULL), 0);
    ck_assert(mt_dht_mutable_target(pk, NULL, 0, target, NULL) == 0);
    t_assert_hex(target, 20, "4a533d47ec9c7d95b1ad75f576cffc641853b750");

    /* With salt "foobar". */
    ck_assert(mt_dht_signature_buffer((const uint8_t *)"foobar", 6, 1, (const uint8_t *)v, strlen(v), buf,
                                      sizeof buf, &len, NULL) == 0);
    ck_assert(len == strlen("4:salt6:foobar3:seqi1e1:v12:Hello World!"));
    ck_assert(memcmp(buf, "4:salt6:foobar3:seqi1e1:v12:Hello World!", len) == 0);
    t_hex("6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
          "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08", sig, 64);
    ck_assert_int_eq(mt_dht_verify_mutable(pk, (const uint8_t *)"foobar", 6, 1, (const uint8_t *)v, strlen(v),
                                           sig, NULL), 0);
    /* A flipped bit in the value must not verify. */
    {
        char bad[sizeof v];
        memcpy(bad, v, sizeof v);
        bad[5] ^= 1;
        ck_assert_int_eq(mt_dht_verify_mutable(pk, (const uint8_t *)"foobar", 6, 1, (const uint8_t *)bad,
                                               strlen(bad), sig, NULL), MT_ECRYPTO);
    }
    ck_assert(mt_dht_mutable_target(pk, (const uint8_t *)"foobar", 6, target, NULL) == 0);
    t_assert_hex(target, 20, "411eba73b6f087ca51a3795d9c8c938d365e32c1");

    /* Immutable. */
    ck_assert(mt_dht_immutable_target((const uint8_t *)v, strlen(v), target, NULL) == 0);
    t_assert_hex(target, 20, "e5f96f6f38320f0f33959cb4d3d656452117aadb");
}
END_TEST

START_TEST(bep46_pointer_vector)
{
    /* A BEP-46 pointer {ih: aa*20} under salt "n" signed by the seed-00..1f
     * identity; the signature was computed independently (Node's crypto). */
    mt_identity *id = seed_identity();
    uint8_t v[64], sig[64], target[20];
    size_t vlen = 0;
    memcpy(v, "d2:ih20:", 8);
    memset(v + 8, 0xaa, 20);
    v[28] = 'e';
    vlen = 29;
    t_assert_hex(mt_identity_public_key(id), 32, "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");
    ck_assert(mt_dht_sign_mutable(mt_identity_secret_key(id), (const uint8_t *)"n", 1, 1, v, vlen, sig, NULL) == 0);
    t_assert_hex(sig, 64, "8c4150d639e0a5f9a9d50718cf2f9f3e84a4d0a1c6aa2d98132224a15aab90c2"
                          "9d49726df40fb28a0f5cb80df3457bec3992e1a710b3c99e1eb64c407eed220b");
    /* BEP-46 targets: SHA-1(pk || salt), checked against Python's hashlib. */
    ck_assert(mt_dht_mutable_target(mt_identity_public_key(id), NULL, 0, target, NULL) == 0);
    t_assert_hex(target, 20, "fd81a6db64d6faf7f702c07971a82c25c1dc3c90");
    ck_assert(mt_dht_mutable_target(mt_identity_public_key(id), (const uint8_t *)"n", 1, target, NULL) == 0);
    t_assert_hex(target, 20, "a5700998b63f3177256e7650024d3d37f76f3838");
    ck_assert(mt_dht_mutable_target(mt_identity_public_key(id), (const uint8_t *)"megatorrent", 11, target,
                                    NULL) == 0);
    t_assert_hex(target, 20, "3bd04312754377964ba7b9e7f7c0587befaea663");
    mt_identity_free(id);
}
END_TEST

START_TEST(key_files_parse_and_refuse)
{
    mt_identity *id = seed_identity(), *back = NULL;
    char *json = NULL, bad[512], dir[] = "/tmp/mt-id-XXXXXX", path[128];
    mt_error err;
    ck_assert(mt_identity_to_json(id, &json, NULL) == 0);
    /* The reference client's shape: 2-space JSON, no trailing newline. */
    ck_assert(strncmp(json, "{\n  \"publicKey\": \"03a107bf", 26) == 0);
    ck_assert(json[strlen(json) - 1] == '}');
    ck_assert_int_eq(mt_identity_parse(json, strlen(json), &back, &err), 0);
    ck_assert(memcmp(mt_identity_secret_key(back), mt_identity_secret_key(id), 64) == 0);
    mt_identity_free(back);

    /* An escaped NUL must not hide trailing bytes from the hex check. */
    snprintf(bad, sizeof bad, "%.*s\\u0000zz\"\n}", (int)(strlen(json) - 3), json);
    ck_assert_int_eq(mt_identity_parse(bad, strlen(bad), &back, &err), MT_EINVAL);
    /* A public key that is not the secret key's. */
    snprintf(bad, sizeof bad, "%s", json);
    bad[20] = bad[20] == '0' ? '1' : '0'; /* inside the publicKey hex */
    ck_assert_int_eq(mt_identity_parse(bad, strlen(bad), &back, &err), MT_EINVAL);
    ck_assert_msg(strstr(err.message, "does not belong") != NULL, "%s", err.message);

    /* Saved 0600; refused once group or others can read it. */
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/id.json", dir);
    ck_assert_int_eq(mt_identity_save(id, path, 0, &err), 0);
    ck_assert_int_eq(mt_identity_save(id, path, 0, &err), MT_EEXIST);
    ck_assert_int_eq(mt_identity_load(path, &back, &err), 0);
    mt_identity_free(back);
    ck_assert(chmod(path, 0640) == 0);
    ck_assert_int_eq(mt_identity_load(path, &back, &err), MT_EPERM);
    ck_assert_msg(strstr(err.message, "chmod 600") != NULL, "%s", err.message);
    unlink(path);
    rmdir(dir);
    mt_identity_json_free(json);
    mt_identity_free(id);
}
END_TEST

START_TEST(bencode_checks)
{
    mt_error err;
    ck_assert_int_eq(mt_bencode_check((const uint8_t *)"d1:ai1e1:bi2ee", 14, &err), 0);
    /* unsorted keys, trailing bytes, leading zero, garbage */
    ck_assert_int_eq(mt_bencode_check((const uint8_t *)"d1:bi2e1:ai1ee", 14, &err), MT_EINVAL);
    ck_assert_msg(strstr(err.message, "canonical") != NULL, "%s", err.message);
    ck_assert_int_eq(mt_bencode_check((const uint8_t *)"i1ei2e", 6, &err), MT_EINVAL);
    ck_assert_int_eq(mt_bencode_check((const uint8_t *)"i01e", 4, &err), MT_EINVAL);
    ck_assert_int_eq(mt_bencode_check((const uint8_t *)"5:abc", 5, &err), MT_EINVAL);
    ck_assert_int_eq(mt_bencode_check(NULL, 0, &err), MT_EINVAL);
}
END_TEST

/* ------------------------------------------------------------ network */

/* Put on node `from`, wait for its outcome; returns num_success. */
static int put_mutable(int from, const mt_identity *id, const char *salt, int64_t seq, const char *text)
{
    size_t vlen;
    uint8_t *v = t_bstr(text, &vlen), target[20];
    mt_error err;
    mt_event ev;
    mt_session *s = mt_testnet_session(net, from);
    int rc = mt_dht_put_mutable(s, mt_identity_secret_key(id), (const uint8_t *)salt, salt ? strlen(salt) : 0,
                                seq, v, vlen, target, &err);
    mt_free(v);
    ck_assert_msg(rc == 0, "put: %s", err.message);
    t_wait(s, MT_EVENT_DHT_PUT, target, &ev);
    ck_assert_msg(ev.error == 0, "put outcome: %s", ev.message);
    rc = ev.num_success;
    mt_event_clear(&ev);
    return rc;
}

/* Get on node `at` until the authoritative result; copies it into *ev. */
static void get_mutable(int at, const mt_identity *id, const char *salt, mt_event *ev)
{
    uint8_t target[20];
    mt_error err;
    mt_session *s = mt_testnet_session(net, at);
    int rc = mt_dht_get_mutable(s, mt_identity_public_key(id), (const uint8_t *)salt, salt ? strlen(salt) : 0,
                                target, &err);
    ck_assert_msg(rc == 0, "get: %s", err.message);
    for (;;) {
        t_wait(s, MT_EVENT_DHT_MUTABLE, target, ev);
        if (ev->authoritative)
            return;
        mt_event_clear(ev);
    }
}

static void assert_value(const mt_event *ev, const char *text)
{
    size_t len;
    uint8_t *want = t_bstr(text, &len);
    ck_assert_msg(ev->data_len == len && memcmp(ev->data, want, len) == 0, "value differs from %s", text);
    mt_free(want);
}

START_TEST(mutable_put_get_across_nodes)
{
    mt_identity *id = NULL;
    mt_event ev;
    ck_assert(mt_identity_generate(&id, NULL) == 0);

    ck_assert_int_ge(put_mutable(0, id, NULL, 1, "first"), 1);
    get_mutable(5, id, NULL, &ev);
    ck_assert_int_eq(ev.error, 0);
    ck_assert_int_eq(ev.seq, 1);
    assert_value(&ev, "first");
    ck_assert(memcmp(ev.pubkey, mt_identity_public_key(id), 32) == 0);
    ck_assert_int_eq(mt_dht_verify_mutable(ev.pubkey, NULL, 0, ev.seq, ev.data, ev.data_len, ev.signature, NULL),
                     0);
    mt_event_clear(&ev);

    /* Salted items live at another target, independent of the unsalted one. */
    ck_assert_int_ge(put_mutable(1, id, "feed-a", 7, "salted"), 1);
    get_mutable(6, id, "feed-a", &ev);
    ck_assert_int_eq(ev.seq, 7);
    ck_assert_uint_eq(ev.salt_len, 6);
    ck_assert(memcmp(ev.salt, "feed-a", 6) == 0);
    assert_value(&ev, "salted");
    mt_event_clear(&ev);
    get_mutable(7, id, NULL, &ev);
    ck_assert_int_eq(ev.seq, 1);
    mt_event_clear(&ev);
    mt_identity_free(id);
}
END_TEST

START_TEST(higher_seq_wins_and_auto_seq)
{
    mt_identity *id = NULL;
    mt_event ev;
    ck_assert(mt_identity_generate(&id, NULL) == 0);
    put_mutable(0, id, "s", 5, "five");
    put_mutable(2, id, "s", 9, "nine");  /* another node, higher seq */
    get_mutable(4, id, "s", &ev);
    ck_assert_int_eq(ev.seq, 9);
    assert_value(&ev, "nine");
    mt_event_clear(&ev);
    /* seq 0 = one above what the DHT holds. */
    put_mutable(3, id, "s", 0, "ten");
    get_mutable(1, id, "s", &ev);
    ck_assert_int_eq(ev.seq, 10);
    assert_value(&ev, "ten");
    mt_event_clear(&ev);
    mt_identity_free(id);
}
END_TEST

START_TEST(stale_seq_refused)
{
    mt_identity *id = NULL;
    mt_error err;
    mt_event ev;
    uint8_t target[20];
    size_t vlen;
    uint8_t *v = t_bstr("old", &vlen);
    ck_assert(mt_identity_generate(&id, NULL) == 0);
    put_mutable(0, id, NULL, 20, "twenty");

    /* Same session: refused before any traffic. */
    ck_assert_int_eq(mt_dht_put_mutable(mt_testnet_session(net, 0), mt_identity_secret_key(id), NULL, 0, 20, v, vlen,
                                        target, &err), MT_ESTALE);
    ck_assert_msg(strstr(err.message, "stale") != NULL, "%s", err.message);

    /* Another session has not seen it: the network's seq is found during the
     * put and the older value never replaces it. */
    ck_assert_int_eq(mt_dht_put_mutable(mt_testnet_session(net, 3), mt_identity_secret_key(id), NULL, 0, 11, v, vlen,
                                        target, &err), 0);
    t_wait(mt_testnet_session(net, 3), MT_EVENT_DHT_PUT, target, &ev);
    ck_assert_int_eq(ev.error, MT_ESTALE);
    ck_assert_msg(strstr(ev.message, "seq 20") != NULL, "%s", ev.message);
    mt_event_clear(&ev);
    get_mutable(6, id, NULL, &ev);
    ck_assert_int_eq(ev.seq, 20);
    assert_value(&ev, "twenty");
    mt_event_clear(&ev);
    mt_free(v);
    mt_identity_free(id);
}
END_TEST

START_TEST(bad_puts_refused_before_network)
{
    mt_identity *id = NULL;
    mt_error err;
    uint8_t target[20], big[1100];
    mt_session *s = mt_testnet_session(net, 0);
    ck_assert(mt_identity_generate(&id, NULL) == 0);

    /* 1000 bytes bencoded: "996:" + 996 bytes. */
    memcpy(big, "996:", 4);
    memset(big + 4, 'x', 996);
    ck_assert_int_eq(mt_dht_put_mutable(s, mt_identity_secret_key(id), NULL, 0, 1, big, 1000, target, &err),
                     MT_ETOOBIG);
    ck_assert_msg(strstr(err.message, "1000") != NULL, "%s", err.message);
    ck_assert_int_eq(mt_dht_put_immutable(s, big, 1000, target, &err), MT_ETOOBIG);
    /* 999 bytes is allowed by the size rule. */
    memcpy(big, "995:", 4);
    ck_assert_int_eq(mt_bencode_check(big, 999, NULL), 0);

    ck_assert_int_eq(mt_dht_put_mutable(s, mt_identity_secret_key(id), NULL, 0, 1, (const uint8_t *)"d1:bi1e1:ai2ee",
                                        14, target, &err), MT_EINVAL);
    memset(big, 's', 65);
    ck_assert_int_eq(mt_dht_put_mutable(s, mt_identity_secret_key(id), big, 65, 1, (const uint8_t *)"i1e", 3, target,
                                        &err), MT_EINVAL);
    ck_assert_int_eq(mt_dht_put_mutable(s, mt_identity_secret_key(id), NULL, 0, -1, (const uint8_t *)"i1e", 3, target,
                                        &err), MT_EINVAL);
    ck_assert_int_eq(mt_dht_put_mutable(NULL, mt_identity_secret_key(id), NULL, 0, 1, (const uint8_t *)"i1e", 3,
                                        target, &err), MT_EINVAL);
    ck_assert_int_eq(mt_dht_get_peers(s, target, 0, &err), MT_EINVAL);
    ck_assert_int_eq(mt_dht_announce(s, target, 70000, &err), MT_EINVAL);

    /* A signed put with a bad signature is refused. */
    {
        uint8_t sig[64] = {0};
        ck_assert_int_eq(mt_dht_put_signed(s, mt_identity_public_key(id), NULL, 0, 1, (const uint8_t *)"i1e", 3, sig,
                                           target, &err), MT_ECRYPTO);
    }
    mt_identity_free(id);
}
END_TEST

START_TEST(dht_off_reports_state_error)
{
    mt_session_config cfg;
    mt_session *s = NULL;
    mt_error err;
    uint8_t t[20] = {0};
    mt_session_config_init_loopback(&cfg, "127.0.10.200:0");
    cfg.enable_dht = 0;
    ck_assert(mt_session_new(&cfg, &s, &err) == 0);
    ck_assert_int_eq(mt_dht_get_immutable(s, t, &err), MT_ESTATE);
    ck_assert_msg(strstr(err.message, "DHT is not running") != NULL, "%s", err.message);
    ck_assert_int_eq(mt_session_set_setting(s, "no_such_setting", "1", &err), MT_EINVAL);
    ck_assert_int_eq(mt_session_set_setting(s, "upload_rate_limit", "fast", &err), MT_EINVAL);
    ck_assert_int_eq(mt_session_set_setting(s, "enable_dht", "maybe", &err), MT_EINVAL);
    ck_assert_int_eq(mt_session_set_setting(s, "upload_rate_limit", "100000", &err), 0);
    mt_session_free(s);
}
END_TEST

START_TEST(missing_key_reports_not_found)
{
    mt_identity *id = NULL;
    mt_event ev;
    int64_t t0 = mt_now_ms();
    ck_assert(mt_identity_generate(&id, NULL) == 0);
    get_mutable(2, id, NULL, &ev);
    ck_assert_int_eq(ev.error, MT_ENOTFOUND);
    ck_assert_int_eq(ev.seq, 0);
    ck_assert_uint_eq(ev.data_len, 0);
    mt_event_clear(&ev);
    /* "promptly": well under the 15 s a table of dead nodes would take. */
    ck_assert_int_lt(mt_now_ms() - t0, 10000);
    mt_identity_free(id);
}
END_TEST

START_TEST(immutable_put_get)
{
    size_t vlen;
    uint8_t *v = t_bstr("immutable hello", &vlen), target[20], want[20];
    mt_error err;
    mt_event ev;
    mt_session *a = mt_testnet_session(net, 1), *b = mt_testnet_session(net, 6);
    ck_assert_int_eq(mt_dht_put_immutable(a, v, vlen, target, &err), 0);
    ck_assert(mt_dht_immutable_target(v, vlen, want, NULL) == 0);
    ck_assert(memcmp(target, want, 20) == 0);
    t_wait(a, MT_EVENT_DHT_PUT, target, &ev);
    ck_assert_msg(ev.error == 0 && ev.num_success >= 1, "%s", ev.message);
    mt_event_clear(&ev);
    ck_assert_int_eq(mt_dht_get_immutable(b, target, &err), 0);
    t_wait(b, MT_EVENT_DHT_IMMUTABLE, target, &ev);
    ck_assert_int_eq(ev.error, 0);
    ck_assert(ev.data_len == vlen && memcmp(ev.data, v, vlen) == 0);
    mt_event_clear(&ev);
    /* A target nobody stored. */
    target[0] ^= 0xff;
    ck_assert_int_eq(mt_dht_get_immutable(b, target, &err), 0);
    t_wait(b, MT_EVENT_DHT_IMMUTABLE, target, &ev);
    ck_assert_int_eq(ev.error, MT_ENOTFOUND);
    mt_event_clear(&ev);
    mt_free(v);
}
END_TEST

START_TEST(republish_signed_item)
{
    /* Node 2 re-puts an item node 0 signed, without the secret key. */
    mt_identity *id = NULL;
    mt_event ev;
    uint8_t sig[64], target[20];
    size_t vlen;
    uint8_t *v = t_bstr("republished", &vlen);
    mt_error err;
    ck_assert(mt_identity_generate(&id, NULL) == 0);
    ck_assert(mt_dht_sign_mutable(mt_identity_secret_key(id), (const uint8_t *)"r", 1, 3, v, vlen, sig, NULL) == 0);
    ck_assert_int_eq(mt_dht_put_signed(mt_testnet_session(net, 2), mt_identity_public_key(id), (const uint8_t *)"r", 1,
                                       3, v, vlen, sig, target, &err), 0);
    t_wait(mt_testnet_session(net, 2), MT_EVENT_DHT_PUT, target, &ev);
    ck_assert_msg(ev.error == 0 && ev.num_success >= 1, "%s", ev.message);
    mt_event_clear(&ev);
    get_mutable(7, id, "r", &ev);
    ck_assert_int_eq(ev.seq, 3);
    ck_assert(memcmp(ev.signature, sig, 64) == 0);
    mt_event_clear(&ev);
    mt_free(v);
    mt_identity_free(id);
}
END_TEST

START_TEST(announce_then_get_peers_finds_all)
{
    uint8_t ih[20];
    mt_error err;
    int ports[3] = {41001, 41002, 41003};
    mt_session *q = mt_testnet_session(net, 7);
    randombytes_buf(ih, sizeof ih);  /* a hash with no torrent */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(mt_dht_announce(mt_testnet_session(net, i), ih, ports[i], &err), 0);

    /* Announces are fire-and-forget: look until every announcer shows up
     * (fails, naming how many did, after T_WAIT_MS). */
    t_wait_announced(q, ih, ports, 3, 500);
}
END_TEST

START_TEST(get_peers_deduplicates)
{
    uint8_t ih[20];
    mt_error err;
    mt_event ev;
    size_t total = 0;
    int port = 42000;
    mt_session *q = mt_testnet_session(net, 5);
    randombytes_buf(ih, sizeof ih);
    ck_assert_int_eq(mt_dht_announce(mt_testnet_session(net, 0), ih, port, &err), 0);
    /* Once a lookup sees the announce it has landed (one announce goes to
     * every closest node at once); the lookup below then hears the same
     * peer from several nodes and must report it once. */
    t_wait_announced(q, ih, &port, 1, 500);
    ck_assert_int_eq(mt_dht_get_peers(q, ih, 1500, &err), 0);
    t_wait(q, MT_EVENT_DHT_PEERS_DONE, ih, &ev);
    ck_assert_uint_eq(ev.num_peers, 1);  /* one peer, though several nodes reply */
    mt_event_clear(&ev);
    while (mt_session_next_event(q, &ev)) {
        if (ev.type == MT_EVENT_DHT_PEERS)
            total += ev.num_peers;
        mt_event_clear(&ev);
    }
    ck_assert_uint_eq(total, 1);
}
END_TEST

START_TEST(session_state_round_trip)
{
    char dir[] = "/tmp/mt-state-XXXXXX", path[128];
    mt_session_config cfg;
    mt_session *s = NULL;
    mt_error err;
    mt_event ev;
    uint8_t nid[20];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/session.state", dir);

    /* A node joins the network, saves its state and stops. */
    mt_session_config_init_loopback(&cfg, "127.0.10.201:0");
    cfg.dht_nodes = mt_testnet_bootstrap(net);
    ck_assert_msg(mt_session_new(&cfg, &s, &err) == 0, "%s", err.message);
    ck_assert_int_eq(mt_dht_wait_nodes(s, 4, T_WAIT_MS, &err), 0);
    ck_assert(mt_dht_request_stats(s, NULL) == 0);
    t_wait(s, MT_EVENT_DHT_STATS, NULL, &ev);
    memcpy(nid, ev.target, 20);
    mt_event_clear(&ev);
    ck_assert_int_eq(mt_session_save_state(s, path, &err), 0);
    mt_session_free(s);

    /* Restarted with no nodes given, it comes back with the same node id
     * and finds the network from the saved routing table alone. */
    cfg.dht_nodes = NULL;
    cfg.state_file = path;
    ck_assert_msg(mt_session_new(&cfg, &s, &err) == 0, "%s", err.message);
    ck_assert_msg(mt_dht_wait_nodes(s, 1, T_WAIT_MS, &err) == 0, "%s", err.message);
    ck_assert(mt_dht_request_stats(s, NULL) == 0);
    t_wait(s, MT_EVENT_DHT_STATS, NULL, &ev);
    ck_assert(memcmp(nid, ev.target, 20) == 0);
    mt_event_clear(&ev);
    mt_session_free(s);

    /* A corrupt state file is a clear error. */
    {
        FILE *f = fopen(path, "w");
        fputs("not bencoding", f);
        fclose(f);
    }
    ck_assert_int_eq(mt_session_new(&cfg, &s, &err), MT_EINVAL);
    ck_assert_msg(strstr(err.message, "state file") != NULL, "%s", err.message);
    unlink(path);
    rmdir(dir);
}
END_TEST


/* Put bencoded v on node `from` under (id, salt, seq); wait for the outcome. */
static void put_value(int from, const mt_identity *id, const char *salt, int64_t seq, const uint8_t *v,
                      size_t vlen)
{
    uint8_t target[20];
    mt_error err;
    mt_event ev;
    mt_session *s = mt_testnet_session(net, from);
    int rc = mt_dht_put_mutable(s, mt_identity_secret_key(id), (const uint8_t *)salt, strlen(salt), seq, v, vlen,
                                target, &err);
    ck_assert_msg(rc == 0, "put: %s", err.message);
    t_wait(s, MT_EVENT_DHT_PUT, target, &ev);
    ck_assert_msg(ev.error == 0 && ev.num_success >= 1, "put outcome: %s", ev.message);
    mt_event_clear(&ev);
}

START_TEST(pointer_items_over_dht)
{
    /* Both forms of a feed's DHT value survive a real put and get: the
     * inline manifest verifies against the feed key and the item's seq,
     * and the {ih, ts, ws} pointer decodes to what was put. */
    mt_identity *id = seed_identity();
    mt_manifest_draft *d = NULL;
    mt_manifest_expect e;
    mt_manifest *m = NULL;
    mt_pointer ptr;
    mt_event ev;
    mt_error err;
    uint8_t *v = NULL, ih[20];
    size_t vlen = 0, jlen = 0;
    char *json = NULL;
    const int64_t seq = 1700000000000;
    const char *ws[] = {"http://127.0.10.200:8080/index/"};

    ck_assert(mt_manifest_draft_new(&d, &err) == 0);
    ck_assert(mt_manifest_draft_add_item(d, "magnet:?xt=urn:btih:fd7473f1a80221e4259c428dc4338fab60f26d33", &err) == 0);
    ck_assert(mt_manifest_draft_sign(d, id, seq, seq, NULL, &json, &jlen, &err) == 0);
    ck_assert_msg(mt_pointer_encode_inline(json, jlen, &v, &vlen, &err) == 0, "%s", err.message);
    put_value(0, id, "feed", seq, v, vlen);
    mt_free(v);
    get_mutable(4, id, "feed", &ev);
    ck_assert_int_eq(ev.seq, seq);
    ck_assert_msg(mt_pointer_decode(ev.data, ev.data_len, &ptr, &err) == 0, "%s", err.message);
    ck_assert(ptr.is_inline);
    mt_manifest_expect_init(&e);
    e.public_key = ev.pubkey;
    e.dht_seq = ev.seq;
    ck_assert_msg(mt_manifest_load(ptr.json, ptr.json_len, &e, &m, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(mt_manifest_total_items(m), 1);
    mt_manifest_free(m);
    mt_pointer_clear(&ptr);
    mt_event_clear(&ev);

    /* The pointer form replaces it at the next seq. */
    memset(ih, 0xab, sizeof ih);
    ck_assert(mt_pointer_encode(ih, 1700000000, ws, 1, &v, &vlen, &err) == 0);
    put_value(1, id, "feed", seq + 1, v, vlen);
    mt_free(v);
    get_mutable(6, id, "feed", &ev);
    ck_assert_int_eq(ev.seq, seq + 1);
    ck_assert(mt_pointer_decode(ev.data, ev.data_len, &ptr, &err) == 0);
    ck_assert(!ptr.is_inline);
    ck_assert(memcmp(ptr.ih, ih, 20) == 0);
    ck_assert_int_eq(ptr.ts, 1700000000);
    ck_assert_uint_eq(ptr.n_ws, 1);
    ck_assert_str_eq(ptr.ws[0], ws[0]);
    /* The old inline manifest no longer matches the item's seq. */
    mt_manifest_expect_init(&e);
    e.dht_seq = ev.seq;
    ck_assert_int_eq(mt_manifest_load(json, jlen, &e, &m, &err), MT_EINVAL);
    mt_pointer_clear(&ptr);
    mt_event_clear(&ev);
    free(json);
    mt_manifest_draft_free(d);
    mt_identity_free(id);
}
END_TEST

static Suite *dht_suite(void)
{
    Suite *s = suite_create("dht");
    TCase *vec = tcase_create("vectors");
    TCase *nw = tcase_create("network");
    tcase_add_test(vec, bep44_vectors);
    tcase_add_test(vec, bep46_pointer_vector);
    tcase_add_test(vec, bencode_checks);
    tcase_add_test(vec, key_files_parse_and_refuse);
    tcase_add_test(vec, dht_off_reports_state_error);
    suite_add_tcase(s, vec);

    tcase_add_checked_fixture(nw, net_up, net_down);
    tcase_set_timeout(nw, 120);
    tcase_add_test(nw, mutable_put_get_across_nodes);
    tcase_add_test(nw, higher_seq_wins_and_auto_seq);
    tcase_add_test(nw, stale_seq_refused);
    tcase_add_test(nw, bad_puts_refused_before_network);
    tcase_add_test(nw, missing_key_reports_not_found);
    tcase_add_test(nw, immutable_put_get);
    tcase_add_test(nw, republish_signed_item);
    tcase_add_test(nw, announce_then_get_peers_finds_all);
    tcase_add_test(nw, get_peers_deduplicates);
    tcase_add_test(nw, session_state_round_trip);
    tcase_add_test(nw, pointer_items_over_dht);
    suite_add_tcase(s, nw);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dht_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
