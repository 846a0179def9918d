// bencode.cpp - mt_bencode.h: libtorrent's bdecode/bencode behind a C API.
//
// Only the bencode headers of libtorrent are included here: this file is
// cheap to compile. Every extern "C" function catches everything.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>

#include "mt_bencode.h"

namespace mtcapi {
// Defined in session.cpp (declared in internal.hpp, which pulls in the
// session headers this file avoids).
bool valid_http_url(char const* url);
} // namespace mtcapi

struct mt_bdoc {
    std::vector<char> buf;               // the parsed bytes (nodes point here)
    lt::bdecode_node root;               // owns the token tree; never moved
    std::vector<lt::bdecode_node> nodes; // handle -> node; 0 is the root
    // Byte offset of a node -> its handle. Every node starts at a distinct
    // offset, so looking the same child up twice reuses its handle and the
    // table stays bounded by the token count.
    std::unordered_map<std::ptrdiff_t, int> by_offset;
};

struct mt_benc {
    lt::entry root;
    bool have_root = false;              // a top-level value was started
    std::vector<lt::entry*> open;        // open containers, innermost last
    bool have_key = false;               // a key waits for its value
    std::string key;
    int error = MT_OK;                   // first error, sticky
    std::string error_msg;
};

namespace {

// The node behind a handle, or nullptr.
lt::bdecode_node const* node_at(mt_bdoc const* d, int h)
{
    if (!d || h < 0 || static_cast<std::size_t>(h) >= d->nodes.size())
        return nullptr;
    return &d->nodes[static_cast<std::size_t>(h)];
}

// The handle of a child node, adding it on first sight.
int handle_of(mt_bdoc* d, lt::bdecode_node const& n)
{
    std::ptrdiff_t off = n.data_section().data() - d->buf.data();
    auto it = d->by_offset.find(off);
    if (it != d->by_offset.end())
        return it->second;
    int h = static_cast<int>(d->nodes.size());
    d->nodes.push_back(n);
    d->by_offset.emplace(off, h);
    return h;
}

// Parse "i<digits>e" with a 64-bit range check (int_value() gives 0 on
// overflow, which would turn an absurd number into a plausible one).
bool parse_int(lt::span<char const> s, std::int64_t& v)
{
    std::size_t i = 1, n = static_cast<std::size_t>(s.size());
    bool neg = false;
    std::uint64_t acc = 0;
    if (n < 3 || s[0] != 'i' || s[n - 1] != 'e')
        return false;
    if (s[i] == '-') {
        neg = true;
        ++i;
    }
    std::uint64_t const limit = neg ? UINT64_C(9223372036854775808) : UINT64_C(9223372036854775807);
    if (i >= n - 1)
        return false;
    for (; i < n - 1; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned digit = static_cast<unsigned>(s[i] - '0');
        if (acc > (limit - digit) / 10)
            return false;
        acc = acc * 10 + digit;
    }
    if (neg)
        v = acc == UINT64_C(9223372036854775808) ? INT64_MIN : -static_cast<std::int64_t>(acc);
    else
        v = static_cast<std::int64_t>(acc);
    return true;
}

// Record the builder's first error; returns the code in effect.
int fail(mt_benc* b, int code, char const* msg)
{
    if (b->error == MT_OK) {
        b->error = code;
        try {
            b->error_msg = msg;
        } catch (...) {
            b->error = MT_ENOMEM;
        }
    }
    return b->error;
}

// Put v where the next value goes; the stored entry in *where.
int place(mt_benc* b, lt::entry&& v, lt::entry** where)
{
    if (b->open.empty()) {
        if (b->have_root)
            return fail(b, MT_EINVAL, "bencode: a second top-level value (wrap several values in a list)");
        b->root = std::move(v);
        b->have_root = true;
        *where = &b->root;
        return MT_OK;
    }
    lt::entry* top = b->open.back();
    if (top->type() == lt::entry::list_t) {
        auto& l = top->list();
        l.push_back(std::move(v));
        *where = &l.back();
        return MT_OK;
    }
    if (!b->have_key)
        return fail(b, MT_EINVAL, "bencode: a value inside a dict needs a key first (mt_benc_key)");
    auto r = top->dict().emplace(std::move(b->key), std::move(v));
    b->have_key = false;
    b->key.clear();
    *where = &r.first->second;
    return MT_OK;
}

// Add a value (and open it if it is a container), mapping exceptions.
int add(mt_benc* b, lt::entry&& v, bool container)
{
    if (!b)
        return MT_EINVAL;
    if (b->error)
        return b->error;
    try {
        if (container && b->open.size() >= MT_BENC_MAX_DEPTH)
            return fail(b, MT_ETOOBIG, "bencode: nesting deeper than 1000 lists/dicts");
        lt::entry* where = nullptr;
        int rc = place(b, std::move(v), &where);
        if (rc)
            return rc;
        if (container)
            b->open.push_back(where);
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return fail(b, MT_ENOMEM, "bencode: out of memory");
    } catch (std::exception const& e) {
        return fail(b, MT_EINVAL, e.what());
    } catch (...) {
        return fail(b, MT_EINVAL, "bencode: unexpected failure");
    }
}

} // namespace

extern "C" {

int mt_bdoc_parse(const uint8_t* buf, size_t len, int max_depth, int max_tokens, mt_bdoc** out, mt_error* err)
{
    if (!out)
        return mt_error_set(err, MT_EINVAL, "bencode: out is required");
    *out = nullptr;
    if (!buf || len == 0)
        return mt_error_set(err, MT_EINVAL, "bencode: empty input");
    if (max_depth < 0 || max_tokens < 0)
        return mt_error_set(err, MT_EINVAL, "bencode: limits must be 0 (default) or positive");
    // lt::bdecode measures in int; its own token offsets are smaller still.
    if (len > INT32_MAX)
        return mt_error_set(err, MT_ETOOBIG, "bencode: input is %zu bytes; at most %d can be parsed", len,
                            INT32_MAX);
    mt_bdoc* d = nullptr;
    try {
        d = new mt_bdoc;
        d->buf.assign(reinterpret_cast<char const*>(buf), reinterpret_cast<char const*>(buf) + len);
        lt::error_code ec;
        int pos = 0;
        // libtorrent refuses a stack of depth_limit containers; ours is
        // the number that may nest, hence + 1.
        int depth = max_depth ? max_depth : MT_BDOC_DEFAULT_DEPTH;
        d->root = lt::bdecode({d->buf.data(), static_cast<std::ptrdiff_t>(len)}, ec, &pos,
                              depth < INT32_MAX ? depth + 1 : depth,
                              max_tokens ? max_tokens : MT_BDOC_DEFAULT_TOKENS);
        if (ec) {
            int rc = mt_error_set(err, MT_EINVAL, "bencode: %s at byte %d", ec.message().c_str(), pos);
            delete d;
            return rc;
        }
        std::size_t used = static_cast<std::size_t>(d->root.data_section().size());
        if (used != len) {
            int rc = mt_error_set(err, MT_EINVAL, "bencode: %zu bytes follow the value that ends at byte %zu",
                                  len - used, used);
            delete d;
            return rc;
        }
        d->nodes.push_back(d->root.non_owning());
        d->by_offset.emplace(0, 0);
        *out = d;
        return MT_OK;
    } catch (std::bad_alloc const&) {
        delete d;
        return mt_error_set(err, MT_ENOMEM, "bencode: out of memory");
    } catch (std::exception const& e) {
        delete d;
        return mt_error_set(err, MT_EINVAL, "bencode: %s", e.what());
    } catch (...) {
        delete d;
        return mt_error_set(err, MT_EINVAL, "bencode: unexpected failure");
    }
}

int mt_bdoc_type(const mt_bdoc* doc, int node)
{
    lt::bdecode_node const* n = node_at(doc, node);
    if (!n)
        return MT_BNODE_NONE;
    switch (n->type()) {
    case lt::bdecode_node::string_t: return MT_BNODE_STRING;
    case lt::bdecode_node::int_t: return MT_BNODE_INT;
    case lt::bdecode_node::list_t: return MT_BNODE_LIST;
    case lt::bdecode_node::dict_t: return MT_BNODE_DICT;
    default: return MT_BNODE_NONE;
    }
}

int mt_bdoc_dict_find(mt_bdoc* doc, int dict, const char* key)
{
    lt::bdecode_node const* n = node_at(doc, dict);
    if (!n || !key || n->type() != lt::bdecode_node::dict_t)
        return -1;
    try {
        lt::bdecode_node c = n->dict_find(lt::string_view(key, strlen(key)));
        if (c.type() == lt::bdecode_node::none_t)
            return -1;
        return handle_of(doc, c);
    } catch (...) {
        return -1;
    }
}

int mt_bdoc_dict_size(const mt_bdoc* doc, int dict)
{
    lt::bdecode_node const* n = node_at(doc, dict);
    if (!n || n->type() != lt::bdecode_node::dict_t)
        return MT_EINVAL;
    try {
        return n->dict_size();
    } catch (...) {
        return MT_EINVAL;
    }
}

int mt_bdoc_dict_at(mt_bdoc* doc, int dict, int i, const uint8_t** key, size_t* key_len)
{
    lt::bdecode_node const* n = node_at(doc, dict);
    if (!n || n->type() != lt::bdecode_node::dict_t)
        return MT_EINVAL;
    try {
        if (i < 0 || i >= n->dict_size())
            return MT_EINVAL;
        auto kv = n->dict_at(i);
        int h = handle_of(doc, kv.second);
        if (key)
            *key = reinterpret_cast<uint8_t const*>(kv.first.data());
        if (key_len)
            *key_len = kv.first.size();
        return h;
    } catch (std::bad_alloc const&) {
        return MT_ENOMEM;
    } catch (...) {
        return MT_EINVAL;
    }
}

int mt_bdoc_list_size(const mt_bdoc* doc, int list)
{
    lt::bdecode_node const* n = node_at(doc, list);
    if (!n || n->type() != lt::bdecode_node::list_t)
        return MT_EINVAL;
    try {
        return n->list_size();
    } catch (...) {
        return MT_EINVAL;
    }
}

int mt_bdoc_list_at(mt_bdoc* doc, int list, int i)
{
    lt::bdecode_node const* n = node_at(doc, list);
    if (!n || n->type() != lt::bdecode_node::list_t)
        return MT_EINVAL;
    try {
        if (i < 0 || i >= n->list_size())
            return MT_EINVAL;
        return handle_of(doc, n->list_at(i));
    } catch (std::bad_alloc const&) {
        return MT_ENOMEM;
    } catch (...) {
        return MT_EINVAL;
    }
}

int mt_bdoc_string(const mt_bdoc* doc, int node, const uint8_t** s, size_t* len)
{
    lt::bdecode_node const* n = node_at(doc, node);
    if (!n || !s || !len || n->type() != lt::bdecode_node::string_t)
        return MT_EINVAL;
    lt::string_view v = n->string_value();
    *s = reinterpret_cast<uint8_t const*>(v.data());
    *len = v.size();
    return MT_OK;
}

int mt_bdoc_int(const mt_bdoc* doc, int node, int64_t* v)
{
    lt::bdecode_node const* n = node_at(doc, node);
    if (!n || !v || n->type() != lt::bdecode_node::int_t)
        return MT_EINVAL;
    std::int64_t x = 0;
    if (!parse_int(n->data_section(), x))
        return MT_EINVAL;
    *v = x;
    return MT_OK;
}

void mt_bdoc_free(mt_bdoc* doc)
{
    delete doc;
}

int mt_benc_new(mt_benc** out, mt_error* err)
{
    if (!out)
        return mt_error_set(err, MT_EINVAL, "bencode: out is required");
    *out = new (std::nothrow) mt_benc;
    if (!*out)
        return mt_error_set(err, MT_ENOMEM, "bencode: out of memory");
    return MT_OK;
}

int mt_benc_dict_begin(mt_benc* b)
{
    return add(b, lt::entry(lt::entry::dictionary_t), true);
}

int mt_benc_list_begin(mt_benc* b)
{
    return add(b, lt::entry(lt::entry::list_t), true);
}

int mt_benc_end(mt_benc* b)
{
    if (!b)
        return MT_EINVAL;
    if (b->error)
        return b->error;
    if (b->open.empty())
        return fail(b, MT_EINVAL, "bencode: end without an open list or dict");
    if (b->have_key)
        return fail(b, MT_EINVAL, "bencode: the dict's last key has no value");
    b->open.pop_back();
    return MT_OK;
}

int mt_benc_key(mt_benc* b, const uint8_t* key, size_t key_len)
{
    if (!b)
        return MT_EINVAL;
    if (b->error)
        return b->error;
    if (!key && key_len)
        return fail(b, MT_EINVAL, "bencode: key is NULL");
    if (b->open.empty() || b->open.back()->type() != lt::entry::dictionary_t)
        return fail(b, MT_EINVAL, "bencode: a key outside a dict");
    if (b->have_key)
        return fail(b, MT_EINVAL, "bencode: two keys in a row (the first has no value)");
    try {
        std::string k(reinterpret_cast<char const*>(key), key_len);
        auto const& d = b->open.back()->dict();
        if (d.find(k) != d.end())
            return fail(b, MT_EINVAL, "bencode: a dict key is repeated");
        b->key = std::move(k);
        b->have_key = true;
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return fail(b, MT_ENOMEM, "bencode: out of memory");
    } catch (...) {
        return fail(b, MT_EINVAL, "bencode: unexpected failure");
    }
}

int mt_benc_string(mt_benc* b, const uint8_t* s, size_t len)
{
    if (!b)
        return MT_EINVAL;
    if (b->error)
        return b->error;
    if (!s && len)
        return fail(b, MT_EINVAL, "bencode: string is NULL");
    try {
        return add(b, lt::entry(std::string(reinterpret_cast<char const*>(s), len)), false);
    } catch (std::bad_alloc const&) {
        return fail(b, MT_ENOMEM, "bencode: out of memory");
    } catch (...) {
        return fail(b, MT_EINVAL, "bencode: unexpected failure");
    }
}

int mt_benc_int(mt_benc* b, int64_t v)
{
    return add(b, lt::entry(static_cast<lt::entry::integer_type>(v)), false);
}

int mt_benc_finish(mt_benc* b, uint8_t** out, size_t* out_len, mt_error* err)
{
    if (!b || !out || !out_len)
        return mt_error_set(err, MT_EINVAL, "bencode: builder and outputs are required");
    *out = nullptr;
    *out_len = 0;
    if (b->error)
        return mt_error_set(err, b->error, "%s", b->error_msg.c_str());
    if (!b->have_root)
        return mt_error_set(err, MT_EINVAL, "bencode: nothing to encode");
    if (!b->open.empty())
        return mt_error_set(err, MT_EINVAL, "bencode: %zu list(s)/dict(s) still open", b->open.size());
    try {
        std::vector<char> buf;
        lt::bencode(std::back_inserter(buf), b->root);
        uint8_t* p = static_cast<uint8_t*>(malloc(buf.size()));
        if (!p)
            return mt_error_set(err, MT_ENOMEM, "bencode: out of memory");
        memcpy(p, buf.data(), buf.size());
        *out = p;
        *out_len = buf.size();
        return MT_OK;
    } catch (std::bad_alloc const&) {
        return mt_error_set(err, MT_ENOMEM, "bencode: out of memory");
    } catch (std::exception const& e) {
        return mt_error_set(err, MT_EINVAL, "bencode: %s", e.what());
    } catch (...) {
        return mt_error_set(err, MT_EINVAL, "bencode: unexpected failure");
    }
}

void mt_benc_free(mt_benc* b)
{
    delete b;
}

int mt_url_is_http(const char* url)
{
    return mtcapi::valid_http_url(url) ? 1 : 0;
}

} // extern "C"
