/*
 * log.h - the one logging entry point of trovefs.
 *
 * Every module logs through log_msg(); before daemonizing messages go to
 * stderr ("trovefs: error: ..."), once daemonized to syslog. Messages are
 * lowercase, say what failed first and quote the subject:
 *     log_error("cannot upload 'db/0012': HTTP 503 (tx8f3a)");
 * Log the detail where it is known and return the -errno upward; callers
 * log only to add context. Thread-safe.
 */
#ifndef CONF_LOG_H
#define CONF_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

/*
 * Where messages go and how much: @use_syslog false = stderr; @max_level is
 * a syslog level (LOG_DEBUG shows everything, LOG_ERR only errors).
 * May be called again (e.g. after daemonizing) to switch the sink.
 */
void log_init(const char *ident, bool use_syslog, int max_level);

/* Current threshold; log_debug() costs one compare when debug is off. */
extern int log_max_level;

void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_max_level >= LOG_DEBUG)                                \
			log_msg(LOG_DEBUG, __VA_ARGS__);                       \
	} while (0)

/*
 * For warnings a user can repeat at will (grep -r over control files
 * opens each of them): true if a line keyed @key may go now, false if
 * one went less than @interval_s ago. Remembers the last LOG_ONCE_KEYS
 * keys (an older key forgotten may log again). Thread-safe.
 */
#define LOG_ONCE_KEYS 32
bool log_once_per(const char *key, unsigned interval_s);

/*
 * Held lines, for an operation that reports its own failure in one line
 * (a backup whose server dies mid-way would otherwise log the client's
 * error, a warning and its own summary). Between log_defer_begin() and
 * log_defer_end() this thread's warnings and errors are held, not
 * written. log_defer_end(@failed true) copies the first held line into
 * @cause (NUL-terminated, "" if none), for the operation's one line, and
 * drops the rest (they go out at debug level); @failed false writes them
 * as they came, since a warning on a success still matters. Pairs nest;
 * only the outermost holds and releases. Lines of other threads are not
 * held.
 */
void log_defer_begin(void);
void log_defer_end(bool failed, char *cause, size_t size);
/*
 * log_defer_end() with @last: on failure the cause is the last line held
 * (an operation that logs its own verdict last, after the errors of the
 * calls it made: the verdict says more). Either way, a success writes a
 * line repeated right after itself once.
 */
void log_defer_end_as(bool failed, bool last, char *cause, size_t size);

/*
 * How many warnings and errors this thread has logged (or held) so far:
 * taken before and after a call, it tells whether the callee said why it
 * failed, so that the caller adds its own line only if not (one line per
 * failure).
 */
unsigned log_problems_here(void);

/*
 * Test hook: when set, every message is also passed to @fn (cmocka tests
 * assert that an error path logged exactly one line). NULL removes it.
 */
typedef void log_hook_fn(int level, const char *msg);
void log_set_hook(log_hook_fn *fn);

#endif /* CONF_LOG_H */
