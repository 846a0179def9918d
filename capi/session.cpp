// session.cpp - sessions, settings, events and the DHT behind mt_capi.h.
//
// Every extern "C" function catches everything: no exception reaches C.

#include "config.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <iterator>
#include <memory>
#include <poll.h>
#include <unistd.h>
#include <vector>

#include <sodium.h>

#include <libtorrent/alert_types.hpp>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/kademlia/announce_flags.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/version.hpp>
#include <libtorrent/write_resume_data.hpp>

#include "internal.hpp"
#include "mt_util.h"

using namespace mtcapi;

namespace {

// Cap on a state file we are willing to read (a full routing table is ~10 KB).
constexpr std::size_t kStateFileMax = 4 * 1024 * 1024;

bool parse_bool(char const* v, bool& out)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcasecmp(v, "yes")) {
        out = true;
        return true;
    }
    if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcasecmp(v, "no")) {
        out = false;
        return true;
    }
    return false;
}

void wake(int fd)
{
    char c = 1;
    // A full pipe already means "readable"; EAGAIN is fine.
    ssize_t r = write(fd, &c, 1);
    (void)r;
}

void drain(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

// Decode one canonical bencoded value into an entry; MT_EINVAL otherwise.
int decode_canonical(uint8_t const* buf, std::size_t len, lt::entry& out, mt_error* err)
{
    if (!buf || len == 0)
        return mt_error_set(err, MT_EINVAL, "empty bencoded value");
    lt::error_code ec;
    int pos = 0;
    lt::bdecode_node n = lt::bdecode({reinterpret_cast<char const*>(buf), static_cast<std::ptrdiff_t>(len)},
                                     ec, &pos, 100, 100000);
    if (ec)
        return mt_error_set(err, MT_EINVAL, "value is not valid bencoding (%s at byte %d)",
                            ec.message().c_str(), pos);
    out = n;
    std::vector<char> re;
    lt::bencode(std::back_inserter(re), out);
    if (re.size() != len || memcmp(re.data(), buf, len) != 0)
        return mt_error_set(err, MT_EINVAL,
                            "value is not canonical bencoding (%s)",
                            re.size() < len ? "bytes follow the first value"
                                            : "dictionary keys unsorted or repeated, or a number has leading zeros");
    return MT_OK;
}

int check_value_size(std::size_t len, mt_error* err)
{
    if (len > MT_DHT_VALUE_MAX)
        return mt_error_set(err, MT_ETOOBIG,
                            "bencoded value is %zu bytes; BEP-44 items must be under 1000", len);
    return MT_OK;
}

int check_salt(uint8_t const* salt, std::size_t salt_len, mt_error* err)
{
    if (salt_len > MT_DHT_SALT_MAX)
        return mt_error_set(err, MT_EINVAL, "salt is %zu bytes; BEP-44 allows at most 64", salt_len);
    if (salt_len && !salt)
        return mt_error_set(err, MT_EINVAL, "salt pointer is NULL");
    return MT_OK;
}

int require_dht(mt_session* s, mt_error* err)
{
    if (!s)
        return mt_error_set(err, MT_EINVAL, "session is NULL");
    if (!s->ses.is_dht_running())
        return mt_error_set(err, MT_ESTATE, "the DHT is not running in this session");
    return MT_OK;
}

std::string endpoint_str(lt::address const& a, int port)
{
    std::string ip = a.to_string();
    if (a.is_v6())
        return "[" + ip + "]:" + std::to_string(port);
    return ip + ":" + std::to_string(port);
}

// The network thread found a newer item: remember it for the put alert.
void note_stale(mt_session* s, lt::sha1_hash const& t, std::int64_t found, std::int64_t want)
{
    std::lock_guard<std::mutex> l(s->mu);
    s->stale[t] = {found, want};
}

void note_seq(mt_session* s, lt::sha1_hash const& t, std::int64_t seq)
{
    std::lock_guard<std::mutex> l(s->mu);
    auto& k = s->known_seq[t];
    if (seq > k)
        k = seq;
}

mt_event new_event(mt_event_type t)
{
    mt_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t;
    return ev;
}

void set_data(mt_event& ev, std::vector<char> const& buf)
{
    if (buf.empty())
        return;
    ev.data = static_cast<uint8_t*>(malloc(buf.size()));
    if (!ev.data) {
        ev.error = MT_ENOMEM;
        copy_str(ev.message, sizeof ev.message, "out of memory copying event data");
        return;
    }
    memcpy(ev.data, buf.data(), buf.size());
    ev.data_len = buf.size();
}

void set_target(mt_event& ev, lt::sha1_hash const& h)
{
    memcpy(ev.target, h.data(), 20);
}

void convert_put(mt_session* s, lt::dht_put_alert const* a)
{
    mt_event ev = new_event(MT_EVENT_DHT_PUT);
    copy_str(ev.message, sizeof ev.message, a->message());
    bool is_mutable = std::any_of(a->public_key.begin(), a->public_key.end(),
                                  [](char c) { return c != 0; });
    lt::sha1_hash target = a->target;
    if (is_mutable) {
        uint8_t t[20];
        mt_dht_mutable_target(reinterpret_cast<uint8_t const*>(a->public_key.data()),
                              reinterpret_cast<uint8_t const*>(a->salt.data()), a->salt.size(), t, nullptr);
        target.assign(reinterpret_cast<char const*>(t));
        memcpy(ev.pubkey, a->public_key.data(), 32);
        memcpy(ev.signature, a->signature.data(), 64);
        ev.salt_len = std::min<std::size_t>(a->salt.size(), MT_DHT_SALT_MAX);
        memcpy(ev.salt, a->salt.data(), ev.salt_len);
        ev.seq = a->seq;
    }
    set_target(ev, target);
    ev.num_success = a->num_success;

    bool was_stale = false;
    stale_note note{};
    {
        std::lock_guard<std::mutex> l(s->mu);
        auto it = s->stale.find(target);
        if (it != s->stale.end()) {
            was_stale = true;
            note = it->second;
            s->stale.erase(it);
        }
    }
    if (was_stale) {
        ev.error = MT_ESTALE;
        snprintf(ev.message, sizeof ev.message,
                 "the DHT already holds seq %" PRId64 " for this target, not below the requested %" PRId64
                 "; the new value was not stored",
                 note.found_seq, note.wanted_seq);
        note_seq(s, target, note.found_seq);
#ifdef TORRENT_DHT_PUT_ALERT_HAS_REFUSALS
    } else if (a->num_success == 0 && a->num_refused > 0 && !a->refusals.empty()) {
        // Built against the patched library (patches/): the nodes said why.
        auto const& top = a->refusals.front();
        ev.error = top.code == 302 ? MT_ESTALE : top.code == 205 ? MT_EINVAL : MT_EENGINE;
        snprintf(ev.message, sizeof ev.message, "%d DHT nodes refused the item: %d %.100s%s", a->num_refused,
                 top.code, top.message.c_str(), a->refusals.size() > 1 ? " (and other reasons)" : "");
#endif
    } else if (a->num_success == 0) {
        ev.error = MT_EENGINE;
        copy_str(ev.message, sizeof ev.message, "no DHT node stored the item (no reachable nodes?)");
    } else if (is_mutable) {
        note_seq(s, target, a->seq);
    }
    s->queue.push_back(ev);
}

void convert_mutable(mt_session* s, lt::dht_mutable_item_alert const* a)
{
    mt_event ev = new_event(MT_EVENT_DHT_MUTABLE);
    uint8_t t[20];
    mt_dht_mutable_target(reinterpret_cast<uint8_t const*>(a->key.data()),
                          reinterpret_cast<uint8_t const*>(a->salt.data()), a->salt.size(), t, nullptr);
    memcpy(ev.target, t, 20);
    memcpy(ev.pubkey, a->key.data(), 32);
    memcpy(ev.signature, a->signature.data(), 64);
    ev.salt_len = std::min<std::size_t>(a->salt.size(), MT_DHT_SALT_MAX);
    memcpy(ev.salt, a->salt.data(), ev.salt_len);
    ev.seq = a->seq;
    ev.authoritative = a->authoritative ? 1 : 0;
    if (a->item.type() == lt::entry::undefined_t) {
        ev.error = MT_ENOTFOUND;
        copy_str(ev.message, sizeof ev.message, "no item is stored under this key and salt");
    } else {
        std::vector<char> buf;
        lt::bencode(std::back_inserter(buf), a->item);
        set_data(ev, buf);
        copy_str(ev.message, sizeof ev.message, a->message());
        note_seq(s, lt::sha1_hash(reinterpret_cast<char const*>(t)), a->seq);
    }
    s->queue.push_back(ev);
}

void convert_immutable(mt_session* s, lt::dht_immutable_item_alert const* a)
{
    mt_event ev = new_event(MT_EVENT_DHT_IMMUTABLE);
    set_target(ev, a->target);
    if (a->item.type() == lt::entry::undefined_t) {
        ev.error = MT_ENOTFOUND;
        copy_str(ev.message, sizeof ev.message, "no item is stored under this target");
    } else {
        std::vector<char> buf;
        lt::bencode(std::back_inserter(buf), a->item);
        set_data(ev, buf);
        copy_str(ev.message, sizeof ev.message, a->message());
    }
    s->queue.push_back(ev);
}

void convert_peers(mt_session* s, lt::dht_get_peers_reply_alert const* a)
{
    auto it = s->lookups.find(a->info_hash);
    if (it == s->lookups.end())
        return;  // a lookup we did not ask for (e.g. inside dht_announce)
    std::vector<mt_endpoint> fresh;
    for (auto const& ep : a->peers()) {
        std::string key = endpoint_str(ep.address(), ep.port());
        if (!it->second.seen.insert(key).second)
            continue;
        mt_endpoint e;
        memset(&e, 0, sizeof e);
        copy_str(e.addr, sizeof e.addr, ep.address().to_string());
        e.port = ep.port();
        fresh.push_back(e);
    }
    if (fresh.empty())
        return;
    mt_event ev = new_event(MT_EVENT_DHT_PEERS);
    set_target(ev, a->info_hash);
    ev.peers = static_cast<mt_endpoint*>(calloc(fresh.size(), sizeof(mt_endpoint)));
    if (!ev.peers) {
        ev.error = MT_ENOMEM;
    } else {
        memcpy(ev.peers, fresh.data(), fresh.size() * sizeof(mt_endpoint));
        ev.num_peers = fresh.size();
    }
    s->queue.push_back(ev);
}

void convert_torrent(mt_session* s, mt_event_type t, lt::torrent_alert const* a, int error = 0)
{
    mt_event ev = new_event(t);
    if (a->handle.is_valid())
        set_target(ev, torrent_id(a->handle.info_hashes()));
    ev.error = error;
    copy_str(ev.message, sizeof ev.message, a->message());
    s->queue.push_back(ev);
}

// A magnet added with MT_ADD_FLAT gets its files renamed to their last path
// component once their names are known, before pieces are written.
constexpr std::size_t kExtQueueMax = 10000;  // events posted by plugins, not yet pumped

void flatten_on_metadata(mt_session* s, lt::torrent_handle const& h)
{
    if (!h.is_valid())
        return;
    auto it = s->flat.find(torrent_id(h.info_hashes()));
    if (it == s->flat.end())
        return;
    s->flat.erase(it);
    auto ti = h.torrent_file();
    if (!ti)
        return;
    lt::file_storage const& fs = ti->files();
    for (auto i : fs.file_range()) {
        std::string p = fs.file_path(i);
        auto slash = p.rfind('/');
        if (slash != std::string::npos)
            h.rename_file(i, p.substr(slash + 1));
    }
}

void convert(mt_session* s, lt::alert const* a)
{
    switch (a->type()) {
    case lt::listen_succeeded_alert::alert_type: {
        auto const* l = static_cast<lt::listen_succeeded_alert const*>(a);
        if (l->socket_type != lt::socket_type_t::tcp)
            return;
        mt_event ev = new_event(MT_EVENT_LISTEN_OK);
        copy_str(ev.endpoint, sizeof ev.endpoint, endpoint_str(l->address, l->port));
        copy_str(ev.message, sizeof ev.message, a->message());
        s->queue.push_back(ev);
        return;
    }
    case lt::listen_failed_alert::alert_type: {
        auto const* l = static_cast<lt::listen_failed_alert const*>(a);
        mt_event ev = new_event(MT_EVENT_LISTEN_FAILED);
        ev.error = MT_EENGINE;
        copy_str(ev.endpoint, sizeof ev.endpoint, endpoint_str(l->address, l->port));
        copy_str(ev.message, sizeof ev.message, a->message());
        s->queue.push_back(ev);
        return;
    }
    case lt::dht_put_alert::alert_type:
        convert_put(s, static_cast<lt::dht_put_alert const*>(a));
        return;
    case lt::dht_mutable_item_alert::alert_type:
        convert_mutable(s, static_cast<lt::dht_mutable_item_alert const*>(a));
        return;
    case lt::dht_immutable_item_alert::alert_type:
        convert_immutable(s, static_cast<lt::dht_immutable_item_alert const*>(a));
        return;
    case lt::dht_get_peers_reply_alert::alert_type:
        convert_peers(s, static_cast<lt::dht_get_peers_reply_alert const*>(a));
        return;
    case lt::dht_stats_alert::alert_type: {
        auto const* st = static_cast<lt::dht_stats_alert const*>(a);
        mt_event ev = new_event(MT_EVENT_DHT_STATS);
        for (auto const& b : st->routing_table)
            ev.nodes += b.num_nodes;
        memcpy(ev.target, st->nid.data(), 20);
        copy_str(ev.message, sizeof ev.message, a->message());
        s->queue.push_back(ev);
        return;
    }
    case lt::add_torrent_alert::alert_type: {
        auto const* at = static_cast<lt::add_torrent_alert const*>(a);
        if (at->error)
            convert_torrent(s, MT_EVENT_TORRENT_ERROR, at, MT_EENGINE);
        else
            convert_torrent(s, MT_EVENT_TORRENT_ADDED, at);
        return;
    }
    case lt::metadata_received_alert::alert_type: {
        auto const* mr = static_cast<lt::metadata_received_alert const*>(a);
        flatten_on_metadata(s, mr->handle);
        convert_torrent(s, MT_EVENT_TORRENT_METADATA, mr);
        return;
    }
    case lt::torrent_finished_alert::alert_type:
        convert_torrent(s, MT_EVENT_TORRENT_FINISHED, static_cast<lt::torrent_alert const*>(a));
        return;
    case lt::torrent_checked_alert::alert_type:
        convert_torrent(s, MT_EVENT_TORRENT_CHECKED, static_cast<lt::torrent_alert const*>(a));
        return;
    case lt::torrent_error_alert::alert_type:
    case lt::file_error_alert::alert_type:
        convert_torrent(s, MT_EVENT_TORRENT_ERROR, static_cast<lt::torrent_alert const*>(a), MT_EENGINE);
        return;
    case lt::file_completed_alert::alert_type: {
        auto const* fc = static_cast<lt::file_completed_alert const*>(a);
        mt_event ev = new_event(MT_EVENT_FILE_COMPLETED);
        if (fc->handle.is_valid())
            set_target(ev, torrent_id(fc->handle.info_hashes()));
        ev.file_index = static_cast<int>(fc->index);
        copy_str(ev.message, sizeof ev.message, a->message());
        s->queue.push_back(ev);
        return;
    }
    case lt::hash_failed_alert::alert_type: {
        auto const* hf = static_cast<lt::hash_failed_alert const*>(a);
        mt_event ev = new_event(MT_EVENT_HASH_FAILED);
        if (hf->handle.is_valid())
            set_target(ev, torrent_id(hf->handle.info_hashes()));
        ev.piece = static_cast<int>(hf->piece_index);
        copy_str(ev.message, sizeof ev.message, a->message());
        s->queue.push_back(ev);
        return;
    }
    case lt::torrent_removed_alert::alert_type: {
        auto const* r = static_cast<lt::torrent_removed_alert const*>(a);
        mt_event ev = new_event(MT_EVENT_TORRENT_REMOVED);
        set_target(ev, torrent_id(r->info_hashes));
        copy_str(ev.message, sizeof ev.message, a->message());
        s->queue.push_back(ev);
        return;
    }
    case lt::save_resume_data_alert::alert_type: {
        auto const* r = static_cast<lt::save_resume_data_alert const*>(a);
        mt_event ev = new_event(MT_EVENT_RESUME_DATA);
        set_target(ev, torrent_id(r->handle.info_hashes()));
        set_data(ev, lt::write_resume_data_buf(r->params));
        copy_str(ev.message, sizeof ev.message, a->message());
        s->queue.push_back(ev);
        return;
    }
    case lt::save_resume_data_failed_alert::alert_type:
        convert_torrent(s, MT_EVENT_RESUME_DATA, static_cast<lt::torrent_alert const*>(a), MT_EENGINE);
        return;
    case lt::session_error_alert::alert_type:
    case lt::dht_error_alert::alert_type:
    case lt::udp_error_alert::alert_type: {
        mt_event ev = new_event(MT_EVENT_ERROR);
        ev.error = MT_EENGINE;
        copy_str(ev.message, sizeof ev.message, a->message());
        s->queue.push_back(ev);
        return;
    }
    default:
        return;
    }
}

// End lookups whose deadline passed.
void run_timers(mt_session* s)
{
    auto now = clock_type::now();
    for (auto it = s->lookups.begin(); it != s->lookups.end();) {
        if (it->second.deadline > now) {
            ++it;
            continue;
        }
        mt_event ev = new_event(MT_EVENT_DHT_PEERS_DONE);
        set_target(ev, it->first);
        ev.num_peers = it->second.seen.size();
        snprintf(ev.message, sizeof ev.message, "get_peers lookup ended: %zu peers", ev.num_peers);
        s->queue.push_back(ev);
        it = s->lookups.erase(it);
    }
}

// Move everything libtorrent has for us into s->queue.
void pump(mt_session* s)
{
    drain(s->pipe_r);  // before pop: a wake-up after this stays readable
    std::vector<lt::alert*> alerts;
    s->ses.pop_alerts(&alerts);
    for (lt::alert const* a : alerts)
        convert(s, a);
    {
        std::lock_guard<std::mutex> lock(s->ext_mu);
        while (!s->ext_queue.empty()) {
            s->queue.push_back(s->ext_queue.front());
            s->ext_queue.pop_front();
        }
    }
    run_timers(s);
}

int add_node_list(mt_session* s, char const* list, mt_error* err)
{
    std::string all(list);
    std::size_t start = 0;
    while (start <= all.size()) {
        std::size_t comma = all.find(',', start);
        std::string one = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!one.empty()) {
            std::string host;
            int port = 0;
            int rc = parse_endpoint(one.c_str(), host, port, err);
            if (rc)
                return rc;
            s->ses.add_dht_node({host, port});
        }
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    return MT_OK;
}

lt::settings_pack settings_from(mt_session_config const* cfg)
{
    using sp = lt::settings_pack;
    sp pack;
    pack.set_str(sp::listen_interfaces, cfg->listen_interfaces ? cfg->listen_interfaces : "0.0.0.0:6881,[::]:6881");
    if (cfg->outgoing_interfaces)
        pack.set_str(sp::outgoing_interfaces, cfg->outgoing_interfaces);
    pack.set_bool(sp::enable_dht, cfg->enable_dht != 0);
    if (cfg->dht_routers)
        pack.set_str(sp::dht_bootstrap_nodes, cfg->dht_routers);
    pack.set_bool(sp::dht_read_only, cfg->dht_read_only != 0);
    pack.set_bool(sp::enable_lsd, cfg->enable_lsd != 0);
    pack.set_bool(sp::enable_upnp, cfg->enable_upnp != 0);
    pack.set_bool(sp::enable_natpmp, cfg->enable_natpmp != 0);
    pack.set_bool(sp::enable_outgoing_utp, cfg->enable_utp != 0);
    pack.set_bool(sp::enable_incoming_utp, cfg->enable_utp != 0);
    if (cfg->proxy_host) {
        bool pw = cfg->proxy_user && cfg->proxy_password;
        pack.set_int(sp::proxy_type, pw ? sp::socks5_pw : sp::socks5);
        pack.set_str(sp::proxy_hostname, cfg->proxy_host);
        pack.set_int(sp::proxy_port, cfg->proxy_port);
        if (pw) {
            pack.set_str(sp::proxy_username, cfg->proxy_user);
            pack.set_str(sp::proxy_password, cfg->proxy_password);
        }
        pack.set_bool(sp::proxy_hostnames, cfg->proxy_hostnames != 0);
        pack.set_bool(sp::proxy_peer_connections, cfg->proxy_peer_connections != 0);
        pack.set_bool(sp::proxy_tracker_connections, cfg->proxy_tracker_connections != 0);
    }
    pack.set_int(sp::upload_rate_limit, cfg->upload_rate_limit);
    pack.set_int(sp::download_rate_limit, cfg->download_rate_limit);
    pack.set_str(sp::user_agent, cfg->user_agent ? cfg->user_agent : "megatorrent/" PACKAGE_VERSION);
    pack.set_int(sp::alert_mask, static_cast<int>(static_cast<std::uint32_t>(
                                     lt::alert_category::error | lt::alert_category::status |
                                     lt::alert_category::storage | lt::alert_category::dht |
                                     lt::alert_category::dht_operation |
                                     lt::alert_category::file_progress)));
    pack.set_int(sp::alert_queue_size, 10000);
    if (cfg->loopback) {
        // See ENGINE-NOTES: libtorrent's defaults assume one node per IP.
        pack.set_bool(sp::dht_restrict_routing_ips, false);
        pack.set_bool(sp::dht_restrict_search_ips, false);
        pack.set_int(sp::dht_block_ratelimit, 100000);
        pack.set_int(sp::dht_block_timeout, 1);
        pack.set_int(sp::dht_upload_rate_limit, 10 * 1024 * 1024);
        pack.set_int(sp::max_retry_port_bind, 0);
        pack.set_bool(sp::allow_multiple_connections_per_ip, true);
    }
    return pack;
}

int validate_config(mt_session_config const* cfg, mt_error* err)
{
    if (cfg->proxy_host && (cfg->proxy_port < 1 || cfg->proxy_port > 65535))
        return mt_error_set(err, MT_EINVAL, "proxy port %d is not 1-65535", cfg->proxy_port);
    if (cfg->upload_rate_limit < 0 || cfg->download_rate_limit < 0)
        return mt_error_set(err, MT_EINVAL, "rate limits must be >= 0");
    if ((cfg->proxy_user != nullptr) != (cfg->proxy_password != nullptr))
        return mt_error_set(err, MT_EINVAL, "proxy user and password go together");
    return MT_OK;
}

} // namespace

namespace mtcapi {

int parse_endpoint(char const* hp, std::string& host, int& port, mt_error* err)
{
    std::string s(hp ? hp : "");
    auto colon = s.rfind(':');
    if (s.empty() || colon == std::string::npos || colon == 0 || colon + 1 == s.size())
        return mt_error_set(err, MT_EINVAL, "'%s' is not HOST:PORT", s.c_str());
    host = s.substr(0, colon);
    bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
    if (bracketed)
        host = host.substr(1, host.size() - 2);
    if (host.empty() || host.find_first_of(" \t[]") != std::string::npos ||
        (!bracketed && host.find(':') != std::string::npos) || (bracketed && host.find(':') == std::string::npos))
        return mt_error_set(err, MT_EINVAL, "'%s': bad host (IPv6 goes in brackets, IPv4 does not)", s.c_str());
    std::string digits = s.substr(colon + 1);
    if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos || digits[0] == '0')
        return mt_error_set(err, MT_EINVAL, "'%s': port must be 1-65535", s.c_str());
    port = std::stoi(digits);
    if (port < 1 || port > 65535)
        return mt_error_set(err, MT_EINVAL, "'%s': port must be 1-65535", s.c_str());
    return MT_OK;
}

bool valid_http_url(char const* url)
{
    if (!url)
        return false;
    std::size_t skip;
    if (strncmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    char const* host = url + skip;
    if (*host == '\0' || *host == '/' || *host == ':' || *host == '?')
        return false;
    for (char const* p = url; *p; ++p)
        if (static_cast<unsigned char>(*p) <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

lt::session& engine(mt_session* s)
{
    return s->ses;
}

bool post_event(mt_session* s, mt_event const& ev)
{
    {
        std::lock_guard<std::mutex> lock(s->ext_mu);
        if (s->ext_queue.size() >= kExtQueueMax) {
            mt_event drop = ev;
            mt_event_clear(&drop);
            return false;
        }
        s->ext_queue.push_back(ev);
    }
    wake(s->pipe_w);
    return true;
}

int set_from_exception(mt_error* err, int code, char const* what, char const* doing)
{
    return mt_error_set(err, code, "%s: %s", doing, what);
}

lt::sha1_hash torrent_id(lt::info_hash_t const& ih)
{
    if (ih.has_v1())
        return ih.v1;
    return ih.get_best();  // truncated v2
}

int find_torrent(mt_session* s, uint8_t const id[20], lt::torrent_handle& h, mt_error* err)
{
    if (!s || !id)
        return mt_error_set(err, MT_EINVAL, "session and torrent id are required");
    h = s->ses.find_torrent(lt::sha1_hash(reinterpret_cast<char const*>(id)));
    if (!h.is_valid()) {
        char hex[41];
        mt_hex_encode(id, 20, hex);
        return mt_error_set(err, MT_ENOTFOUND, "no torrent with id %s in this session", hex);
    }
    return MT_OK;
}

} // namespace mtcapi

extern "C" {

const char* mt_version(void)
{
    return PACKAGE_VERSION;
}

const char* mt_engine_version(void)
{
    return lt::version_str;
}

void mt_free(void* p)
{
    free(p);
}

void mt_session_config_init(mt_session_config* cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->enable_dht = 1;
    cfg->enable_lsd = 1;
    cfg->enable_upnp = 1;
    cfg->enable_natpmp = 1;
    cfg->enable_utp = 1;
    cfg->proxy_hostnames = 1;
    cfg->proxy_peer_connections = 1;
    cfg->proxy_tracker_connections = 1;
}

void mt_session_config_init_loopback(mt_session_config* cfg, const char* listen)
{
    mt_session_config_init(cfg);
    cfg->listen_interfaces = listen;
    cfg->dht_routers = "";
    cfg->enable_lsd = 0;
    cfg->enable_upnp = 0;
    cfg->enable_natpmp = 0;
    cfg->enable_utp = 0;
    cfg->loopback = 1;
}

int mt_session_new(const mt_session_config* cfg, mt_session** out, mt_error* err)
{
    mt_error_clear(err);
    if (!cfg || !out)
        return mt_error_set(err, MT_EINVAL, "config and out are required");
    *out = nullptr;
    int rc = validate_config(cfg, err);
    if (rc)
        return rc;
    if (sodium_init() < 0)
        return mt_error_set(err, MT_ECRYPTO, "libsodium failed to initialise");
    try {
        lt::session_params params(settings_from(cfg));
        std::vector<lt::udp::endpoint> saved_nodes;
        bool restoring = false;
        if (cfg->state_file) {
            char* raw = nullptr;
            std::size_t raw_len = 0;
            rc = mt_file_read(cfg->state_file, kStateFileMax, &raw, &raw_len, err);
            // The decoded node points into raw until this block ends.
            std::unique_ptr<char, decltype(&free)> buf(raw, &free);
            if (rc == MT_OK) {
                lt::error_code ec;
                lt::bdecode_node n = lt::bdecode(lt::span<char const>(raw, static_cast<long>(raw_len)), ec);
                if (ec)
                    return mt_error_set(err, MT_EINVAL, "state file %s is not bencoded session state: %s",
                                        cfg->state_file, ec.message().c_str());
                params.dht_state = lt::read_session_params(n, lt::session::save_dht_state).dht_state;
                saved_nodes = params.dht_state.nodes;
                restoring = cfg->enable_dht != 0;
                params.settings.set_bool(lt::settings_pack::enable_dht, false);
                saved_nodes.insert(saved_nodes.end(), params.dht_state.nodes6.begin(),
                                   params.dht_state.nodes6.end());
            } else if (rc != MT_ENOTFOUND) {
                return rc;
            }
            mt_error_clear(err);
        }
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
            return mt_error_set(err, MT_EIO, "pipe: %s", strerror(errno));
        mt_session* s = new mt_session(std::move(params));
        s->pipe_r = fds[0];
        s->pipe_w = fds[1];
        int wfd = s->pipe_w;
        s->ses.set_alert_notify([wfd] { wake(wfd); });
        wake(wfd);  // alerts may already be queued from start-up
        // Saved nodes are also added as ordinary nodes: harmless if
        // libtorrent already pinged them, and robust if it did not.
        if (restoring) {
            // libtorrent matches the saved node id to a listen socket, and
            // drops the saved state once the DHT starts: start it only after
            // the socket is open (a few ms), or the id would be lost.
            auto until = clock_type::now() + std::chrono::seconds(5);
            while (!s->ses.is_listening() && clock_type::now() < until)
                usleep(2000);
            lt::settings_pack on;
            on.set_bool(lt::settings_pack::enable_dht, true);
            s->ses.apply_settings(std::move(on));
        }
        for (auto const& ep : saved_nodes)
            s->ses.add_dht_node({ep.address().to_string(), ep.port()});
        if (cfg->dht_nodes) {
            rc = add_node_list(s, cfg->dht_nodes, err);
            if (rc) {
                mt_session_free(s);
                return rc;
            }
        }
        *out = s;
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory creating session");
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "creating session");
    }
}

void mt_session_free(mt_session* s)
{
    if (!s)
        return;
    try {
        s->ses.set_alert_notify([] {});
    } catch (...) {
    }
    int r = s->pipe_r, w = s->pipe_w;
    for (auto& ev : s->queue)
        mt_event_clear(&ev);
    try {
        delete s;  // blocks until libtorrent's threads have stopped
    } catch (...) {
    }
    if (r >= 0)
        close(r);
    if (w >= 0)
        close(w);
}

int mt_session_set_setting(mt_session* s, const char* name, const char* value, mt_error* err)
{
    mt_error_clear(err);
    if (!s || !name || !value)
        return mt_error_set(err, MT_EINVAL, "session, name and value are required");
    try {
        int idx = lt::setting_by_name(name);
        if (idx < 0)
            return mt_error_set(err, MT_EINVAL, "'%s' is not a libtorrent setting", name);
        lt::settings_pack pack;
        switch (idx & lt::settings_pack::type_mask) {
        case lt::settings_pack::string_type_base:
            pack.set_str(idx, value);
            break;
        case lt::settings_pack::int_type_base: {
            char* end = nullptr;
            errno = 0;
            long long v = strtoll(value, &end, 10);
            if (errno || !*value || *end || v < INT32_MIN || v > INT32_MAX)
                return mt_error_set(err, MT_EINVAL, "setting %s wants an integer, not '%s'", name, value);
            pack.set_int(idx, static_cast<int>(v));
            break;
        }
        case lt::settings_pack::bool_type_base: {
            bool b = false;
            if (!parse_bool(value, b))
                return mt_error_set(err, MT_EINVAL, "setting %s wants true or false, not '%s'", name, value);
            pack.set_bool(idx, b);
            break;
        }
        default:
            return mt_error_set(err, MT_EINVAL, "setting %s has an unknown type", name);
        }
        s->ses.apply_settings(std::move(pack));
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "applying setting");
    }
}

int mt_session_save_state(mt_session* s, const char* path, mt_error* err)
{
    mt_error_clear(err);
    if (!s || !path)
        return mt_error_set(err, MT_EINVAL, "session and path are required");
    try {
        lt::session_params p = s->ses.session_state(lt::session::save_dht_state);
        std::vector<char> buf = lt::write_session_params_buf(p, lt::session::save_dht_state);
        return mt_file_write_atomic(path, buf.data(), buf.size(), 0600, 1, err);
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "saving session state");
    }
}

int mt_session_listen_port(mt_session* s)
{
    if (!s)
        return -1;
    try {
        if (!s->ses.is_listening())
            return -1;
        return s->ses.listen_port();
    } catch (...) {
        return -1;
    }
}

int mt_session_add_dht_node(mt_session* s, const char* hostport, mt_error* err)
{
    mt_error_clear(err);
    if (!s || !hostport)
        return mt_error_set(err, MT_EINVAL, "session and HOST:PORT are required");
    try {
        std::string host;
        int port = 0;
        int rc = parse_endpoint(hostport, host, port, err);
        if (rc)
            return rc;
        s->ses.add_dht_node({host, port});
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "adding DHT node");
    }
}

int mt_session_dht_running(mt_session* s)
{
    try {
        return s && s->ses.is_dht_running() ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

int mt_session_fd(mt_session* s)
{
    return s ? s->pipe_r : -1;
}

int mt_session_next_event(mt_session* s, mt_event* ev)
{
    if (!s || !ev)
        return 0;
    try {
        pump(s);
    } catch (...) {
        // keep delivering what is queued
    }
    if (s->queue.empty()) {
        memset(ev, 0, sizeof *ev);
        return 0;
    }
    *ev = s->queue.front();
    s->queue.pop_front();
    return 1;
}

int mt_session_next_timeout(mt_session* s)
{
    if (!s || s->lookups.empty())
        return -1;
    auto next = clock_type::time_point::max();
    for (auto const& l : s->lookups)
        next = std::min(next, l.second.deadline);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock_type::now()).count();
    return ms < 0 ? 0 : static_cast<int>(std::min<long long>(ms, INT32_MAX));
}

int mt_session_wait_event(mt_session* s, mt_event_type type, const uint8_t target[20], int timeout_ms,
                          mt_event* ev, mt_error* err)
{
    mt_error_clear(err);
    if (!s || !ev || timeout_ms < 0)
        return mt_error_set(err, MT_EINVAL, "session, event and a timeout >= 0 are required");
    memset(ev, 0, sizeof *ev);
    auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        try {
            pump(s);
        } catch (std::exception const& e) {
            return set_from_exception(err, MT_EENGINE, e.what(), "reading alerts");
        }
        for (auto it = s->queue.begin(); it != s->queue.end(); ++it) {
            if (it->type != type || (target && memcmp(it->target, target, 20) != 0))
                continue;
            *ev = *it;
            s->queue.erase(it);
            return MT_OK;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
        if (left <= 0)
            return mt_error_set(err, MT_ETIMEDOUT, "no %s event within %d ms", mt_event_type_name(type),
                                timeout_ms);
        int t = static_cast<int>(left);
        int nt = mt_session_next_timeout(s);
        if (nt >= 0 && nt < t)
            t = nt;
        struct pollfd p = {s->pipe_r, POLLIN, 0};
        poll(&p, 1, t);
    }
}

void mt_event_clear(mt_event* ev)
{
    if (!ev)
        return;
    free(ev->data);
    free(ev->peers);
    memset(ev, 0, sizeof *ev);
}

const char* mt_event_type_name(mt_event_type type)
{
    switch (type) {
    case MT_EVENT_NONE: return "none";
    case MT_EVENT_LISTEN_OK: return "listen_ok";
    case MT_EVENT_LISTEN_FAILED: return "listen_failed";
    case MT_EVENT_DHT_PUT: return "dht_put";
    case MT_EVENT_DHT_MUTABLE: return "dht_mutable";
    case MT_EVENT_DHT_IMMUTABLE: return "dht_immutable";
    case MT_EVENT_DHT_PEERS: return "dht_peers";
    case MT_EVENT_DHT_PEERS_DONE: return "dht_peers_done";
    case MT_EVENT_DHT_STATS: return "dht_stats";
    case MT_EVENT_TORRENT_ADDED: return "torrent_added";
    case MT_EVENT_TORRENT_METADATA: return "torrent_metadata";
    case MT_EVENT_TORRENT_FINISHED: return "torrent_finished";
    case MT_EVENT_TORRENT_REMOVED: return "torrent_removed";
    case MT_EVENT_TORRENT_CHECKED: return "torrent_checked";
    case MT_EVENT_TORRENT_ERROR: return "torrent_error";
    case MT_EVENT_RESUME_DATA: return "resume_data";
    case MT_EVENT_ERROR: return "error";
    case MT_EVENT_FILE_COMPLETED: return "file_completed";
    case MT_EVENT_HASH_FAILED: return "hash_failed";
    case MT_EVENT_PUSH: return "push";
    }
    return "unknown";
}

/* ---------------- DHT ---------------- */

int mt_dht_mutable_target(const uint8_t pk[32], const uint8_t* salt, size_t salt_len, uint8_t out[20],
                          mt_error* err)
{
    if (!pk || !out)
        return mt_error_set(err, MT_EINVAL, "public key and output are required");
    int rc = check_salt(salt, salt_len, err);
    if (rc)
        return rc;
    lt::hasher h(reinterpret_cast<char const*>(pk), 32);
    if (salt_len)
        h.update(reinterpret_cast<char const*>(salt), static_cast<int>(salt_len));
    lt::sha1_hash d = h.final();
    memcpy(out, d.data(), 20);
    return MT_OK;
}

int mt_dht_immutable_target(const uint8_t* v, size_t v_len, uint8_t out[20], mt_error* err)
{
    if (!v || !out || v_len == 0)
        return mt_error_set(err, MT_EINVAL, "value and output are required");
    lt::hasher h(reinterpret_cast<char const*>(v), static_cast<int>(std::min<size_t>(v_len, INT32_MAX)));
    lt::sha1_hash d = h.final();
    memcpy(out, d.data(), 20);
    return MT_OK;
}

int mt_dht_signature_buffer(const uint8_t* salt, size_t salt_len, int64_t seq, const uint8_t* v, size_t v_len,
                            uint8_t* out, size_t cap, size_t* out_len, mt_error* err)
{
    int rc = check_salt(salt, salt_len, err);
    if (rc)
        return rc;
    if (!v || !out || !out_len)
        return mt_error_set(err, MT_EINVAL, "value, output and length are required");
    if (seq < 0)
        return mt_error_set(err, MT_EINVAL, "seq must be >= 0");
    char head[128];
    int n = 0;
    if (salt_len)
        n = snprintf(head, sizeof head, "4:salt%zu:", salt_len);
    size_t need = static_cast<size_t>(n) + salt_len;
    char mid[64];
    int m = snprintf(mid, sizeof mid, "3:seqi%" PRId64 "e1:v", seq);
    need += static_cast<size_t>(m) + v_len;
    if (need > cap)
        return mt_error_set(err, MT_ETOOBIG, "signature buffer needs %zu bytes, have %zu", need, cap);
    uint8_t* p = out;
    memcpy(p, head, static_cast<size_t>(n));
    p += n;
    if (salt_len)
        memcpy(p, salt, salt_len);
    p += salt_len;
    memcpy(p, mid, static_cast<size_t>(m));
    p += m;
    memcpy(p, v, v_len);
    *out_len = need;
    return MT_OK;
}

int mt_dht_sign_mutable(const uint8_t sk[64], const uint8_t* salt, size_t salt_len, int64_t seq,
                        const uint8_t* v, size_t v_len, uint8_t sig[64], mt_error* err)
{
    if (!sk || !sig)
        return mt_error_set(err, MT_EINVAL, "secret key and signature output are required");
    uint8_t buf[MT_DHT_VALUE_MAX + MT_DHT_SALT_MAX + 64];
    size_t len = 0;
    int rc = check_value_size(v_len, err);
    if (rc)
        return rc;
    rc = mt_dht_signature_buffer(salt, salt_len, seq, v, v_len, buf, sizeof buf, &len, err);
    if (rc)
        return rc;
    crypto_sign_detached(sig, nullptr, buf, len, sk);
    return MT_OK;
}

int mt_dht_verify_mutable(const uint8_t pk[32], const uint8_t* salt, size_t salt_len, int64_t seq,
                          const uint8_t* v, size_t v_len, const uint8_t sig[64], mt_error* err)
{
    if (!pk || !sig)
        return mt_error_set(err, MT_EINVAL, "public key and signature are required");
    uint8_t buf[MT_DHT_VALUE_MAX + MT_DHT_SALT_MAX + 64];
    size_t len = 0;
    int rc = check_value_size(v_len, err);
    if (rc)
        return rc;
    rc = mt_dht_signature_buffer(salt, salt_len, seq, v, v_len, buf, sizeof buf, &len, err);
    if (rc)
        return rc;
    if (crypto_sign_verify_detached(sig, buf, len, pk) != 0)
        return mt_error_set(err, MT_ECRYPTO, "signature does not verify under the public key");
    return MT_OK;
}

int mt_bencode_check(const uint8_t* buf, size_t len, mt_error* err)
{
    try {
        lt::entry e;
        return decode_canonical(buf, len, e, err);
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EINVAL, e.what(), "decoding bencoding");
    }
}

int mt_bencode_get_string(const uint8_t* buf, size_t len, const uint8_t** str, size_t* str_len, mt_error* err)
{
    if (!buf || !str || !str_len)
        return mt_error_set(err, MT_EINVAL, "buffer and outputs are required");
    try {
        lt::error_code ec;
        lt::bdecode_node n = lt::bdecode({reinterpret_cast<char const*>(buf), static_cast<std::ptrdiff_t>(len)}, ec);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "not valid bencoding: %s", ec.message().c_str());
        if (n.type() != lt::bdecode_node::string_t)
            return mt_error_set(err, MT_EINVAL, "bencoded value is not a byte string");
        lt::string_view v = n.string_value();
        *str = reinterpret_cast<uint8_t const*>(v.data());
        *str_len = v.size();
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EINVAL, e.what(), "decoding bencoding");
    }
}

int mt_bencode_string(const uint8_t* str, size_t len, uint8_t** out, size_t* out_len, mt_error* err)
{
    if ((!str && len) || !out || !out_len)
        return mt_error_set(err, MT_EINVAL, "string and outputs are required");
    try {
        lt::entry e(std::string(reinterpret_cast<char const*>(str), len));
        std::vector<char> buf;
        lt::bencode(std::back_inserter(buf), e);
        *out = static_cast<uint8_t*>(malloc(buf.size()));
        if (!*out)
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        memcpy(*out, buf.data(), buf.size());
        *out_len = buf.size();
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_ENOMEM, e.what(), "bencoding string");
    }
}

// Checks shared by both mutable puts. On success fills target and value.
static int prepare_mutable(mt_session* s, const uint8_t pk[32], const uint8_t* salt, size_t salt_len, int64_t seq,
                           const uint8_t* v, size_t v_len, uint8_t target[20], lt::entry& value, mt_error* err)
{
    int rc = require_dht(s, err);
    if (!rc)
        rc = check_salt(salt, salt_len, err);
    if (!rc)
        rc = check_value_size(v_len, err);
    if (rc)
        return rc;
    if (seq < 0)
        return mt_error_set(err, MT_EINVAL, "seq must be >= 0");
    rc = decode_canonical(v, v_len, value, err);
    if (rc)
        return rc;
    mt_dht_mutable_target(pk, salt, salt_len, target, nullptr);
    if (seq > 0) {
        std::lock_guard<std::mutex> l(s->mu);
        auto it = s->known_seq.find(lt::sha1_hash(reinterpret_cast<char const*>(target)));
        if (it != s->known_seq.end() && it->second >= seq)
            return mt_error_set(err, MT_ESTALE,
                                "seq %" PRId64 " is stale: seq %" PRId64
                                " is already stored for this key and salt; use a higher seq",
                                seq, it->second);
    }
    return MT_OK;
}

int mt_dht_put_mutable(mt_session* s, const uint8_t sk[64], const uint8_t* salt, size_t salt_len, int64_t seq,
                       const uint8_t* v, size_t v_len, uint8_t target_out[20], mt_error* err)
{
    mt_error_clear(err);
    if (!sk)
        return mt_error_set(err, MT_EINVAL, "secret key is required");
    try {
        uint8_t target[20];
        lt::entry value;
        int rc = prepare_mutable(s, sk + 32, salt, salt_len, seq, v, v_len, target, value, err);
        if (rc)
            return rc;
        // The secret is needed on the network thread; keep it in guarded
        // memory that is wiped when the last copy of the callback goes.
        unsigned char* raw = static_cast<unsigned char*>(sodium_malloc(64));
        if (!raw)
            return mt_error_set(err, MT_ENOMEM, "out of secure memory");
        memcpy(raw, sk, 64);
        std::shared_ptr<unsigned char> secret(raw, [](unsigned char* p) { sodium_free(p); });
        std::string vbytes(reinterpret_cast<char const*>(v), v_len);
        std::string saltstr(reinterpret_cast<char const*>(salt), salt_len);
        lt::sha1_hash t(reinterpret_cast<char const*>(target));
        std::array<char, 32> key;
        memcpy(key.data(), sk + 32, 32);
        s->ses.dht_put_item(
            key,
            [s, t, secret, value, vbytes, saltstr, seq](lt::entry& e, std::array<char, 64>& sig,
                                                        std::int64_t& cur, std::string const&) {
                std::int64_t found = e.type() == lt::entry::undefined_t ? 0 : cur;
                std::int64_t want = seq > 0 ? seq : found + 1;
                if (e.type() != lt::entry::undefined_t && found >= want) {
                    note_stale(s, t, found, want);
                    return;  // leave the stored item as it is
                }
                e = value;
                cur = want;
                mt_dht_sign_mutable(secret.get(), reinterpret_cast<uint8_t const*>(saltstr.data()),
                                    saltstr.size(), want, reinterpret_cast<uint8_t const*>(vbytes.data()),
                                    vbytes.size(), reinterpret_cast<uint8_t*>(sig.data()), nullptr);
            },
            saltstr);
        if (target_out)
            memcpy(target_out, target, 20);
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "putting mutable item");
    }
}

int mt_dht_put_signed(mt_session* s, const uint8_t pk[32], const uint8_t* salt, size_t salt_len, int64_t seq,
                      const uint8_t* v, size_t v_len, const uint8_t sig[64], uint8_t target_out[20],
                      mt_error* err)
{
    mt_error_clear(err);
    if (!pk || !sig)
        return mt_error_set(err, MT_EINVAL, "public key and signature are required");
    if (seq < 1)
        return mt_error_set(err, MT_EINVAL, "a signed item carries a seq >= 1");
    try {
        int rc = mt_dht_verify_mutable(pk, salt, salt_len, seq, v, v_len, sig, err);
        if (rc)
            return rc;
        uint8_t target[20];
        lt::entry value;
        rc = require_dht(s, err);
        if (!rc)
            rc = decode_canonical(v, v_len, value, err);
        if (rc)
            return rc;
        mt_dht_mutable_target(pk, salt, salt_len, target, nullptr);
        std::string vbytes(reinterpret_cast<char const*>(v), v_len);
        std::array<char, 64> signature;
        memcpy(signature.data(), sig, 64);
        std::array<char, 32> key;
        memcpy(key.data(), pk, 32);
        lt::sha1_hash t(reinterpret_cast<char const*>(target));
        s->ses.dht_put_item(
            key,
            [s, t, value, vbytes, signature, seq](lt::entry& e, std::array<char, 64>& sg, std::int64_t& cur,
                                                   std::string const&) {
                if (e.type() != lt::entry::undefined_t) {
                    std::vector<char> have;
                    lt::bencode(std::back_inserter(have), e);
                    bool same = have.size() == vbytes.size() && memcmp(have.data(), vbytes.data(), have.size()) == 0;
                    if (cur > seq || (cur == seq && !same)) {
                        note_stale(s, t, cur, seq);
                        return;
                    }
                }
                e = value;
                cur = seq;
                sg = signature;
            },
            std::string(reinterpret_cast<char const*>(salt), salt_len));
        if (target_out)
            memcpy(target_out, target, 20);
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "putting signed item");
    }
}

int mt_dht_get_mutable(mt_session* s, const uint8_t pk[32], const uint8_t* salt, size_t salt_len,
                       uint8_t target_out[20], mt_error* err)
{
    mt_error_clear(err);
    if (!pk)
        return mt_error_set(err, MT_EINVAL, "public key is required");
    int rc = require_dht(s, err);
    if (!rc)
        rc = check_salt(salt, salt_len, err);
    if (rc)
        return rc;
    try {
        std::array<char, 32> key;
        memcpy(key.data(), pk, 32);
        s->ses.dht_get_item(key, std::string(reinterpret_cast<char const*>(salt), salt_len));
        if (target_out)
            mt_dht_mutable_target(pk, salt, salt_len, target_out, nullptr);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "getting mutable item");
    }
}

int mt_dht_put_immutable(mt_session* s, const uint8_t* v, size_t v_len, uint8_t target_out[20], mt_error* err)
{
    mt_error_clear(err);
    int rc = require_dht(s, err);
    if (!rc)
        rc = check_value_size(v_len, err);
    if (rc)
        return rc;
    try {
        lt::entry value;
        rc = decode_canonical(v, v_len, value, err);
        if (rc)
            return rc;
        lt::sha1_hash t = s->ses.dht_put_item(value);
        if (target_out)
            memcpy(target_out, t.data(), 20);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "putting immutable item");
    }
}

int mt_dht_get_immutable(mt_session* s, const uint8_t target[20], mt_error* err)
{
    mt_error_clear(err);
    if (!target)
        return mt_error_set(err, MT_EINVAL, "target is required");
    int rc = require_dht(s, err);
    if (rc)
        return rc;
    try {
        s->ses.dht_get_item(lt::sha1_hash(reinterpret_cast<char const*>(target)));
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "getting immutable item");
    }
}

int mt_dht_announce(mt_session* s, const uint8_t ih[20], int port, mt_error* err)
{
    mt_error_clear(err);
    if (!ih)
        return mt_error_set(err, MT_EINVAL, "info-hash is required");
    if (port < 0 || port > 65535)
        return mt_error_set(err, MT_EINVAL, "port %d is not 0-65535", port);
    int rc = require_dht(s, err);
    if (rc)
        return rc;
    try {
        lt::dht::announce_flags_t flags{};
        if (port == 0)
            flags |= lt::dht::announce::implied_port;
        s->ses.dht_announce(lt::sha1_hash(reinterpret_cast<char const*>(ih)), port, flags);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "announcing");
    }
}

int mt_dht_get_peers(mt_session* s, const uint8_t ih[20], int timeout_ms, mt_error* err)
{
    mt_error_clear(err);
    if (!ih)
        return mt_error_set(err, MT_EINVAL, "info-hash is required");
    if (timeout_ms < 1 || timeout_ms > 600000)
        return mt_error_set(err, MT_EINVAL, "timeout %d ms is not 1-600000", timeout_ms);
    int rc = require_dht(s, err);
    if (rc)
        return rc;
    try {
        lt::sha1_hash h(reinterpret_cast<char const*>(ih));
        auto& l = s->lookups[h];
        l.deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
        s->ses.dht_get_peers(h);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "looking up peers");
    }
}

int mt_dht_request_stats(mt_session* s, mt_error* err)
{
    mt_error_clear(err);
    int rc = require_dht(s, err);
    if (rc)
        return rc;
    try {
        s->ses.post_dht_stats();
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "requesting DHT stats");
    }
}

} // extern "C"
