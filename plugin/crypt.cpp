// crypt.cpp - the lt_mtcrypt extension behind mt_crypt.h: X25519 per
// connection, then ChaCha20-Poly1305 frames through libtorrent's
// crypto_plugin hooks.
//
// How the frames fit libtorrent 2.0.8's crypto_plugin contract
// (src/pe_crypto.cpp, src/receive_buffer.cpp, src/peer_connection.cpp):
//
// Send: peer_connection::setup_send hands encrypt() at most 1 MiB of the send
// buffer as a mutable iovec, encrypts it in place and prepends what encrypt()
// returns as its second value ("inject_vec", kept alive by the plugin until
// the next call). The first value is the size of the next send barrier and
// must equal payload + prepended bytes. So a frame is header-first: the tag
// travels in front of the ciphertext, never after it.
//
// Receive: once decrypt() returns a non-zero packet_size, the
// crypto_receive_buffer keeps the crypto layer's packet apart from the
// BitTorrent layer's and calls decrypt() only when a whole crypto packet has
// arrived, with exactly that packet. We alternate between two packets: the
// 20-byte header (consume 20, produce 0, next packet = n) and the n-byte body
// (decrypted in place: consume 0, produce n, next packet = 20). produce = -1
// turns into bytes_transferred == SIZE_MAX, which bt_peer_connection::
// on_receive answers with disconnect(parse_failed): that is how a frame that
// fails authentication ends the connection. bt_peer_connection rejects crypto
// packets over 1025 KiB; ours are at most 1 MiB.
//
// Threads: the plugin callbacks and crypto calls all run on libtorrent's
// network thread; stats are atomics read from any thread.

#include "config.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <sodium.h>

#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/operations.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/torrent_handle.hpp>

#include "mt_capi_ext.hpp"
#include "mt_crypt.h"

namespace {

// Our id for lt_megatorrent's sibling; push uses 23, built-ins 1-4, 7, 8.
constexpr int kOurMsgId = 24;
constexpr char kExtName[] = MT_CRYPT_EXTENSION_NAME;
constexpr char kPkKey[] = "mtcrypt_pk";
constexpr char kSwitchByte = 'S';

constexpr int kHeader = MT_CRYPT_FRAME_HEADER;  // length || tag
constexpr int kMaxFrame = MT_CRYPT_FRAME_MAX;    // what setup_send hands over at most
static_assert(MT_CRYPT_FRAME_HEADER == 4 + crypto_aead_chacha20poly1305_ietf_ABYTES, "header size");

static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == 32, "key size");
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "nonce size");
static_assert(crypto_scalarmult_BYTES == 32 && crypto_scalarmult_SCALARBYTES == 32, "x25519 sizes");

struct stats_atomic {
    std::atomic<std::uint64_t> upgraded{0}, refused{0}, plain{0}, failed{0};
};

void bump(std::atomic<std::uint64_t>& c)
{
    c.fetch_add(1, std::memory_order_relaxed);
}

struct crypt_core {
    crypt_core(mt_session* ses, mt_crypt_mode m) : s(ses), mode(m) {}
    ~crypt_core();
    crypt_core(crypt_core const&) = delete;
    crypt_core& operator=(crypt_core const&) = delete;

    mt_session* const s;
    mt_crypt_mode const mode;
    stats_atomic stats;
};

// Sessions with the extension. Weak: the session's plugin owns the core.
// Never destroyed, so a late call during process exit finds it intact.
struct core_registry {
    std::mutex mu;
    std::unordered_map<mt_session*, std::weak_ptr<crypt_core>> map;
};

core_registry& cores()
{
    static core_registry* r = new core_registry;
    return *r;
}

std::shared_ptr<crypt_core> core_of(mt_session* s)
{
    core_registry& r = cores();
    std::lock_guard<std::mutex> l(r.mu);
    auto it = r.map.find(s);
    return it == r.map.end() ? nullptr : it->second.lock();
}

crypt_core::~crypt_core()
{
    core_registry& r = cores();
    std::lock_guard<std::mutex> l(r.mu);
    auto it = r.map.find(s);
    if (it != r.map.end() && it->second.expired())
        r.map.erase(it);
}

using key_t = std::array<unsigned char, 32>;

// One direction's nonce: 4 zero bytes || u64 little-endian counter.
void make_nonce(std::uint64_t n, unsigned char out[12])
{
    std::memset(out, 0, 12);
    for (int i = 0; i < 8; ++i)
        out[4 + i] = static_cast<unsigned char>(n >> (8 * i));
}

// The frame layer. One object serves both directions (like libtorrent's
// rc4_handler); each direction has its own key and counter.
class frame_cipher final : public lt::crypto_plugin {
public:
    frame_cipher(key_t const& tx, key_t const& rx, std::shared_ptr<crypt_core> core)
        : tx_(tx), rx_(rx), core_(std::move(core))
    {
        out_vec_[0] = lt::span<char const>(reinterpret_cast<char const*>(out_hdr_), kHeader);
    }
    ~frame_cipher() override
    {
        sodium_memzero(tx_.data(), tx_.size());
        sodium_memzero(rx_.data(), rx_.size());
        sodium_memzero(scratch_.data(), scratch_.size());
    }

    // libtorrent only calls these for its own RC4; kept working for
    // completeness: a 32-byte key replaces the direction's key and counter.
    void set_incoming_key(lt::span<char const> key) override
    {
        if (key.size() == 32) {
            std::memcpy(rx_.data(), key.data(), 32);
            rx_n_ = 0;
        }
    }
    void set_outgoing_key(lt::span<char const> key) override
    {
        if (key.size() == 32) {
            std::memcpy(tx_.data(), key.data(), 32);
            tx_n_ = 0;
        }
    }

    std::tuple<int, lt::span<lt::span<char const>>> encrypt(lt::span<lt::span<char>> bufs) override
    {
        std::size_t total = 0;
        for (auto const& b : bufs)
            total += static_cast<std::size_t>(b.size());
        if (total == 0)
            return std::make_tuple(0, lt::span<lt::span<char const>>());
        // setup_send never hands over more than kMaxFrame; a peer would
        // refuse a bigger frame anyway.
        unsigned char* m;
        if (bufs.size() == 1) {
            m = reinterpret_cast<unsigned char*>(bufs[0].data());
        } else {
            scratch_.resize(total);
            std::size_t at = 0;
            for (auto const& b : bufs) {
                std::memcpy(scratch_.data() + at, b.data(), static_cast<std::size_t>(b.size()));
                at += static_cast<std::size_t>(b.size());
            }
            m = scratch_.data();
        }
        mt_crypt_frame_seal(tx_.data(), tx_n_++, m, total, out_hdr_);
        if (bufs.size() != 1) {
            std::size_t at = 0;
            for (auto const& b : bufs) {
                std::memcpy(b.data(), scratch_.data() + at, static_cast<std::size_t>(b.size()));
                at += static_cast<std::size_t>(b.size());
            }
        }
        return std::make_tuple(static_cast<int>(total) + kHeader, lt::span<lt::span<char const>>(out_vec_, 1));
    }

    std::tuple<int, int, int> decrypt(lt::span<lt::span<char>> bufs) override
    {
        std::size_t total = 0;
        for (auto const& b : bufs)
            total += static_cast<std::size_t>(b.size());
        if (total == 0)  // switch_recv_crypto asks what to read first
            return std::make_tuple(0, 0, want_header_ ? kHeader : static_cast<int>(body_len_));
        if (failed_)
            return fail();
        if (want_header_) {
            if (total != static_cast<std::size_t>(kHeader))
                return fail();
            gather(bufs, in_hdr_, kHeader);
            std::size_t n = 0;
            if (mt_crypt_frame_length(in_hdr_, &n) != MT_OK)
                return fail();
            body_len_ = static_cast<std::uint32_t>(n);
            want_header_ = false;
            return std::make_tuple(kHeader, 0, static_cast<int>(n));
        }
        if (total != body_len_)
            return fail();
        unsigned char* c;
        if (bufs.size() == 1) {
            c = reinterpret_cast<unsigned char*>(bufs[0].data());
        } else {
            scratch_.resize(total);
            gather(bufs, scratch_.data(), total);
            c = scratch_.data();
        }
        if (mt_crypt_frame_open(rx_.data(), rx_n_, in_hdr_, c, total) != MT_OK) {
            for (auto const& b : bufs)  // nothing unauthenticated reaches the upper layer
                sodium_memzero(b.data(), static_cast<std::size_t>(b.size()));
            return fail();
        }
        ++rx_n_;
        if (bufs.size() != 1) {
            std::size_t at = 0;
            for (auto const& b : bufs) {
                std::memcpy(b.data(), scratch_.data() + at, static_cast<std::size_t>(b.size()));
                at += static_cast<std::size_t>(b.size());
            }
        }
        want_header_ = true;
        return std::make_tuple(0, static_cast<int>(total), kHeader);
    }

private:
    static void gather(lt::span<lt::span<char>> bufs, unsigned char* out, std::size_t cap)
    {
        std::size_t at = 0;
        for (auto const& b : bufs) {
            std::size_t k = std::min(cap - at, static_cast<std::size_t>(b.size()));
            std::memcpy(out + at, b.data(), k);
            at += k;
        }
    }

    // produce = -1: bt_peer_connection::on_receive sees SIZE_MAX and
    // disconnects with parse_failed.
    std::tuple<int, int, int> fail()
    {
        if (!failed_)
            bump(core_->stats.failed);
        failed_ = true;
        return std::make_tuple(0, -1, 0);
    }

    key_t tx_, rx_;
    std::uint64_t tx_n_ = 0, rx_n_ = 0;
    std::shared_ptr<crypt_core> const core_;
    unsigned char out_hdr_[kHeader] = {};
    lt::span<char const> out_vec_[1];
    unsigned char in_hdr_[kHeader] = {};
    bool want_header_ = true;
    bool failed_ = false;
    std::uint32_t body_len_ = 0;
    std::vector<unsigned char> scratch_;
};

lt::error_code refusal()
{
    return lt::errors::make_error_code(lt::errors::unsupported_encryption_mode);
}

// One connection. Lives on the network thread.
struct crypt_peer final : lt::peer_plugin {
    crypt_peer(std::shared_ptr<crypt_core> c, lt::sha1_hash const& t, lt::bt_peer_connection_handle h)
        : core(std::move(c)), torrent(t), pc(std::move(h))
    {
        randombytes_buf(sk, sizeof sk);
        crypto_scalarmult_base(pk, sk);
    }
    ~crypt_peer() override { sodium_memzero(sk, sizeof sk); }

    lt::string_view type() const override { return kExtName; }

    void add_handshake(lt::entry& h) override
    {
        h["m"][kExtName] = kOurMsgId;
        h[kPkKey] = std::string(reinterpret_cast<char const*>(pk), sizeof pk);
    }

    // The peer's BitTorrent handshake: without the BEP-10 bit it can never
    // send an extended handshake.
    bool on_handshake(lt::span<char const> reserved) override
    {
        if (reserved.size() >= 8 && (reserved[5] & 0x10))
            return true;
        return not_speaking();
    }

    bool on_extension_handshake(lt::bdecode_node const& h) override
    {
        if (send_on)
            return true;  // a repeated handshake changes nothing
        if (h.type() != lt::bdecode_node::dict_t)
            return not_speaking();
        lt::bdecode_node m = h.dict_find_dict("m");
        std::int64_t id = m ? m.dict_find_int_value(kExtName, 0) : 0;
        lt::bdecode_node theirs = h.dict_find_string(kPkKey);
        if (id <= 0 || id > 255 || !theirs)
            return not_speaking();
        if (theirs.string_length() != 32)
            return failure();
        unsigned char peer_pk[32];
        std::memcpy(peer_pk, theirs.string_ptr(), 32);
        key_t tx, rx;
        if (!derive(peer_pk, tx, rx))
            return failure();
        cipher = std::make_shared<frame_cipher>(tx, rx, core);
        sodium_memzero(tx.data(), tx.size());
        sodium_memzero(rx.data(), rx.size());

        // The switch message goes out in the clear; every byte queued after
        // it is framed.
        char msg[7] = {0, 0, 0, 3, 20, static_cast<char>(id), kSwitchByte};
        pc.send_buffer(msg, sizeof msg);
        pc.switch_send_crypto(cipher);
        send_on = true;
        return true;
    }

    bool on_extended(int length, int msg, lt::span<char const> body) override
    {
        if (msg != kOurMsgId)
            return false;
        if (!pc.packet_finished())
            return true;
        if (!send_on || recv_on || length != 1 || body.size() != 1 || body[0] != kSwitchByte) {
            failure();
            return true;
        }
        // Here the BitTorrent layer sits on a message boundary: what follows
        // is the peer's first frame.
        pc.switch_recv_crypto(cipher);
        recv_on = true;
        bump(core->stats.upgraded);
        return true;
    }

    // Piece data only ever answers a request: in require mode none is
    // served before our side has switched.
    bool on_request(lt::peer_request const&) override
    {
        if (send_on || core->mode != MT_CRYPT_REQUIRE)
            return false;
        refuse();
        return true;
    }

    // The peer cannot or will not run the exchange.
    bool not_speaking()
    {
        if (core->mode == MT_CRYPT_REQUIRE) {
            refuse();
            return true;
        }
        bump(core->stats.plain);
        return false;  // libtorrent drops this plugin from the connection
    }

    // The peer tried and got it wrong: never plain in require mode.
    bool failure()
    {
        bump(core->stats.failed);
        if (core->mode == MT_CRYPT_REQUIRE || send_on) {
            gone = true;
            pc.disconnect(refusal(), lt::operation_t::encryption, lt::peer_connection_interface::peer_error);
            return true;
        }
        return false;
    }

    void refuse()
    {
        if (gone)
            return;
        gone = true;
        bump(core->stats.refused);
        pc.disconnect(refusal(), lt::operation_t::encryption, lt::peer_connection_interface::normal);
    }

    // shared = X25519(sk, peer_pk); keys per direction over the transcript
    // torrent id || lo || hi.
    bool derive(unsigned char const peer_pk[32], key_t& tx, key_t& rx)
    {
        int order = sodium_compare(pk, peer_pk, 32);
        if (order == 0)
            return false;  // our own key echoed back
        unsigned char shared[32];
        if (crypto_scalarmult(shared, sk, peer_pk) != 0) {  // all-zero result
            sodium_memzero(shared, sizeof shared);
            return false;
        }
        unsigned char const* lo = order < 0 ? pk : peer_pk;
        unsigned char const* hi = order < 0 ? peer_pk : pk;
        key_t lohi, hilo;
        kdf(shared, "megatorrent/crypt/v1 lo>hi", lo, hi, lohi);
        kdf(shared, "megatorrent/crypt/v1 hi>lo", lo, hi, hilo);
        sodium_memzero(shared, sizeof shared);
        bool we_are_lo = order < 0;
        tx = we_are_lo ? lohi : hilo;
        rx = we_are_lo ? hilo : lohi;
        sodium_memzero(lohi.data(), lohi.size());
        sodium_memzero(hilo.data(), hilo.size());
        return true;
    }

    void kdf(unsigned char const shared[32], char const* label, unsigned char const* lo, unsigned char const* hi,
             key_t& out) const
    {
        crypto_generichash_state st;
        crypto_generichash_init(&st, shared, 32, out.size());
        crypto_generichash_update(&st, reinterpret_cast<unsigned char const*>(label), std::strlen(label));
        crypto_generichash_update(&st, reinterpret_cast<unsigned char const*>(torrent.data()), torrent.size());
        crypto_generichash_update(&st, lo, 32);
        crypto_generichash_update(&st, hi, 32);
        crypto_generichash_final(&st, out.data(), out.size());
        sodium_memzero(&st, sizeof st);
    }

    std::shared_ptr<crypt_core> const core;
    lt::sha1_hash const torrent;
    lt::bt_peer_connection_handle pc;
    unsigned char sk[32];
    unsigned char pk[32];
    std::shared_ptr<frame_cipher> cipher;
    bool send_on = false, recv_on = false, gone = false;
};

struct crypt_torrent final : lt::torrent_plugin {
    crypt_torrent(std::shared_ptr<crypt_core> c, lt::sha1_hash const& t) : core(std::move(c)), torrent(t) {}

    std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const& pc) override
    {
        if (pc.type() != lt::connection_type::bittorrent)
            return nullptr;  // web seeds: HTTP(S), nothing to switch
        return std::make_shared<crypt_peer>(core, torrent, lt::bt_peer_connection_handle(pc));
    }

    std::shared_ptr<crypt_core> const core;
    lt::sha1_hash const torrent;
};

struct crypt_plugin final : lt::plugin {
    explicit crypt_plugin(std::shared_ptr<crypt_core> c) : core(std::move(c)) {}

    std::shared_ptr<lt::torrent_plugin> new_torrent(lt::torrent_handle const& h, lt::client_data_t) override
    {
        return std::make_shared<crypt_torrent>(core, mtcapi::torrent_id(h.info_hashes()));
    }

    std::shared_ptr<crypt_core> const core;
};

} // namespace

extern "C" {

int mt_crypt_frame_length(const uint8_t hdr[MT_CRYPT_FRAME_HEADER], size_t* n)
{
    if (!hdr || !n)
        return MT_EINVAL;
    std::uint32_t len = (std::uint32_t(hdr[0]) << 24) | (std::uint32_t(hdr[1]) << 16) | (std::uint32_t(hdr[2]) << 8) |
                        std::uint32_t(hdr[3]);
    *n = 0;
    if (len == 0 || len > MT_CRYPT_FRAME_MAX)
        return MT_EINVAL;
    *n = len;
    return MT_OK;
}

int mt_crypt_frame_seal(const uint8_t key[32], uint64_t counter, uint8_t* buf, size_t n,
                        uint8_t hdr[MT_CRYPT_FRAME_HEADER])
{
    if (!key || !buf || !hdr || n == 0 || n > MT_CRYPT_FRAME_MAX)
        return MT_EINVAL;
    hdr[0] = static_cast<unsigned char>(n >> 24);
    hdr[1] = static_cast<unsigned char>(n >> 16);
    hdr[2] = static_cast<unsigned char>(n >> 8);
    hdr[3] = static_cast<unsigned char>(n);
    unsigned char nonce[12];
    make_nonce(counter, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, hdr + 4, nullptr, buf, n, hdr, 4, nullptr, nonce, key);
    return MT_OK;
}

int mt_crypt_frame_open(const uint8_t key[32], uint64_t counter, const uint8_t hdr[MT_CRYPT_FRAME_HEADER],
                        uint8_t* buf, size_t n)
{
    size_t want = 0;
    if (!key || !buf || !hdr || mt_crypt_frame_length(hdr, &want) != MT_OK || want != n)
        return MT_EINVAL;
    unsigned char nonce[12];
    make_nonce(counter, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf, nullptr, buf, n, hdr + 4, hdr, 4, nonce, key) != 0) {
        sodium_memzero(buf, n);
        return MT_ECRYPTO;
    }
    return MT_OK;
}

int mt_crypt_enable(mt_session* s, mt_crypt_mode mode, mt_error* err)
{
    mt_error_clear(err);
    if (!s)
        return mt_error_set(err, MT_EINVAL, "session is required");
    // Read as its underlying integer: a C caller may pass any int, and
    // loading an out-of-range enum value is undefined in C++.
    std::underlying_type_t<mt_crypt_mode> raw;
    static_assert(sizeof raw == sizeof mode, "enum size");
    std::memcpy(&raw, &mode, sizeof raw);
    if (raw != MT_CRYPT_OFF && raw != MT_CRYPT_PREFER && raw != MT_CRYPT_REQUIRE)
        return mt_error_set(err, MT_EINVAL, "unknown encryption mode %lld", static_cast<long long>(raw));
    if (raw == MT_CRYPT_OFF)
        return MT_OK;
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    try {
        auto core = std::make_shared<crypt_core>(s, mode);
        core_registry& r = cores();
        std::lock_guard<std::mutex> l(r.mu);
        auto it = r.map.find(s);
        if (it != r.map.end() && !it->second.expired())
            return mt_error_set(err, MT_EEXIST, "encrypted links are already enabled on this session");
        mtcapi::engine(s).add_extension(std::make_shared<crypt_plugin>(core));
        r.map[s] = core;
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory enabling encrypted links");
    } catch (std::exception const& e) {
        return mtcapi::set_from_exception(err, MT_EENGINE, e.what(), "enabling encrypted links");
    }
}

void mt_crypt_get_stats(mt_session* s, mt_crypt_stats* st)
{
    if (!st)
        return;
    std::memset(st, 0, sizeof *st);
    if (!s)
        return;
    try {
        std::shared_ptr<crypt_core> core = core_of(s);
        if (!core)
            return;
        auto ld = [](std::atomic<std::uint64_t> const& x) { return x.load(std::memory_order_relaxed); };
        st->upgraded = ld(core->stats.upgraded);
        st->refused = ld(core->stats.refused);
        st->plain = ld(core->stats.plain);
        st->failed = ld(core->stats.failed);
    } catch (...) {
    }
}

} // extern "C"
