/*
 * log.c - mtd's log: timestamped lines on stderr, or syslog. Called from
 * the event loop only (not from signal handlers, not from other threads).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "mtd.h"

#define LOG_TEXT_MAX 2048 /* longer messages are cut, ending in "..." */

static mtd_log_level g_level = MTD_LOG_INFO;
static int g_syslog = 0;

void mtd_log_setup(mtd_log_level level, int use_syslog)
{
    use_syslog = use_syslog != 0;
    if (use_syslog && !g_syslog)
        openlog("mtd", LOG_PID, LOG_DAEMON);
    else if (!use_syslog && g_syslog)
        closelog();
    g_syslog = use_syslog;
    g_level = level < MTD_LOG_ERROR ? MTD_LOG_ERROR : level > MTD_LOG_DEBUG ? MTD_LOG_DEBUG : level;
    tzset(); /* localtime_r need not look at TZ itself */
}

static const char *level_word(mtd_log_level level)
{
    switch (level) {
    case MTD_LOG_ERROR:
        return "error";
    case MTD_LOG_WARN:
        return "warn";
    case MTD_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

static int level_priority(mtd_log_level level)
{
    switch (level) {
    case MTD_LOG_ERROR:
        return LOG_ERR;
    case MTD_LOG_WARN:
        return LOG_WARNING;
    case MTD_LOG_INFO:
        return LOG_INFO;
    default:
        return LOG_DEBUG;
    }
}

/* Messages carry names from the network (torrent names, feed titles):
 * control characters become '?' so no one can forge or split log lines. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = *s == '\t' ? ' ' : '?';
}

void mtd_log(mtd_log_level level, const char *fmt, ...)
{
    char text[LOG_TEXT_MAX], line[LOG_TEXT_MAX + 64], stamp[32];
    int saved = errno, n;
    va_list ap;
    struct tm tm;
    time_t now;

    if (level > g_level)
        return;
    va_start(ap, fmt);
    n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(text, sizeof text, "(unformattable message: %s)", fmt);
    else if ((size_t)n >= sizeof text)
        memcpy(text + sizeof text - 4, "...", 4);
    sanitize(text);

    if (g_syslog) {
        syslog(level_priority(level), "%s", text);
    } else {
        now = time(NULL);
        if (!localtime_r(&now, &tm) || !strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm))
            snprintf(stamp, sizeof stamp, "%lld", (long long)now);
        /* One fputs per line: stderr is unbuffered, so this is one write. */
        snprintf(line, sizeof line, "%s %s: %s\n", stamp, level_word(level), text);
        fputs(line, stderr);
    }
    errno = saved; /* callers may log and then report errno */
}
