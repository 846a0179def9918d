/*
 * out.c - mtctl's one output context: results as text or as one JSON
 * document, errors, and the progress bar the long commands share.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtctl.h"

mtctl_out g_out = {0, "mtctl"};

int fail(int exit_code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_out.json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *e = cJSON_AddObjectToObject(doc, "error");
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddNumberToObject(e, "exit_code", exit_code);
        emit_json(doc);
    } else {
        fprintf(stderr, "%s: %s\n", g_out.prog, msg);
    }
    return exit_code;
}

int exit_for(int mt_code)
{
    switch (mt_code) {
    case MT_OK:
        return EXIT_OK;
    case MT_ENOTFOUND:
    case MT_ESTALE:
    case MT_ETIMEDOUT:
    case MT_ECRYPTO:
    case MT_ETOOBIG:
    case MT_EINVAL:
        return EXIT_FAILED;
    default:
        return EXIT_LOCAL;
    }
}

void emit_json(cJSON *doc)
{
    char *s = cJSON_PrintUnformatted(doc);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
    cJSON_Delete(doc);
}

void human_bytes(double n, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    if (n < 0)
        n = 0;
    while (n >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%.0f B", n);
    else
        snprintf(buf, cap, "%.1f %s", n, units[u]);
}

void human_rate(double bytes_per_s, char *buf, size_t cap)
{
    char b[24];
    human_bytes(bytes_per_s, b, sizeof b);
    snprintf(buf, cap, "%s/s", b);
}

void clean_text(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    if (cap == 0)
        return;
    if (!in)
        in = "";
    for (; *in && i + 1 < cap; in++)
        out[i++] = ((unsigned char)*in < 0x20 || *in == 0x7f) ? '?' : *in;
    /* Cut mid-character: drop the partial sequence rather than show junk. */
    if (*in && ((unsigned char)*in & 0xC0) == 0x80) {
        while (i > 0 && ((unsigned char)out[i - 1] & 0xC0) == 0x80)
            i--;
        if (i > 0)
            i--;
    }
    out[i] = '\0';
}

/* ========================================================== progress bar */

void progress_init(progress *p, int delay_ms)
{
    memset(p, 0, sizeof *p);
    p->on = isatty(STDERR_FILENO);
    p->delay_ms = delay_ms;
    p->t0 = p->rate_t = mt_now_ms();
}

/* The rate the bar shows when the caller has none: bytes over the last
 * second or so, counted from the first call (work already done is not speed). */
static double measured_rate(progress *p, double done, int64_t now)
{
    if (!p->started) {
        p->started = 1;
        p->rate_done = done;
        p->rate_t = now;
    } else if (now - p->rate_t >= 1000) {
        p->rate = (done - p->rate_done) * 1000.0 / (double)(now - p->rate_t);
        p->rate_done = done;
        p->rate_t = now;
    } else if (p->rate == 0 && now > p->rate_t) {
        p->rate = (done - p->rate_done) * 1000.0 / (double)(now - p->rate_t);
    }
    return p->rate > 0 ? p->rate : 0;
}

void progress_show(progress *p, double done, double total, double rate, const char *extra, const char *label)
{
    char line[200], bar[21], sd[32], st[32], sr[32];
    int64_t now = mt_now_ms();
    double frac = total > 0 ? done / total : 0;
    const char *sep = extra && extra[0] ? "  " : "";
    size_t fill;
    int n;
    if (!p->on)
        return;
    if (rate < 0)
        rate = measured_rate(p, done, now);
    /* Quick work gets no bar; slow work is redrawn ten times a second at most. */
    if (now - p->t0 < p->delay_ms || (p->last_draw && now - p->last_draw < 100 && done < total))
        return;
    p->last_draw = now;
    if (frac > 1)
        frac = 1;
    if (frac < 0)
        frac = 0;
    fill = (size_t)(frac * 20);
    memset(bar, '#', fill);
    memset(bar + fill, '.', 20 - fill);
    bar[20] = '\0';
    human_bytes(done, sd, sizeof sd);
    human_bytes(total, st, sizeof st);
    human_rate(rate, sr, sizeof sr);
    if (total < 0) /* magnet links: nothing to count before the metadata */
        n = snprintf(line, sizeof line, "[%s]  fetching metadata  %s%s", bar, extra ? extra : "", sep);
    else
        n = snprintf(line, sizeof line, "[%s] %5.1f%%  %s / %s  %s  %s%s", bar, frac * 100, sd, st, sr,
                     extra ? extra : "", sep);
    /* Keep the line under 80 columns so \r can redraw it in place. */
    if (n >= 0 && (size_t)n < 79)
        clean_text(label ? label : "", line + n, 80 - (size_t)n);
    fprintf(stderr, "\r%s", line);
    for (size_t i = strlen(line); i < p->last; i++)
        fputc(' ', stderr);
    p->last = strlen(line);
    fflush(stderr);
}

void progress_clear(progress *p)
{
    if (!p->on || !p->last)
        return;
    fprintf(stderr, "\r%*s\r", (int)p->last, "");
    fflush(stderr);
    p->last = 0;
}
