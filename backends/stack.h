/*
 * stack.h - the only place that knows the order of store layers. Builds
 * the stack for a SOURCE from the config and unwinds what it built on
 * failure:
 *
 *     local:/DIR   ->  codec -> local(DIR)
 *     swift:NAME   ->  codec -> retry -> swift([swift:NAME])   (issue 3)
 */
#ifndef BACKENDS_STACK_H
#define BACKENDS_STACK_H

#include "../conf/conf.h"
#include "store.h"

/*
 * Builds the stack for @c->source, reading the key files named in @c.
 * Returns 0; -EINVAL (bad source, with a log line); -EACCES/-ENOENT (key
 * file); other -errno of the layers. On success caller destroys *@out.
 */
int stack_build(const struct conf *c, struct store **out);

#endif /* BACKENDS_STACK_H */
