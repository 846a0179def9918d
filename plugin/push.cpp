// push.cpp - the lt_megatorrent BEP-10 extension behind mt_push.h.
//
// Threads: libtorrent's network thread runs the plugin callbacks and the
// sends; one worker thread per session decodes and verifies what came in;
// the caller's thread runs mt_push_*. They share a push_core: stats are
// atomics, the peer registry, the verify queue and the seen-seq map each
// have their own mutex. Every extern "C" function catches everything.

#include "config.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <sodium.h>

#include <libtorrent/bdecode.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/torrent_handle.hpp>

#include "mt_capi_ext.hpp"
#include "mt_push.h"

namespace {

using clock_type = std::chrono::steady_clock;

// Our id for lt_megatorrent in the handshake's "m" dict. Built-in
// extensions use 1-4, 7 and 8 (ENGINE-NOTES); any other 1-255 would do.
constexpr int kOurMsgId = 23;
constexpr char kExtName[] = MT_PUSH_EXTENSION_NAME;

constexpr std::size_t kSeenMax = 10000;       // targets remembered for de-duplication
constexpr int kSendBufferCap = 1024 * 1024;   // skip a peer whose unsent bytes exceed this
constexpr std::size_t kRawMax = 1024 * 1024;  // mt_push_send_raw cap
constexpr std::size_t kMaxMessageMin = 64, kMaxMessageMax = 65536;

struct push_peer;

// A message waiting for the worker.
struct job {
    lt::sha1_hash torrent;
    std::string endpoint;
    std::vector<char> body;
};

struct reg_entry {
    push_peer const* key;  // identity, usable after the weak_ptr expired
    std::weak_ptr<push_peer> peer;
    std::string endpoint;
};

// Highest seq delivered or sent per target, least recently used evicted
// first, so a flood of fresh targets cannot grow memory.
class seen_map {
public:
    // 0 if the target is unknown.
    std::int64_t highest(lt::sha1_hash const& t) const
    {
        auto it = map_.find(t);
        return it == map_.end() ? 0 : it->second.first;
    }

    // Raise the target's seq to at least seq; false if it was already >= seq.
    bool note(lt::sha1_hash const& t, std::int64_t seq)
    {
        auto it = map_.find(t);
        if (it != map_.end()) {
            order_.splice(order_.begin(), order_, it->second.second);
            if (it->second.first >= seq)
                return false;
            it->second.first = seq;
            return true;
        }
        order_.push_front(t);
        map_.emplace(t, std::make_pair(seq, order_.begin()));
        if (map_.size() > kSeenMax) {
            map_.erase(order_.back());
            order_.pop_back();
        }
        return true;
    }

private:
    std::list<lt::sha1_hash> order_;  // most recently used first
    std::unordered_map<lt::sha1_hash, std::pair<std::int64_t, std::list<lt::sha1_hash>::iterator>> map_;
};

struct push_stats_atomic {
    std::atomic<std::uint64_t> received{0}, delivered{0}, bad_signature{0}, malformed{0}, oversized{0},
        rate_limited{0}, duplicate{0}, sent{0}, handshakes{0};
};

void bump(std::atomic<std::uint64_t>& c)
{
    c.fetch_add(1, std::memory_order_relaxed);
}

// Bytes queued on a connection and not yet written. send_buffer_size() is
// inline over a class whose typeinfo libtorrent does not export, so the
// UBSan vptr check (sanitizer builds) must not instrument this call.
__attribute__((no_sanitize("vptr"))) int unsent_bytes(lt::peer_connection const& c)
{
    return c.send_buffer_size();
}

std::string endpoint_str(lt::tcp::endpoint const& ep)
{
    std::string ip = ep.address().to_string();
    if (ep.address().is_v6())
        return "[" + ip + "]:" + std::to_string(ep.port());
    return ip + ":" + std::to_string(ep.port());
}

struct push_core {
    push_core(mt_session* ses, mt_push_config const& c) : s(ses), cfg(c) {}
    ~push_core();
    push_core(push_core const&) = delete;
    push_core& operator=(push_core const&) = delete;

    mt_session* const s;  // used by the worker only, which stops before s goes
    mt_push_config const cfg;
    push_stats_atomic stats;

    // Peers that advertised lt_megatorrent, per torrent id.
    std::mutex reg_mu;
    std::unordered_map<lt::sha1_hash, std::vector<reg_entry>> reg;

    // Torrents whose push peers stay connected (mt_push_keep_links).
    mutable std::mutex keep_mu;
    std::unordered_set<lt::sha1_hash> keep;
    bool keeps(lt::sha1_hash const& t) const
    {
        std::lock_guard<std::mutex> l(keep_mu);
        return keep.count(t) != 0;
    }

    std::mutex q_mu;
    std::condition_variable q_cv;
    std::deque<job> queue;
    bool stopping = false;
    std::thread worker;

    std::mutex seen_mu;
    seen_map seen;

    void start() { worker = std::thread([this] { run(); }); }
    void stop();
    void enqueue(job&& j);
    void run();
    void check(job const& j);

    void add_peer(lt::sha1_hash const& t, std::shared_ptr<push_peer> const& p, std::string const& ep);
    void remove_peer(lt::sha1_hash const& t, push_peer const* p);
    int count_peers(lt::sha1_hash const& t, char const* except);
    void send_now(lt::sha1_hash const& t, std::string const& body, std::string const& except, int max_peers);
};

// Sessions with push enabled. Weak: the session's plugins own the core.
// Never destroyed, so a late call during process exit finds it intact.
struct core_registry {
    std::mutex mu;
    std::unordered_map<mt_session*, std::weak_ptr<push_core>> map;
};

core_registry& cores()
{
    static core_registry* r = new core_registry;
    return *r;
}

std::shared_ptr<push_core> core_of(mt_session* s)
{
    core_registry& r = cores();
    std::lock_guard<std::mutex> l(r.mu);
    auto it = r.map.find(s);
    return it == r.map.end() ? nullptr : it->second.lock();
}

push_core::~push_core()
{
    stop();
    core_registry& r = cores();
    std::lock_guard<std::mutex> l(r.mu);
    auto it = r.map.find(s);
    if (it != r.map.end() && it->second.expired())
        r.map.erase(it);
}

void push_core::stop()
{
    {
        std::lock_guard<std::mutex> l(q_mu);
        stopping = true;
        queue.clear();
    }
    q_cv.notify_all();
    if (worker.joinable() && worker.get_id() != std::this_thread::get_id())
        worker.join();
}

void push_core::enqueue(job&& j)
{
    {
        std::lock_guard<std::mutex> l(q_mu);
        if (stopping)
            return;
        if (queue.size() >= static_cast<std::size_t>(cfg.queue_max)) {
            bump(stats.rate_limited);
            return;
        }
        queue.push_back(std::move(j));
    }
    q_cv.notify_one();
}

void push_core::run()
{
    for (;;) {
        job j;
        {
            std::unique_lock<std::mutex> l(q_mu);
            q_cv.wait(l, [this] { return stopping || !queue.empty(); });
            if (stopping)
                return;
            j = std::move(queue.front());
            queue.pop_front();
        }
        try {
            check(j);
        } catch (...) {
            bump(stats.malformed);  // bad_alloc decoding: treat as unusable
        }
    }
}

// Frees an item's value on every way out of push_core::check.
struct item_holder {
    mt_push_item it;
    item_holder() { memset(&it, 0, sizeof it); }
    ~item_holder() { mt_push_item_clear(&it); }
    item_holder(item_holder const&) = delete;
    item_holder& operator=(item_holder const&) = delete;
};

// Decode, de-duplicate, verify and post one message (worker thread).
void push_core::check(job const& j)
{
    item_holder h;
    mt_push_item& it = h.it;
    int rc = mt_push_decode(reinterpret_cast<uint8_t const*>(j.body.data()), j.body.size(), cfg.max_message, &it,
                            nullptr);
    if (rc == MT_ENOMEM) {
        bump(stats.rate_limited);  // nowhere to put it: dropped like a full queue
        return;
    }
    if (rc != MT_OK) {
        bump(stats.malformed);
        return;
    }
    lt::sha1_hash target(reinterpret_cast<char const*>(it.target));
    // Cheap check first: an echo or a replay costs no signature check.
    {
        std::lock_guard<std::mutex> l(seen_mu);
        if (seen.highest(target) >= it.seq) {
            bump(stats.duplicate);
            return;
        }
    }
    if (mt_dht_verify_mutable(it.k, it.salt, it.salt_len, it.seq, it.v, it.v_len, it.sig, nullptr) != MT_OK) {
        bump(stats.bad_signature);
        return;
    }
    // Only verified items enter the map: a forger cannot shadow real seqs.
    {
        std::lock_guard<std::mutex> l(seen_mu);
        if (!seen.note(target, it.seq)) {  // sent by us meanwhile
            bump(stats.duplicate);
            return;
        }
    }

    mt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = MT_EVENT_PUSH;
    memcpy(ev.target, j.torrent.data(), 20);
    memcpy(ev.pubkey, it.k, 32);
    memcpy(ev.signature, it.sig, 64);
    ev.salt_len = it.salt_len;
    if (ev.salt_len)
        memcpy(ev.salt, it.salt, ev.salt_len);
    ev.seq = it.seq;
    mtcapi::copy_str(ev.endpoint, sizeof ev.endpoint, j.endpoint);
    snprintf(ev.message, sizeof ev.message, "lt_megatorrent push of seq %" PRId64 " from %s", it.seq,
             j.endpoint.c_str());
    // The decoded copy of v becomes the event's data.
    ev.data = it.v;
    ev.data_len = it.v_len;
    it.v = nullptr;
    it.v_len = 0;
    // Counted before posting, so whoever sees the event sees the count.
    bump(stats.delivered);
    if (!mtcapi::post_event(s, ev)) {  // takes ev.data, or frees it
        stats.delivered.fetch_sub(1, std::memory_order_relaxed);
        bump(stats.rate_limited);
    }
}

// One connection to a peer of one torrent. Lives on the network thread;
// the registry only holds weak references.
struct push_peer final : lt::peer_plugin, std::enable_shared_from_this<push_peer> {
    push_peer(std::shared_ptr<push_core> c, lt::sha1_hash const& t, lt::bt_peer_connection_handle h)
        : core(std::move(c)), torrent(t), pc(std::move(h)), endpoint(endpoint_str(pc.remote())),
          tokens(core->cfg.peer_burst), last_refill(clock_type::now())
    {
    }

    ~push_peer() override { core->remove_peer(torrent, this); }

    lt::string_view type() const override { return kExtName; }

    void add_handshake(lt::entry& h) override { h["m"][kExtName] = kOurMsgId; }

    // Without the BEP-10 bit in its BitTorrent handshake the peer can never
    // speak lt_megatorrent: drop the plugin now, and with it the
    // can_disconnect veto, rather than hold a redundant link open for it.
    bool on_handshake(lt::span<char const> reserved) override
    {
        return reserved.size() >= 8 && (reserved[5] & 0x10);
    }

    bool on_extension_handshake(lt::bdecode_node const& h) override
    {
        // Counted when acted on below (on return), not before.
        struct counted {
            std::atomic<std::uint64_t>& n;
            ~counted() { bump(n); }
        } c{core->stats.handshakes};
        if (h.type() != lt::bdecode_node::dict_t)
            return false;
        lt::bdecode_node m = h.dict_find_dict("m");
        std::int64_t id = m ? m.dict_find_int_value(kExtName, 0) : 0;
        if (id <= 0 || id > 255) {
            // libtorrent drops this plugin from the connection: we never
            // send to a peer that did not ask for it.
            core->remove_peer(torrent, this);
            return false;
        }
        their_id = static_cast<int>(id);
        core->add_peer(torrent, shared_from_this(), endpoint);
        return true;
    }

    void on_disconnect(lt::error_code const&) override { core->remove_peer(torrent, this); }

    // libtorrent asks before closing a connection it finds redundant: both
    // ends seeds, the normal state of an index swarm. For kept torrents,
    // say no. The plugin is still attached either because the peer speaks
    // lt_megatorrent or because its extended handshake has not arrived yet;
    // a peer without the extension loses the plugin, and with it the veto.
    bool can_disconnect(lt::error_code const& ec) override
    {
        if (ec != lt::errors::upload_upload_connection && ec != lt::errors::torrent_finished &&
            ec != lt::errors::uninteresting_upload_peer)
            return true;
        return !core->keeps(torrent);
    }

    bool on_extended(int length, int msg, lt::span<char const> body) override
    {
        if (msg != kOurMsgId)
            return false;
        // Called as bytes arrive; the body is complete only at the end.
        if (!pc.packet_finished())
            return true;
        bump(core->stats.received);
        if (length < 0 || static_cast<std::size_t>(length) > core->cfg.max_message) {
            bump(core->stats.oversized);
            return true;
        }
        if (!take_token()) {
            bump(core->stats.rate_limited);
            return true;
        }
        std::size_t n = std::min(static_cast<std::size_t>(length), static_cast<std::size_t>(body.size()));
        core->enqueue(job{torrent, endpoint, std::vector<char>(body.data(), body.data() + n)});
        return true;
    }

    // Token bucket: peer_burst tokens, refilled at peer_per_min per minute.
    bool take_token()
    {
        auto now = clock_type::now();
        double secs = std::chrono::duration<double>(now - last_refill).count();
        last_refill = now;
        double burst = core->cfg.peer_burst;
        tokens = std::min(burst, tokens + secs * core->cfg.peer_per_min / 60.0);
        if (tokens < 1.0)
            return false;
        tokens -= 1.0;
        return true;
    }

    // Write one framed message (network thread). False if the peer cannot
    // take it now (gone, closing, or not reading what it was sent).
    bool send(std::string const& payload)
    {
        if (their_id <= 0)
            return false;
        std::shared_ptr<lt::peer_connection> conn = pc.peer_connection_handle::native_handle();
        if (!conn || pc.is_disconnecting() || unsent_bytes(*conn) > kSendBufferCap)
            return false;
        std::uint32_t len = static_cast<std::uint32_t>(payload.size() + 2);
        char hdr[6] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                       static_cast<char>(len), 20, static_cast<char>(their_id)};
        pc.send_buffer(hdr, sizeof hdr);
        pc.send_buffer(payload.data(), static_cast<int>(payload.size()));
        bump(core->stats.sent);
        return true;
    }

    std::shared_ptr<push_core> const core;
    lt::sha1_hash const torrent;
    lt::bt_peer_connection_handle pc;
    std::string const endpoint;
    int their_id = 0;
    double tokens;
    clock_type::time_point last_refill;
};

void push_core::add_peer(lt::sha1_hash const& t, std::shared_ptr<push_peer> const& p, std::string const& ep)
{
    std::lock_guard<std::mutex> l(reg_mu);
    auto& v = reg[t];
    for (auto const& e : v)
        if (e.key == p.get())
            return;  // a repeated extended handshake
    v.push_back({p.get(), p, ep});
}

void push_core::remove_peer(lt::sha1_hash const& t, push_peer const* p)
{
    std::lock_guard<std::mutex> l(reg_mu);
    auto it = reg.find(t);
    if (it == reg.end())
        return;
    auto& v = it->second;
    v.erase(std::remove_if(v.begin(), v.end(), [p](reg_entry const& e) { return e.key == p; }), v.end());
    if (v.empty())
        reg.erase(it);
}

int push_core::count_peers(lt::sha1_hash const& t, char const* except)
{
    std::lock_guard<std::mutex> l(reg_mu);
    auto it = reg.find(t);
    if (it == reg.end())
        return 0;
    int n = 0;
    for (auto const& e : it->second)
        if (!except || e.endpoint != except)
            ++n;
    return n;
}

// Send body to the eligible peers of t, or to max_peers of them (> 0)
// picked uniformly at random, so forwards through a dense swarm cost
// O(N * max_peers) messages instead of O(N^2).
void push_core::send_now(lt::sha1_hash const& t, std::string const& body, std::string const& except,
                         int max_peers)
{
    std::vector<std::shared_ptr<push_peer>> peers;
    {
        std::lock_guard<std::mutex> l(reg_mu);
        auto it = reg.find(t);
        if (it == reg.end())
            return;
        for (auto const& e : it->second)
            if (except.empty() || e.endpoint != except)
                if (auto p = e.peer.lock())
                    peers.push_back(std::move(p));
    }
    std::size_t n = peers.size();
    if (max_peers > 0 && static_cast<std::size_t>(max_peers) < n) {
        // Partial Fisher-Yates: the first max_peers slots become a uniform sample.
        for (std::size_t i = 0; i < static_cast<std::size_t>(max_peers); ++i) {
            std::size_t j = i + randombytes_uniform(static_cast<std::uint32_t>(n - i));
            std::swap(peers[i], peers[j]);
        }
        n = static_cast<std::size_t>(max_peers);
    }
    // Outside the lock: a peer released here may unregister itself.
    for (std::size_t i = 0; i < n; ++i)
        peers[i]->send(body);
}

struct push_torrent final : lt::torrent_plugin {
    push_torrent(std::shared_ptr<push_core> c, lt::sha1_hash const& t) : core(std::move(c)), torrent(t) {}

    std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const& pc) override
    {
        if (pc.type() != lt::connection_type::bittorrent)
            return nullptr;  // web seeds have no extended messages
        return std::make_shared<push_peer>(core, torrent, lt::bt_peer_connection_handle(pc));
    }

    std::shared_ptr<push_core> const core;
    lt::sha1_hash const torrent;
};

struct push_plugin final : lt::plugin {
    explicit push_plugin(std::shared_ptr<push_core> c) : core(std::move(c)) {}

    // The session is going: stop posting events into it. abort() comes
    // first (network thread, while the session is shut down), the
    // destructor is the backstop; stop() is idempotent.
    ~push_plugin() override { core->stop(); }
    void abort() override { core->stop(); }

    std::shared_ptr<lt::torrent_plugin> new_torrent(lt::torrent_handle const& h, lt::client_data_t) override
    {
        return std::make_shared<push_torrent>(core, mtcapi::torrent_id(h.info_hashes()));
    }

    std::shared_ptr<push_core> const core;
};

int check_config(mt_push_config const& c, mt_error* err)
{
    if (c.max_message < kMaxMessageMin || c.max_message > kMaxMessageMax)
        return mt_error_set(err, MT_EINVAL, "max_message %zu is not %zu-%zu", c.max_message, kMaxMessageMin,
                            kMaxMessageMax);
    if (c.peer_burst < 1 || c.peer_per_min < 0 || c.queue_max < 1)
        return mt_error_set(err, MT_EINVAL, "peer_burst and queue_max must be >= 1, peer_per_min >= 0");
    return MT_OK;
}

void append_str(std::string& out, char const* key, void const* p, std::size_t n)
{
    out += key;
    out += std::to_string(n);
    out += ':';
    out.append(static_cast<char const*>(p), n);
}

// The item rules mt_push_send and mt_push_encode share (pointers checked by the caller).
int check_item(uint8_t const* salt, std::size_t salt_len, std::int64_t seq, uint8_t const* v, std::size_t v_len,
               mt_error* err)
{
    if (seq < 1)
        return mt_error_set(err, MT_EINVAL, "seq must be >= 1, not %" PRId64, seq);
    if (salt_len > MT_DHT_SALT_MAX)
        return mt_error_set(err, MT_EINVAL, "salt is %zu bytes; BEP-44 allows at most 64", salt_len);
    if (salt_len && !salt)
        return mt_error_set(err, MT_EINVAL, "salt pointer is NULL");
    if (v_len == 0 || v_len > MT_DHT_VALUE_MAX)
        return mt_error_set(err, MT_EINVAL, "bencoded value is %zu bytes; BEP-44 items must be 1-999", v_len);
    return mt_bencode_check(v, v_len, err);
}

// The wire message. Keys in sorted order, so it is canonical bencoding.
void build_body(std::string& body, uint8_t const* pk, uint8_t const* salt, std::size_t salt_len, std::int64_t seq,
                uint8_t const* v, std::size_t v_len, uint8_t const* sig)
{
    body.reserve(160 + salt_len + v_len);
    body += 'd';
    append_str(body, "1:k", pk, 32);
    if (salt_len)
        append_str(body, "4:salt", salt, salt_len);
    body += "3:seqi" + std::to_string(seq) + "e";
    append_str(body, "3:sig", sig, 64);
    body += "1:v";
    body.append(reinterpret_cast<char const*>(v), v_len);
    body += 'e';
}

// Find the torrent, then hand body to the network thread:
// torrent_handle::add_extension posts the factory there (async_call ->
// dispatch on the session's io_context -> torrent::add_extension_fun), and
// the factory sends and adds no plugin. A signed item's (target, seq) is
// noted as sent first, so an echo that comes back is a duplicate.
int dispatch(mt_session* s, uint8_t const id[20], std::shared_ptr<push_core> const& core,
             std::shared_ptr<std::string const> body, char const* except, int max_peers,
             lt::sha1_hash const* target, std::int64_t seq, int* queued, mt_error* err)
{
    lt::torrent_handle h;
    int rc = mtcapi::find_torrent(s, id, h, err);
    if (rc)
        return rc;
    if (target) {
        std::lock_guard<std::mutex> l(core->seen_mu);
        core->seen.note(*target, seq);
    }
    lt::sha1_hash tid(reinterpret_cast<char const*>(id));
    std::string exc = except ? except : "";
    int n = core->count_peers(tid, except);
    if (max_peers > 0 && n > max_peers)
        n = max_peers;
    std::weak_ptr<push_core> wc = core;
    try {
        h.add_extension([wc, tid, body, exc, max_peers](lt::torrent_handle const&, lt::client_data_t)
                            -> std::shared_ptr<lt::torrent_plugin> {
            try {
                if (auto c = wc.lock())
                    c->send_now(tid, *body, exc, max_peers);
            } catch (...) {
                // out of memory on the network thread: the push is lost,
                // which the protocol tolerates (the DHT still has it)
            }
            return nullptr;
        });
    } catch (lt::system_error const&) {
        return mt_error_set(err, MT_ENOTFOUND, "the torrent was removed");
    }
    if (queued)
        *queued = n;
    return MT_OK;
}

} // namespace

extern "C" {

void mt_push_config_init(mt_push_config* c)
{
    if (!c)
        return;
    memset(c, 0, sizeof *c);
    c->max_message = 1280; /* the largest legal item (64-byte salt, 999-byte v, 19-digit seq) is 1213 */
    c->peer_burst = 10;
    c->peer_per_min = 30;
    c->queue_max = 256;
}

int mt_push_enable(mt_session* s, const mt_push_config* c, mt_error* err)
{
    mt_error_clear(err);
    if (!s)
        return mt_error_set(err, MT_EINVAL, "session is required");
    mt_push_config cfg;
    mt_push_config_init(&cfg);
    if (c)
        cfg = *c;
    int rc = check_config(cfg, err);
    if (rc)
        return rc;
    try {
        // Made before the lock: an unused core's destructor takes it.
        auto core = std::make_shared<push_core>(s, cfg);
        core_registry& r = cores();
        std::lock_guard<std::mutex> l(r.mu);
        auto it = r.map.find(s);
        if (it != r.map.end() && !it->second.expired())
            return mt_error_set(err, MT_EEXIST, "push is already enabled on this session");
        core->start();
        // If this throws, the plugin's destructor stops the worker.
        mtcapi::engine(s).add_extension(std::make_shared<push_plugin>(core));
        r.map[s] = core;
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory enabling push");
    } catch (std::exception const& e) {
        return mtcapi::set_from_exception(err, MT_EENGINE, e.what(), "enabling push");
    }
}

int mt_push_send(mt_session* s, const uint8_t id[20], const uint8_t pk[32], const uint8_t* salt, size_t salt_len,
                 int64_t seq, const uint8_t* v, size_t v_len, const uint8_t sig[64], const char* except,
                 int max_peers, int* queued, mt_error* err)
{
    mt_error_clear(err);
    if (queued)
        *queued = 0;
    if (!s || !id || !pk || !sig || !v)
        return mt_error_set(err, MT_EINVAL, "session, torrent id, key, value and signature are required");
    if (max_peers < 0)
        return mt_error_set(err, MT_EINVAL, "max_peers must be 0 (every peer) or more, not %d", max_peers);
    try {
        int rc = check_item(salt, salt_len, seq, v, v_len, err);
        if (rc)
            return rc;
        std::shared_ptr<push_core> core = core_of(s);
        if (!core)
            return mt_error_set(err, MT_ESTATE, "push is not enabled on this session");

        auto body = std::make_shared<std::string>();
        build_body(*body, pk, salt, salt_len, seq, v, v_len, sig);
        if (body->size() > core->cfg.max_message)
            return mt_error_set(err, MT_EINVAL, "message is %zu bytes, over max_message (%zu)", body->size(),
                                core->cfg.max_message);

        uint8_t t[20];
        mt_dht_mutable_target(pk, salt, salt_len, t, nullptr);
        lt::sha1_hash target(reinterpret_cast<char const*>(t));
        return dispatch(s, id, core, std::move(body), except, max_peers, &target, seq, queued, err);
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory sending push");
    } catch (std::exception const& e) {
        return mtcapi::set_from_exception(err, MT_EENGINE, e.what(), "sending push");
    }
}

int mt_push_send_raw(mt_session* s, const uint8_t id[20], const uint8_t* msg, size_t len, mt_error* err)
{
    mt_error_clear(err);
    if (!s || !id || !msg || len == 0 || len > kRawMax)
        return mt_error_set(err, MT_EINVAL, "session, torrent id and a message of 1 byte-1 MiB are required");
    try {
        std::shared_ptr<push_core> core = core_of(s);
        if (!core)
            return mt_error_set(err, MT_ESTATE, "push is not enabled on this session");
        auto body = std::make_shared<std::string const>(reinterpret_cast<char const*>(msg), len);
        return dispatch(s, id, core, std::move(body), nullptr, 0, nullptr, 0, nullptr, err);
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory sending push");
    } catch (std::exception const& e) {
        return mtcapi::set_from_exception(err, MT_EENGINE, e.what(), "sending push");
    }
}

int mt_push_peer_count(mt_session* s, const uint8_t id[20])
{
    if (!s || !id)
        return MT_EINVAL;
    try {
        std::shared_ptr<push_core> core = core_of(s);
        if (!core)
            return MT_ESTATE;
        return core->count_peers(lt::sha1_hash(reinterpret_cast<char const*>(id)), nullptr);
    } catch (...) {
        return MT_EENGINE;
    }
}

int mt_push_keep_links(mt_session* s, const uint8_t id[20], int keep, mt_error* err)
{
    mt_error_clear(err);
    if (!s || !id)
        return mt_error_set(err, MT_EINVAL, "session and torrent id are required");
    try {
        std::shared_ptr<push_core> core = core_of(s);
        if (!core)
            return mt_error_set(err, MT_ESTATE, "push is not enabled on this session");
        lt::sha1_hash t(reinterpret_cast<char const*>(id));
        std::lock_guard<std::mutex> l(core->keep_mu);
        if (keep)
            core->keep.insert(t);
        else
            core->keep.erase(t);
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    }
}

void mt_push_get_stats(mt_session* s, mt_push_stats* st)
{
    if (!st)
        return;
    memset(st, 0, sizeof *st);
    if (!s)
        return;
    try {
        std::shared_ptr<push_core> core = core_of(s);
        if (!core)
            return;
        auto const& a = core->stats;
        auto ld = [](std::atomic<std::uint64_t> const& x) { return x.load(std::memory_order_relaxed); };
        st->received = ld(a.received);
        st->delivered = ld(a.delivered);
        st->bad_signature = ld(a.bad_signature);
        st->malformed = ld(a.malformed);
        st->oversized = ld(a.oversized);
        st->rate_limited = ld(a.rate_limited);
        st->duplicate = ld(a.duplicate);
        st->sent = ld(a.sent);
        st->handshakes = ld(a.handshakes);
    } catch (...) {
    }
}

void mt_push_item_clear(mt_push_item* it)
{
    if (!it)
        return;
    free(it->v);
    memset(it, 0, sizeof *it);
}

int mt_push_decode(const uint8_t* msg, size_t len, size_t max_message, mt_push_item* out, mt_error* err)
{
    mt_error_clear(err);
    if (!out)
        return mt_error_set(err, MT_EINVAL, "out is required");
    memset(out, 0, sizeof *out);
    if (!msg && len)
        return mt_error_set(err, MT_EINVAL, "message pointer is NULL");
    if (len > max_message)
        return mt_error_set(err, MT_EINVAL, "message is %zu bytes, over max_message (%zu)", len, max_message);
    try {
        static char const empty[1] = {0};
        char const* p = msg ? reinterpret_cast<char const*>(msg) : empty;
        lt::error_code ec;
        int pos = 0;
        // A message is at most max_message bytes, so it cannot hold more
        // tokens; the clamp only keeps the int in range for huge caps.
        int const tokens = static_cast<int>(std::min(max_message, kRawMax)) + 16;
        lt::bdecode_node root = lt::bdecode({p, static_cast<std::ptrdiff_t>(len)}, ec, &pos, 100, tokens);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "not bencoding (%s at byte %d)", ec.message().c_str(), pos);
        if (root.type() != lt::bdecode_node::dict_t)
            return mt_error_set(err, MT_EINVAL, "not a bencoded dict");
        std::size_t const used = static_cast<std::size_t>(root.data_section().size());
        if (used != len)
            return mt_error_set(err, MT_EINVAL, "%zu bytes after the dict", len - used);
        lt::bdecode_node k = root.dict_find_string("k");
        lt::bdecode_node salt = root.dict_find("salt");
        lt::bdecode_node seqn = root.dict_find_int("seq");
        lt::bdecode_node v = root.dict_find("v");
        lt::bdecode_node sig = root.dict_find_string("sig");
        if (!k || k.string_length() != 32)
            return mt_error_set(err, MT_EINVAL, "k is missing or not a 32-byte string");
        if (!sig || sig.string_length() != 64)
            return mt_error_set(err, MT_EINVAL, "sig is missing or not a 64-byte string");
        if (!seqn)
            return mt_error_set(err, MT_EINVAL, "seq is missing or not an integer");
        if (!v)
            return mt_error_set(err, MT_EINVAL, "v is missing");
        if (salt && (salt.type() != lt::bdecode_node::string_t || salt.string_length() > MT_DHT_SALT_MAX))
            return mt_error_set(err, MT_EINVAL, "salt is not a string of at most 64 bytes");
        std::int64_t const seq = seqn.int_value();
        if (seq < 1)
            return mt_error_set(err, MT_EINVAL, "seq must be >= 1, not %" PRId64, seq);
        lt::span<char const> vbytes = v.data_section();
        auto const* vp = reinterpret_cast<uint8_t const*>(vbytes.data());
        std::size_t const vlen = static_cast<std::size_t>(vbytes.size());
        if (vlen > MT_DHT_VALUE_MAX)
            return mt_error_set(err, MT_EINVAL, "v is %zu bytes; BEP-44 allows at most 999", vlen);
        // The signature covers v's bytes as sent, so they must be the one
        // canonical encoding (what a DHT node would store and return).
        int rc = mt_bencode_check(vp, vlen, err);
        if (rc) {
            mt_error_prefix(err, "v");
            return rc;
        }
        lt::string_view saltv = salt ? salt.string_value() : lt::string_view();
        out->v = static_cast<uint8_t*>(malloc(vlen));
        if (!out->v)
            return mt_error_set(err, MT_ENOMEM, "out of memory copying v");
        memcpy(out->v, vp, vlen);
        out->v_len = vlen;
        memcpy(out->k, k.string_ptr(), 32);
        memcpy(out->sig, sig.string_ptr(), 64);
        out->salt_len = saltv.size();
        if (out->salt_len)
            memcpy(out->salt, saltv.data(), out->salt_len);
        out->seq = seq;
        mt_dht_mutable_target(out->k, out->salt, out->salt_len, out->target, nullptr);
        return MT_OK;
    } catch (std::bad_alloc const&) {
        mt_push_item_clear(out);
        return mt_error_set(err, MT_ENOMEM, "out of memory decoding a push message");
    } catch (std::exception const& e) {
        mt_push_item_clear(out);
        return mt_error_set(err, MT_EINVAL, "push message: %s", e.what());
    }
}

int mt_push_encode(const mt_push_item* it, uint8_t** msg, size_t* len, mt_error* err)
{
    mt_error_clear(err);
    if (msg)
        *msg = nullptr;
    if (len)
        *len = 0;
    if (!it || !msg || !len || !it->v)
        return mt_error_set(err, MT_EINVAL, "item, its value and both outputs are required");
    try {
        int rc = check_item(it->salt, it->salt_len, it->seq, it->v, it->v_len, err);
        if (rc)
            return rc;
        std::string body;
        build_body(body, it->k, it->salt, it->salt_len, it->seq, it->v, it->v_len, it->sig);
        auto* out = static_cast<uint8_t*>(malloc(body.size()));
        if (!out)
            return mt_error_set(err, MT_ENOMEM, "out of memory encoding a push message");
        memcpy(out, body.data(), body.size());
        *msg = out;
        *len = body.size();
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory encoding a push message");
    } catch (std::exception const& e) {
        return mtcapi::set_from_exception(err, MT_EENGINE, e.what(), "encoding a push message");
    }
}

} // extern "C"
