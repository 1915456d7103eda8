/*
 * log.c - stderr or syslog sink behind log_msg().
 *
 * One static sink chosen by log_init(); a message is formatted once into a
 * stack buffer and written with a single write(2)/syslog(3) call so lines
 * from different threads never interleave. No locks: the sink is set
 * before threads start (main, then the FUSE init callback). The table of
 * log_once_per() has a lock of its own, held for no I/O.
 */
#include "log.h"
#include "hash.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_max_level = LOG_INFO;
static bool log_to_syslog;
static const char *log_ident = "trovefs";
static log_hook_fn *log_hook;

void log_init(const char *ident, bool use_syslog, int max_level)
{
	if (ident)
		log_ident = ident;
	if (log_to_syslog && !use_syslog)
		closelog();
	log_to_syslog = use_syslog;
	log_max_level = max_level;
	if (use_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_hook(log_hook_fn *fn)
{
	log_hook = fn;
}

/* log_once_per(): keys by hash, the least recently asked one replaced */
static struct {
	uint64_t hash;
	time_t at;    /* CLOCK_MONOTONIC seconds of its last line */
	uint64_t use; /* once_uses when last asked; 0 = free */
} once_keys[LOG_ONCE_KEYS];
static uint64_t once_uses;
static pthread_mutex_t once_lock = PTHREAD_MUTEX_INITIALIZER;

bool log_once_per(const char *key, unsigned interval_s)
{
	uint64_t h = fnv1a(key, strlen(key));
	struct timespec now;
	size_t oldest = 0;
	size_t i;
	bool pass = true;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&once_lock);
	once_uses++;
	for (i = 0; i < LOG_ONCE_KEYS; i++) {
		if (once_keys[i].use && once_keys[i].hash == h)
			break;
		if (once_keys[i].use < once_keys[oldest].use)
			oldest = i;
	}
	if (i < LOG_ONCE_KEYS) {
		pass = now.tv_sec - once_keys[i].at >= (time_t)interval_s;
		if (pass)
			once_keys[i].at = now.tv_sec;
		once_keys[i].use = once_uses;
	} else {
		once_keys[oldest].hash = h;
		once_keys[oldest].at = now.tv_sec;
		once_keys[oldest].use = once_uses;
	}
	pthread_mutex_unlock(&once_lock);
	return pass;
}

static const char *level_word(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* log_defer_begin(): what this thread holds */
#define LOG_HELD_MAX 4 /* the first lines; later ones are only counted */
static __thread struct {
	unsigned depth;
	unsigned n;	  /* lines held */
	unsigned dropped; /* lines past LOG_HELD_MAX */
	int level[LOG_HELD_MAX];
	char msg[LOG_HELD_MAX][1024]; /* as log_msg() formats it */
	char last[1024];	      /* the last line held, kept or not */
} held;

/* log_problems_here(): warnings and errors this thread logged or held */
static __thread unsigned problems;

static void log_write(int level, const char *msg);

unsigned log_problems_here(void)
{
	return problems;
}

void log_defer_begin(void)
{
	held.depth++;
}

void log_defer_end(bool failed, char *cause, size_t size)
{
	log_defer_end_as(failed, false, cause, size);
}

void log_defer_end_as(bool failed, bool last, char *cause, size_t size)
{
	unsigned i;

	if (size)
		cause[0] = '\0';
	if (held.depth == 0 || --held.depth > 0)
		return;
	if (failed && last && size && (held.n || held.dropped))
		snprintf(cause, size, "%s", held.last);
	for (i = 0; i < held.n; i++) {
		if (!failed) {
			/* one line said twice (two calls that failed alike) */
			if (i == 0 || strcmp(held.msg[i], held.msg[i - 1]))
				log_write(held.level[i], held.msg[i]);
		} else if (i == 0 && !last && size) {
			snprintf(cause, size, "%s", held.msg[0]);
		} else if (!last || strcmp(held.msg[i], cause)) {
			log_debug("also: %s", held.msg[i]);
		}
	}
	if (held.dropped)
		log_debug("%u more line(s) not shown", held.dropped);
	held.n = 0;
	held.dropped = 0;
}

void log_msg(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (level > log_max_level && !log_hook && !held.depth)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (level <= LOG_WARNING)
		problems++;
	if (held.depth && level <= LOG_WARNING) {
		memcpy(held.last, msg, sizeof(msg));
		if (held.n < LOG_HELD_MAX) {
			held.level[held.n] = level;
			memcpy(held.msg[held.n], msg, sizeof(msg));
			held.n++;
		} else {
			held.dropped++;
		}
		return;
	}
	log_write(level, msg);
}

static void log_write(int level, const char *msg)
{
	char line[1100];
	int n;

	if (log_hook)
		log_hook(level, msg);
	if (level > log_max_level)
		return;
	if (log_to_syslog) {
		syslog(level, "%s", msg);
		return;
	}
	n = snprintf(line, sizeof(line), "%s: %s: %s\n", log_ident,
		     level_word(level), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
