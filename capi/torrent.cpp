// torrent.cpp - torrents and torrent creation behind mt_capi.h.

#include "config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include "internal.hpp"

using namespace mtcapi;

namespace {

// Largest .torrent we load (libtorrent's own default limit is 10 MB).
constexpr std::size_t kTorrentMax = 32 * 1024 * 1024;
constexpr std::size_t kMagnetMax = 8192;

mt_torrent_state map_state(lt::torrent_status::state_t st)
{
    switch (st) {
    case lt::torrent_status::checking_files: return MT_TS_CHECKING;
    case lt::torrent_status::downloading_metadata: return MT_TS_METADATA;
    case lt::torrent_status::downloading: return MT_TS_DOWNLOADING;
    case lt::torrent_status::finished: return MT_TS_FINISHED;
    case lt::torrent_status::seeding: return MT_TS_SEEDING;
    case lt::torrent_status::checking_resume_data: return MT_TS_CHECKING_RESUME;
    default: return MT_TS_DOWNLOADING;
    }
}

// Collect regular files under dir (relative paths), skipping symlinks so a
// torrent never reaches outside the folder it was made from.
int walk(std::string const& root, std::string const& rel, std::vector<std::pair<std::string, std::int64_t>>& out,
         mt_error* err)
{
    std::string dir = rel.empty() ? root : root + "/" + rel;
    DIR* d = opendir(dir.c_str());
    if (!d)
        return mt_error_set(err, MT_EIO, "cannot open folder %s: %s", dir.c_str(), strerror(errno));
    int rc = MT_OK;
    while (struct dirent* de = readdir(d)) {
        std::string name = de->d_name;
        if (name == "." || name == "..")
            continue;
        std::string relpath = rel.empty() ? name : rel + "/" + name;
        struct stat st;
        if (lstat((root + "/" + relpath).c_str(), &st) != 0) {
            rc = mt_error_set(err, MT_EIO, "cannot stat %s/%s: %s", root.c_str(), relpath.c_str(),
                              strerror(errno));
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = walk(root, relpath, out, err);
            if (rc)
                break;
        } else if (S_ISREG(st.st_mode)) {
            out.emplace_back(relpath, static_cast<std::int64_t>(st.st_size));
        }
    }
    closedir(d);
    return rc;
}

std::string basename_of(std::string p)
{
    while (p.size() > 1 && p.back() == '/')
        p.pop_back();
    auto slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string parent_of(std::string p)
{
    while (p.size() > 1 && p.back() == '/')
        p.pop_back();
    auto slash = p.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : p.substr(0, slash);
}

int load_params(mt_add_params const* p, lt::add_torrent_params& atp, mt_error* err)
{
    int sources = (p->magnet != nullptr) + (p->torrent != nullptr) + (p->torrent_file != nullptr);
    if (p->resume && p->resume_len) {
        lt::error_code ec;
        atp = lt::read_resume_data({reinterpret_cast<char const*>(p->resume), static_cast<long>(p->resume_len)}, ec);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "resume data is not valid: %s", ec.message().c_str());
        if (sources == 0 && !atp.ti && atp.info_hashes.has_v1() == false && atp.info_hashes.has_v2() == false)
            return mt_error_set(err, MT_EINVAL, "resume data names no torrent");
        if (sources == 0)
            return MT_OK;
    }
    if (sources != 1)
        return mt_error_set(err, MT_EINVAL, "give exactly one of a magnet link, .torrent bytes or a .torrent file");
    if (p->magnet) {
        lt::error_code ec;
        lt::add_torrent_params m = lt::parse_magnet_uri(p->magnet, ec);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "not a usable magnet link: %s", ec.message().c_str());
        if (p->resume && p->resume_len) {
            atp.info_hashes = m.info_hashes;
            atp.trackers = m.trackers;
            atp.url_seeds = m.url_seeds;
            if (atp.name.empty())
                atp.name = m.name;
        } else {
            atp = std::move(m);
        }
        return MT_OK;
    }
    if (p->torrent) {
        if (p->torrent_len == 0 || p->torrent_len > kTorrentMax)
            return mt_error_set(err, MT_EINVAL, ".torrent is %zu bytes; expected 1 to %zu", p->torrent_len,
                                kTorrentMax);
        lt::error_code ec;
        auto ti = std::make_shared<lt::torrent_info>(
            lt::span<char const>(reinterpret_cast<char const*>(p->torrent), static_cast<long>(p->torrent_len)), ec,
            lt::from_span);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "not a valid .torrent: %s", ec.message().c_str());
        atp.ti = std::move(ti);
        return MT_OK;
    }
    struct stat st;
    if (stat(p->torrent_file, &st) != 0)
        return mt_error_set(err, MT_EIO, "cannot read %s: %s", p->torrent_file, strerror(errno));
    if (static_cast<std::size_t>(st.st_size) > kTorrentMax)
        return mt_error_set(err, MT_EINVAL, "%s is over %zu bytes", p->torrent_file, kTorrentMax);
    lt::error_code ec;
    auto ti = std::make_shared<lt::torrent_info>(std::string(p->torrent_file), ec);
    if (ec)
        return mt_error_set(err, MT_EINVAL, "%s is not a valid .torrent: %s", p->torrent_file, ec.message().c_str());
    atp.ti = std::move(ti);
    return MT_OK;
}

// Rename every file to the last component of its path (MT_ADD_FLAT).
void flatten(lt::torrent_info& ti)
{
    lt::file_storage const& fs = ti.files();
    for (auto i : fs.file_range()) {
        std::string p = fs.file_path(i);
        auto slash = p.rfind('/');
        if (slash != std::string::npos)
            ti.rename_file(i, p.substr(slash + 1));
    }
}

// A plain file name: non-empty, no '/', not "." or "..", no control bytes.
bool plain_name(char const* n)
{
    if (!n || !*n || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
        return false;
    for (char const* c = n; *c; ++c)
        if (*c == '/' || static_cast<unsigned char>(*c) < 0x20)
            return false;
    return strlen(n) <= 255;
}

int files_of(mt_session* s, uint8_t const id[20], lt::torrent_handle& h,
             std::shared_ptr<lt::torrent_info const>& ti, mt_error* err)
{
    int rc = find_torrent(s, id, h, err);
    if (rc)
        return rc;
    ti = h.torrent_file();
    if (!ti)
        return mt_error_set(err, MT_ESTATE, "the torrent has no metadata yet");
    return MT_OK;
}

} // namespace

extern "C" {

int mt_torrent_add(mt_session* s, const mt_add_params* p, uint8_t id_out[20], mt_error* err)
{
    mt_error_clear(err);
    if (!s || !p)
        return mt_error_set(err, MT_EINVAL, "session and parameters are required");
    if (!p->save_path || !*p->save_path)
        return mt_error_set(err, MT_EINVAL, "a save path is required");
    try {
        lt::add_torrent_params atp;
        int rc = load_params(p, atp, err);
        if (rc)
            return rc;
        atp.save_path = p->save_path;
        if (p->flags & MT_ADD_PAUSED) {
            atp.flags |= lt::torrent_flags::paused;
            atp.flags &= ~lt::torrent_flags::auto_managed;  // or the queue resumes it
        }
        if (p->flags & MT_ADD_SEED_MODE)
            atp.flags |= lt::torrent_flags::seed_mode;
        // A second add must not silently keep the first one's path and flags.
        atp.flags |= lt::torrent_flags::duplicate_is_error;
        if (p->flags & MT_ADD_UPLOAD_ONLY)
            atp.flags |= lt::torrent_flags::upload_mode;
        if (p->flags & MT_ADD_NO_FILES)
            atp.flags |= lt::torrent_flags::default_dont_download;
        bool flat_later = false;
        if (p->flags & MT_ADD_FLAT) {
            if (atp.ti)
                flatten(*atp.ti);
            else
                flat_later = true;  // renamed on metadata (session.cpp)
        }
        lt::error_code ec;
        lt::torrent_handle h = s->ses.add_torrent(std::move(atp), ec);
        if (ec == lt::errors::duplicate_torrent)
            return mt_error_set(err, MT_EEXIST, "the torrent is already in this session");
        if (ec)
            return mt_error_set(err, MT_EENGINE, "adding torrent: %s", ec.message().c_str());
        lt::sha1_hash id = torrent_id(h.info_hashes());
        if (flat_later)
            s->flat.insert(id);
        if (id_out)
            memcpy(id_out, id.data(), 20);
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory adding torrent");
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "adding torrent");
    }
}

int mt_torrent_remove(mt_session* s, const uint8_t id[20], int delete_files, mt_error* err)
{
    mt_error_clear(err);
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        s->ses.remove_torrent(h, delete_files ? lt::session::delete_files : lt::remove_flags_t{});
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "removing torrent");
    }
}

int mt_torrent_pause(mt_session* s, const uint8_t id[20], mt_error* err)
{
    mt_error_clear(err);
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        h.unset_flags(lt::torrent_flags::auto_managed);
        h.pause(lt::torrent_handle::graceful_pause);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "pausing torrent");
    }
}

int mt_torrent_resume(mt_session* s, const uint8_t id[20], mt_error* err)
{
    mt_error_clear(err);
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        h.resume();
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "resuming torrent");
    }
}

int mt_torrent_get_status(mt_session* s, const uint8_t id[20], mt_torrent_status* st, mt_error* err)
{
    mt_error_clear(err);
    if (!st)
        return mt_error_set(err, MT_EINVAL, "status output is required");
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        lt::torrent_status ts = h.status(lt::torrent_handle::query_name | lt::torrent_handle::query_save_path);
        memset(st, 0, sizeof *st);
        st->state = map_state(ts.state);
        st->paused = (ts.flags & lt::torrent_flags::paused) ? 1 : 0;
        st->has_metadata = ts.has_metadata ? 1 : 0;
        st->progress = ts.progress;
        st->download_rate = ts.download_payload_rate;
        st->upload_rate = ts.upload_payload_rate;
        st->num_peers = ts.num_peers;
        st->num_seeds = ts.num_seeds;
        st->total_done = ts.total_wanted_done;
        st->total_wanted = ts.total_wanted;
        st->has_v1 = ts.info_hashes.has_v1() ? 1 : 0;
        st->has_v2 = ts.info_hashes.has_v2() ? 1 : 0;
        if (st->has_v1)
            memcpy(st->v1, ts.info_hashes.v1.data(), 20);
        if (st->has_v2)
            memcpy(st->v2, ts.info_hashes.v2.data(), 32);
        copy_str(st->name, sizeof st->name, ts.name);
        copy_str(st->save_path, sizeof st->save_path, ts.save_path);
        if (ts.errc) {
            st->error = MT_EENGINE;
            copy_str(st->error_message, sizeof st->error_message, ts.errc.message());
        }
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "reading torrent status");
    }
}

int mt_torrent_list(mt_session* s, uint8_t (*ids)[20], size_t cap, size_t* count, mt_error* err)
{
    mt_error_clear(err);
    if (!s || !count || (cap && !ids))
        return mt_error_set(err, MT_EINVAL, "session, count and (for cap > 0) ids are required");
    try {
        std::vector<lt::torrent_handle> all = s->ses.get_torrents();
        *count = all.size();
        for (size_t i = 0; i < all.size() && i < cap; ++i) {
            lt::sha1_hash id = torrent_id(all[i].info_hashes());
            memcpy(ids[i], id.data(), 20);
        }
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "listing torrents");
    }
}

int mt_torrent_file_count(mt_session* s, const uint8_t id[20], int* count, mt_error* err)
{
    mt_error_clear(err);
    if (!count)
        return mt_error_set(err, MT_EINVAL, "count output is required");
    try {
        lt::torrent_handle h;
        std::shared_ptr<lt::torrent_info const> ti;
        int rc = files_of(s, id, h, ti, err);
        if (rc)
            return rc;
        *count = ti->files().num_files();
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "reading files");
    }
}

int mt_torrent_file_info(mt_session* s, const uint8_t id[20], int index, mt_file_info* fi, mt_error* err)
{
    mt_error_clear(err);
    if (!fi)
        return mt_error_set(err, MT_EINVAL, "file info output is required");
    try {
        lt::torrent_handle h;
        std::shared_ptr<lt::torrent_info const> ti;
        int rc = files_of(s, id, h, ti, err);
        if (rc)
            return rc;
        lt::file_storage const& fs = ti->files();
        if (index < 0 || index >= fs.num_files())
            return mt_error_set(err, MT_EINVAL, "file index %d is not 0-%d", index, fs.num_files() - 1);
        lt::file_index_t fidx(index);
        memset(fi, 0, sizeof *fi);
        copy_str(fi->path, sizeof fi->path, fs.file_path(fidx));
        fi->size = fs.file_size(fidx);
        fi->offset = fs.file_offset(fidx);
        fi->pad = fs.pad_file_at(fidx) ? 1 : 0;
        fi->priority = static_cast<int>(static_cast<std::uint8_t>(h.file_priority(fidx)));
        std::vector<std::int64_t> prog = h.file_progress(lt::torrent_handle::piece_granularity);
        if (static_cast<std::size_t>(index) < prog.size())
            fi->downloaded = prog[static_cast<std::size_t>(index)];
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "reading file info");
    }
}

int mt_torrent_files(mt_session* s, const uint8_t id[20], mt_file_info* fi, size_t cap, size_t* count,
                     mt_error* err)
{
    mt_error_clear(err);
    if (!count || (cap && !fi))
        return mt_error_set(err, MT_EINVAL, "outputs are required");
    try {
        lt::torrent_handle h;
        std::shared_ptr<lt::torrent_info const> ti;
        int rc = files_of(s, id, h, ti, err);
        if (rc)
            return rc;
        lt::file_storage const& fs = ti->files();
        std::vector<std::int64_t> prog = h.file_progress(lt::torrent_handle::piece_granularity);
        std::vector<lt::download_priority_t> prio = h.get_file_priorities();
        *count = static_cast<size_t>(fs.num_files());
        for (size_t i = 0; i < cap && i < *count; ++i) {
            lt::file_index_t fidx(static_cast<int>(i));
            memset(&fi[i], 0, sizeof fi[i]);
            copy_str(fi[i].path, sizeof fi[i].path, fs.file_path(fidx));
            fi[i].size = fs.file_size(fidx);
            fi[i].offset = fs.file_offset(fidx);
            fi[i].pad = fs.pad_file_at(fidx) ? 1 : 0;
            fi[i].priority = i < prio.size() ? static_cast<int>(static_cast<std::uint8_t>(prio[i])) : 4;
            fi[i].downloaded = i < prog.size() ? prog[i] : 0;
        }
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory reading files");
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "reading files");
    }
}

int mt_torrent_set_file_priority(mt_session* s, const uint8_t id[20], int index, int priority, mt_error* err)
{
    mt_error_clear(err);
    if (priority < 0 || priority > 7)
        return mt_error_set(err, MT_EINVAL, "priority %d is not 0-7", priority);
    try {
        lt::torrent_handle h;
        std::shared_ptr<lt::torrent_info const> ti;
        int rc = files_of(s, id, h, ti, err);
        if (rc)
            return rc;
        if (index < 0 || index >= ti->files().num_files())
            return mt_error_set(err, MT_EINVAL, "file index %d is not 0-%d", index, ti->files().num_files() - 1);
        h.file_priority(lt::file_index_t(index), lt::download_priority_t(static_cast<std::uint8_t>(priority)));
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "setting file priority");
    }
}

int mt_torrent_add_web_seed(mt_session* s, const uint8_t id[20], const char* url, mt_error* err)
{
    mt_error_clear(err);
    if (!valid_http_url(url))
        return mt_error_set(err, MT_EINVAL, "web seed '%s' is not an http(s) URL with a host", url ? url : "(null)");
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        h.add_url_seed(url);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "adding web seed");
    }
}

int mt_torrent_find_peers(mt_session* s, const uint8_t id[20], mt_error* err)
{
    mt_error_clear(err);
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        h.force_dht_announce();
        h.force_reannounce();
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "looking for peers");
    }
}

int mt_torrent_connect_peer(mt_session* s, const uint8_t id[20], const char* ipport, mt_error* err)
{
    mt_error_clear(err);
    if (!ipport)
        return mt_error_set(err, MT_EINVAL, "peer address is required");
    try {
        std::string host;
        int port = 0;
        int prc = parse_endpoint(ipport, host, port, err);
        if (prc)
            return prc;
        lt::error_code ec;
        lt::address addr = lt::make_address(host, ec);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "'%s' is not an IP address", host.c_str());
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        h.connect_peer(lt::tcp::endpoint(addr, static_cast<std::uint16_t>(port)));
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "connecting to peer");
    }
}

int mt_torrent_force_recheck(mt_session* s, const uint8_t id[20], mt_error* err)
{
    mt_error_clear(err);
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        h.force_recheck();
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "rechecking torrent");
    }
}

int mt_torrent_save_resume(mt_session* s, const uint8_t id[20], mt_error* err)
{
    mt_error_clear(err);
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        h.save_resume_data(lt::torrent_handle::save_info_dict);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "saving resume data");
    }
}

int mt_torrent_get_torrent(mt_session* s, const uint8_t id[20], uint8_t** out, size_t* out_len, mt_error* err)
{
    mt_error_clear(err);
    if (!out || !out_len)
        return mt_error_set(err, MT_EINVAL, "output pointers are required");
    *out = nullptr;
    *out_len = 0;
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        std::shared_ptr<lt::torrent_info const> ti = h.torrent_file();
        if (!ti)
            return mt_error_set(err, MT_ESTATE, "the torrent has no metadata yet");
        // create_torrent re-emits the original info dict byte for byte, so
        // the info-hash of the written file is the torrent's own.
        lt::create_torrent ct(*ti);
        std::vector<char> buf;
        lt::bencode(std::back_inserter(buf), ct.generate());
        uint8_t* p = static_cast<uint8_t*>(malloc(buf.size()));
        if (!p)
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        memcpy(p, buf.data(), buf.size());
        *out = p;
        *out_len = buf.size();
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory");
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "writing .torrent");
    }
}

int mt_torrent_set_metadata(mt_session* s, const uint8_t id[20], const uint8_t* torrent, size_t len, mt_error* err)
{
    mt_error_clear(err);
    if (!torrent || len == 0 || len > kTorrentMax)
        return mt_error_set(err, MT_EINVAL, ".torrent is %zu bytes; expected 1 to %zu", len, kTorrentMax);
    try {
        lt::torrent_handle h;
        int rc = find_torrent(s, id, h, err);
        if (rc)
            return rc;
        lt::error_code ec;
        lt::torrent_info ti(lt::span<char const>(reinterpret_cast<char const*>(torrent), static_cast<long>(len)), ec,
                            lt::from_span);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "not a valid .torrent: %s", ec.message().c_str());
        if (memcmp(torrent_id(ti.info_hashes()).data(), id, 20) != 0)
            return mt_error_set(err, MT_EINVAL, "the .torrent names another torrent");
        if (h.torrent_file())
            return MT_OK;  // metadata already arrived from peers
        auto sec = ti.info_section();
        h.set_metadata(sec);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "setting metadata");
    }
}

int mt_torrent_info_hashes(const uint8_t* torrent, size_t len, uint8_t id_out[20], int* has_v1, uint8_t v1[20],
                           int* has_v2, uint8_t v2[32], mt_error* err)
{
    mt_error_clear(err);
    if (!torrent || len == 0 || len > kTorrentMax)
        return mt_error_set(err, MT_EINVAL, ".torrent is %zu bytes; expected 1 to %zu", len, kTorrentMax);
    try {
        lt::error_code ec;
        lt::torrent_info ti(lt::span<char const>(reinterpret_cast<char const*>(torrent), static_cast<long>(len)), ec,
                            lt::from_span);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "not a valid .torrent: %s", ec.message().c_str());
        lt::info_hash_t const& ih = ti.info_hashes();
        if (id_out)
            memcpy(id_out, torrent_id(ih).data(), 20);
        if (has_v1)
            *has_v1 = ih.has_v1();
        if (has_v2)
            *has_v2 = ih.has_v2();
        if (v1 && ih.has_v1())
            memcpy(v1, ih.v1.data(), 20);
        if (v2 && ih.has_v2())
            memcpy(v2, ih.v2.data(), 32);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EINVAL, e.what(), "parsing .torrent");
    }
}

int mt_magnet_parse(const char* uri, mt_magnet_info* out, mt_error* err)
{
    mt_error_clear(err);
    if (!uri || !out)
        return mt_error_set(err, MT_EINVAL, "uri and out are required");
    size_t len = strnlen(uri, kMagnetMax + 1);
    if (len > kMagnetMax)
        return mt_error_set(err, MT_ETOOBIG, "magnet link is over %zu bytes", kMagnetMax);
    try {
        lt::error_code ec;
        lt::add_torrent_params m = lt::parse_magnet_uri(lt::string_view(uri, len), ec);
        if (ec)
            return mt_error_set(err, MT_EINVAL, "not a usable magnet link: %s", ec.message().c_str());
        lt::info_hash_t const& ih = m.info_hashes;
        if (!ih.has_v1() && !ih.has_v2())
            return mt_error_set(err, MT_EINVAL, "magnet link names no info-hash (xt=urn:btih or urn:btmh)");
        memset(out, 0, sizeof *out);
        out->has_v1 = ih.has_v1();
        out->has_v2 = ih.has_v2();
        if (out->has_v1)
            memcpy(out->v1, ih.v1.data(), 20);
        if (out->has_v2)
            memcpy(out->v2, ih.v2.data(), 32);
        memcpy(out->id, torrent_id(ih).data(), 20);
        copy_str(out->name, sizeof out->name, m.name);
        return MT_OK;
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EINVAL, e.what(), "parsing magnet link");
    }
}

int mt_torrent_create(const mt_create_params* p, uint8_t** out, size_t* out_len, mt_error* err)
{
    mt_error_clear(err);
    if (!p || !p->path || !out || !out_len)
        return mt_error_set(err, MT_EINVAL, "path and outputs are required");
    *out = nullptr;
    *out_len = 0;
    int ps = p->piece_size;
    // libtorrent refuses piece lengths above INT_MAX / 2 when loading.
    if (ps != 0 && (ps < 16384 || ps > 512 * 1024 * 1024 || (ps & (ps - 1)) != 0))
        return mt_error_set(err, MT_EINVAL, "piece size %d is not a power of two from 16 KiB to 512 MiB", ps);
    lt::create_flags_t flags{};
    switch (p->version) {
    case MT_TORRENT_V1: flags = lt::create_torrent::v1_only; break;
    case MT_TORRENT_V2: flags = lt::create_torrent::v2_only; break;
    case MT_TORRENT_HYBRID:
    case 0: break;
    default: return mt_error_set(err, MT_EINVAL, "torrent version %d is not 1, 2 or 3", p->version);
    }
    for (size_t i = 0; i < p->num_web_seeds; ++i) {
        char const* u = p->web_seeds[i];
        if (!valid_http_url(u))
            return mt_error_set(err, MT_EINVAL, "web seed '%s' is not an http(s) URL with a host", u ? u : "(null)");
    }
    try {
        // Resolve ".", ".." and symlinks first: the name is the real last
        // component, never "." or "..".
        char* real = realpath(p->path, nullptr);
        if (!real)
            return mt_error_set(err, MT_EIO, "cannot read %s: %s", p->path, strerror(errno));
        std::string path(real);
        free(real);
        struct stat st;
        if (stat(path.c_str(), &st) != 0)
            return mt_error_set(err, MT_EIO, "cannot read %s: %s", path.c_str(), strerror(errno));
        if (path == "/")
            return mt_error_set(err, MT_EINVAL, "cannot make a torrent of the root folder");
        std::string name = basename_of(path);
        lt::file_storage fs;
        if (S_ISREG(st.st_mode)) {
            if (st.st_size == 0)
                return mt_error_set(err, MT_EINVAL, "%s is empty; a torrent needs at least one byte", path.c_str());
            fs.add_file(name, st.st_size);
        } else if (S_ISDIR(st.st_mode)) {
            std::vector<std::pair<std::string, std::int64_t>> files;
            int rc = walk(path, "", files, err);
            if (rc)
                return rc;
            std::sort(files.begin(), files.end());
            std::int64_t total = 0;
            for (auto const& f : files) {
                fs.add_file(name + "/" + f.first, f.second);
                total += f.second;
            }
            if (total == 0)
                return mt_error_set(err, MT_EINVAL, "%s holds no file data; a torrent needs at least one byte",
                                    path.c_str());
        } else {
            return mt_error_set(err, MT_EINVAL, "%s is neither a file nor a folder", path.c_str());
        }
        lt::create_torrent ct(fs, ps, flags);
        ct.set_creation_date(0);
        for (size_t i = 0; i < p->num_web_seeds; ++i)
            ct.add_url_seed(p->web_seeds[i]);
        for (size_t i = 0; i < p->num_trackers; ++i)
            if (p->trackers[i])
                ct.add_tracker(p->trackers[i], static_cast<int>(i));
        if (p->comment)
            ct.set_comment(p->comment);
        ct.set_priv(p->is_private != 0);
        lt::error_code ec;
        lt::set_piece_hashes(ct, parent_of(path), ec);
        if (ec)
            return mt_error_set(err, MT_EIO, "hashing %s: %s", path.c_str(), ec.message().c_str());
        std::vector<char> buf;
        lt::bencode(std::back_inserter(buf), ct.generate());
        *out = static_cast<uint8_t*>(malloc(buf.size()));
        if (!*out)
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        memcpy(*out, buf.data(), buf.size());
        *out_len = buf.size();
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory creating torrent");
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "creating torrent");
    }
}

int mt_torrent_create_flat(const char* dir, const char* name, const char* const* files, size_t n, int piece_size,
                           const char* const* web_seeds, size_t num_web_seeds, uint8_t** out, size_t* out_len,
                           mt_error* err)
{
    mt_error_clear(err);
    if (!dir || !name || (!files && n) || !out || !out_len)
        return mt_error_set(err, MT_EINVAL, "folder, name, files and outputs are required");
    *out = nullptr;
    *out_len = 0;
    int ps = piece_size;
    if (ps < 16384 || ps > 16 * 1024 * 1024 || (ps & (ps - 1)) != 0)
        return mt_error_set(err, MT_EINVAL, "piece size %d is not a power of two from 16 KiB to 16 MiB", ps);
    if (!plain_name(name))
        return mt_error_set(err, MT_EINVAL, "torrent name '%s' is not a plain file name", name);
    if (n == 0)
        return mt_error_set(err, MT_EINVAL, "a torrent needs at least one file");
    for (size_t i = 0; i < num_web_seeds; ++i)
        if (!valid_http_url(web_seeds[i]))
            return mt_error_set(err, MT_EINVAL, "web seed '%s' is not an http(s) URL with a host",
                                web_seeds[i] ? web_seeds[i] : "(null)");
    try {
        lt::file_storage fs;
        std::vector<std::string> paths;
        for (size_t i = 0; i < n; ++i) {
            if (!plain_name(files[i]))
                return mt_error_set(err, MT_EINVAL, "file name '%s' is not a plain file name",
                                    files[i] ? files[i] : "(null)");
            std::string path = std::string(dir) + "/" + files[i];
            struct stat st;
            if (stat(path.c_str(), &st) != 0)
                return mt_error_set(err, errno == ENOENT ? MT_ENOTFOUND : MT_EIO, "cannot read %s: %s",
                                    path.c_str(), strerror(errno));
            if (!S_ISREG(st.st_mode) || st.st_size == 0)
                return mt_error_set(err, MT_EINVAL, "%s is not a non-empty regular file", path.c_str());
            fs.add_file(std::string(name) + "/" + files[i], st.st_size);
            paths.push_back(std::move(path));
        }
        lt::create_torrent ct(fs, ps, lt::create_torrent::v1_only);
        ct.set_creation_date(0);
        for (size_t i = 0; i < num_web_seeds; ++i)
            ct.add_url_seed(web_seeds[i]);
        // Hash the pieces ourselves: they span files read from dir, not from
        // a folder named after the torrent as set_piece_hashes expects.
        std::vector<char> buf(static_cast<std::size_t>(ps));
        std::size_t fi = 0;
        int fd = -1;
        std::int64_t left_in_file = 0;
        for (lt::piece_index_t p(0); p < ct.end_piece(); ++p) {
            std::size_t want = static_cast<std::size_t>(ct.piece_size(p)), have = 0;
            while (have < want) {
                if (left_in_file == 0) {
                    if (fd >= 0)
                        close(fd);
                    fd = open(paths[fi].c_str(), O_RDONLY | O_CLOEXEC);
                    if (fd < 0)
                        return mt_error_set(err, MT_EIO, "cannot read %s: %s", paths[fi].c_str(), strerror(errno));
                    left_in_file = fs.file_size(lt::file_index_t(static_cast<int>(fi)));
                    ++fi;
                }
                std::size_t chunk = std::min<std::int64_t>(static_cast<std::int64_t>(want - have), left_in_file);
                ssize_t r = read(fd, buf.data() + have, chunk);
                if (r <= 0) {
                    int e = r < 0 ? errno : EIO;
                    close(fd);
                    return mt_error_set(err, MT_EIO, "reading %s: %s", paths[fi - 1].c_str(),
                                        r < 0 ? strerror(e) : "file shrank while hashing");
                }
                have += static_cast<std::size_t>(r);
                left_in_file -= r;
            }
            ct.set_hash(p, lt::hasher(buf.data(), static_cast<int>(want)).final());
        }
        if (fd >= 0)
            close(fd);
        std::vector<char> enc;
        lt::bencode(std::back_inserter(enc), ct.generate());
        *out = static_cast<uint8_t*>(malloc(enc.size()));
        if (!*out)
            return mt_error_set(err, MT_ENOMEM, "out of memory");
        memcpy(*out, enc.data(), enc.size());
        *out_len = enc.size();
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "out of memory creating torrent");
    } catch (std::exception const& e) {
        return set_from_exception(err, MT_EENGINE, e.what(), "creating torrent");
    }
}

} // extern "C"
