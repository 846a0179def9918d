/*
 * format.c - mtctl: mtd's results for people: members as readable values,
 * key: value lines, tables, a resolved manifest.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "mtctl.h"

/* ========================================================= result members */

const char *dc_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

double dc_num(const cJSON *o, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* 1 if member key is true. */
int dc_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Characters a terminal shows for s (UTF-8 lead bytes; wide glyphs aside). */
static size_t display_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* "magnet:?xs=urn:btpk:0123...89abcdef" when longer than max (ASCII input). */
void dc_shorten(const char *in, char *out, size_t cap, size_t max)
{
    size_t n = strlen(in), tail = 10;
    if (n <= max || max < tail + 8)
        clean_text(in, out, cap);
    else
        snprintf(out, cap, "%.*s...%s", (int)(max - tail - 3), in, in + n - tail);
}

/* "12s ago", "5m ago", "in 3h"; "never" for 0. t_ms is wall time. */
void dc_format_age(double t_ms, char *buf, size_t cap)
{
    double d = ((double)mt_wall_ms() - t_ms) / 1000.0;
    const char *pre = "", *post = " ago";
    if (t_ms <= 0) {
        snprintf(buf, cap, "never");
        return;
    }
    if (d < 0) {
        d = -d;
        pre = "in ";
        post = "";
    }
    if (d < 60)
        snprintf(buf, cap, "%s%.0fs%s", pre, d, post);
    else if (d < 3600)
        snprintf(buf, cap, "%s%.0fm%s", pre, d / 60, post);
    else if (d < 86400)
        snprintf(buf, cap, "%s%.0fh%s", pre, d / 3600, post);
    else
        snprintf(buf, cap, "%s%.0fd%s", pre, d / 86400, post);
}

/* Local "2026-11-14 22:13:20 (5m ago)" for a time in ms since 1970. */
static void format_time(double t_ms, char *buf, size_t cap)
{
    char when[32], age[32];
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;
    if (t_ms <= 0 || !localtime_r(&t, &tm)) {
        snprintf(buf, cap, "never");
        return;
    }
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    dc_format_age(t_ms, age, sizeof age);
    snprintf(buf, cap, "%s (%s)", when, age);
}

/* "1h 2m 5s" for a duration in seconds. */
static void format_duration(double s, char *buf, size_t cap)
{
    long long t = (long long)s;
    if (t >= 86400)
        snprintf(buf, cap, "%lldd %lldh %lldm", t / 86400, t % 86400 / 3600, t % 3600 / 60);
    else if (t >= 3600)
        snprintf(buf, cap, "%lldh %lldm %llds", t / 3600, t % 3600 / 60, t % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%lldm %llds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%llds", t);
}

/* A number as an integer when it is one (cJSON numbers are doubles). */
void dc_format_number(double v, char *buf, size_t cap)
{
    if (v == (double)(long long)v && v > -9.1e15 && v < 9.1e15)
        snprintf(buf, cap, "%lld", (long long)v);
    else
        snprintf(buf, cap, "%g", v);
}

/* ===================================================== key: value lines */

/* 1 if every member of object o is a number with a plain name. */
static int flat_counters(const cJSON *o)
{
    const cJSON *m;
    int n = 0;
    cJSON_ArrayForEach(m, o) {
        if (!cJSON_IsNumber(m) || !m->string || strspn(m->string, "abcdefghijklmnopqrstuvwxyz_") != strlen(m->string))
            return 0;
        n++;
    }
    return n > 0;
}

/* One value as readable text, by what its key says it holds. */
static void format_value(const char *key, const cJSON *v, char *buf, size_t cap)
{
    size_t kl = strlen(key);
    if (!v || cJSON_IsNull(v)) {
        snprintf(buf, cap, "-");
    } else if (cJSON_IsBool(v)) {
        snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "yes" : "no");
    } else if (cJSON_IsString(v)) {
        clean_text(v->valuestring[0] ? v->valuestring : "-", buf, cap);
    } else if (cJSON_IsNumber(v)) {
        if (kl > 5 && !strcmp(key + kl - 5, "_rate"))
            human_rate(v->valuedouble, buf, cap);
        else if (kl > 3 && !strcmp(key + kl - 3, "_ms"))
            format_time(v->valuedouble, buf, cap);
        else if (!strcmp(key, "uptime_s"))
            format_duration(v->valuedouble, buf, cap);
        else if (!strcmp(key, "progress"))
            snprintf(buf, cap, "%.1f%%", v->valuedouble * 100);
        else if (!strcmp(key, "total_done") || !strcmp(key, "total_wanted") || !strcmp(key, "size"))
            human_bytes(v->valuedouble, buf, cap);
        else
            dc_format_number(v->valuedouble, buf, cap);
    } else if (cJSON_IsObject(v) && flat_counters(v)) {
        /* A group of counters (status's push, crypt): "name value, ...". */
        size_t used = 0;
        const cJSON *m;
        buf[0] = '\0';
        cJSON_ArrayForEach(m, v) {
            char num[64];
            dc_format_number(m->valuedouble, num, sizeof num);
            int n = snprintf(buf + used, cap - used, "%s%s %s", used ? ", " : "", m->string, num);
            if (n < 0 || (size_t)n >= cap - used)
                break;
            used += (size_t)n;
        }
    } else {
        char *s = cJSON_PrintUnformatted(v);
        clean_text(s ? s : "?", buf, cap);
        free(s);
    }
}

/* "key:  value" lines for keys (NULL-terminated), or every member. */
void dc_print_kv(const cJSON *obj, const char *const *keys)
{
    char val[2048], label[64];
    int w = 0;
    const cJSON *m;
    if (keys) {
        for (size_t i = 0; keys[i]; i++)
            w = (int)strlen(keys[i]) > w ? (int)strlen(keys[i]) : w;
        for (size_t i = 0; keys[i]; i++) {
            format_value(keys[i], cJSON_GetObjectItemCaseSensitive(obj, keys[i]), val, sizeof val);
            snprintf(label, sizeof label, "%s:", keys[i]);
            printf("%-*s %s\n", w + 1, label, val);
        }
        return;
    }
    cJSON_ArrayForEach(m, obj)
        w = m->string && (int)strlen(m->string) > w ? (int)strlen(m->string) : w;
    cJSON_ArrayForEach(m, obj) {
        if (!m->string)
            continue;
        format_value(m->string, m, val, sizeof val);
        snprintf(label, sizeof label, "%s:", m->string);
        printf("%-*s %s\n", w + 1, label, val);
    }
}

/* A result for people (key: value lines of keys, or of every member) or,
 * with --json, as it came. Takes ownership of r. */
int dc_show_result(cJSON *r, const char *const *keys)
{
    if (g_out.json) {
        emit_json(r);
        return EXIT_OK;
    }
    dc_print_kv(r, keys);
    cJSON_Delete(r);
    return EXIT_OK;
}

/* ================================================================ tables */

/* Add a row of ncols strings (copied). 0 or -1 (out of memory). */
int table_add(table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        char **n = realloc(t->cells, ncap * t->ncols * sizeof *n);
        if (!n)
            return -1;
        t->cells = n;
        t->cap = ncap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char buf[1024];
        clean_text(row[i], buf, sizeof buf);
        if (!(t->cells[t->nrows * t->ncols + i] = strdup(buf))) {
            while (i-- > 0)
                free(t->cells[t->nrows * t->ncols + i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

int table_init(table *t, size_t ncols, const char *align, const char *const *header)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->align = align;
    return table_add(t, header);
}

void table_print(const table *t)
{
    size_t w[TABLE_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols && i < TABLE_COLS; i++) {
            size_t dw = display_width(t->cells[r * t->ncols + i]);
            w[i] = dw > w[i] ? dw : w[i];
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols && i < TABLE_COLS; i++) {
            const char *s = t->cells[r * t->ncols + i];
            size_t pad = w[i] - display_width(s);
            int last = i + 1 == t->ncols;
            if (t->align[i] == 'r')
                printf("%*s%s", (int)pad, "", s);
            else
                printf("%s%*s", s, last ? 0 : (int)pad, "");
            fputs(last ? "\n" : "  ", stdout);
        }
    }
}

void table_free(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* ============================================================= resolve */

/* One manifest item: a string, or a FileEntry shown by name and size. */
static void print_item(size_t n, const cJSON *it)
{
    char text[1024], size[32];
    if (cJSON_IsString(it)) {
        clean_text(it->valuestring, text, sizeof text);
        printf("  %-4zu %s\n", n, text);
    } else if (cJSON_IsObject(it) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "name"))) {
        clean_text(dc_str(it, "name"), text, sizeof text);
        human_bytes(dc_num(it, "size", 0), size, sizeof size);
        printf("  %-4zu %s  (file, %s)\n", n, text, size);
    } else {
        char *s = cJSON_PrintUnformatted(it);
        clean_text(s ? s : "?", text, sizeof text);
        free(s);
        printf("  %-4zu %s\n", n, text);
    }
}

/* The collections of a manifest (object, or JSON text). */
static void print_manifest(const cJSON *mv)
{
    cJSON *parsed = NULL, *col;
    const cJSON *m = mv;
    if (cJSON_IsString(mv))
        m = parsed = cJSON_Parse(mv->valuestring);
    if (!cJSON_IsObject(m)) {
        printf("manifest: (none)\n");
    } else if (dc_bool(m, "encrypted") && !cJSON_GetObjectItemCaseSensitive(m, "collections")) {
        printf("manifest: private, sealed (needs the read key: megatorrent://PK:READKEY)\n");
    } else {
        cJSON_ArrayForEach(col, cJSON_GetObjectItemCaseSensitive(m, "collections")) {
            const cJSON *items = cJSON_GetObjectItemCaseSensitive(col, "items"), *it;
            char title[512];
            size_t n = 0;
            clean_text(dc_str(col, "title"), title, sizeof title);
            printf("\n%s (%d)\n", title, cJSON_GetArraySize(items));
            cJSON_ArrayForEach(it, items)
                print_item(++n, it);
        }
    }
    cJSON_Delete(parsed);
}

void dc_print_resolve_result(const cJSON *doc)
{
    static const char *const keys[] = {"address", "seq", "mode", "ih", NULL};
    dc_print_kv(doc, keys);
    print_manifest(cJSON_GetObjectItemCaseSensitive(doc, "manifest"));
}
