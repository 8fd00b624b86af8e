/* fileio.h — every file the engine reads comes through here. A path from a
 * user or from a file (a shard named by an index) may name a FIFO, a device or
 * a directory: such a file is refused before anything is read from it, since
 * open() itself blocks on a FIFO and a read from /dev/zero never ends. */
#ifndef MLLM_FILEIO_H
#define MLLM_FILEIO_H

#include "mobilellm.h"

#include <stddef.h>

/* Opens path read-only as a regular file: O_NONBLOCK so that open() never waits
 * (it is cleared again once fstat shows a regular file), O_CLOEXEC. *fd is the
 * open descriptor and *size its size; MLLM_ERR_IO names the path otherwise. */
mllm_status mllm_open_regular(const char *path, int *fd, size_t *size, char *err, size_t errlen);

/* Reads the whole regular file at path into a malloc'd, NUL-terminated buffer
 * (*buf, *len without the NUL). A file larger than limit bytes is refused with
 * MLLM_ERR_FORMAT, naming limit_name (the limit's constant) and its value; the
 * file is also read no further than limit + 1 bytes, so a file that grows while
 * it is read cannot make the buffer grow without bound. */
mllm_status mllm_read_file(const char *path, size_t limit, const char *limit_name, char **buf, size_t *len,
                           char *err, size_t errlen);

#endif
