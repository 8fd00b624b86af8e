/* fileio.h — every file the engine reads comes through here. A path from a
 * user or from a file (a shard named by an index) may name a FIFO, a device or
 * a directory: such a file is refused before anything is read from it, since
 * open() itself blocks on a FIFO and a read from /dev/zero never ends. */
#ifndef MLLM_FILEIO_H
#define MLLM_FILEIO_H

#include "mobilellm.h"

#include <stdbool.h>
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

/* Whether path names an entry of any kind: a FIFO or a directory where a
 * file belongs is then opened and refused by name, not passed over as if it
 * were missing. */
bool mllm_path_exists(const char *path);
/* dir/name into out (MLLM_MAX_PATH bytes); false when it does not fit. */
bool mllm_path_join(char *out, const char *dir, const char *name);
/* mllm_path_join for a file of the caller's directory: too long a directory
 * is the caller's argument (MLLM_ERR_ARG, naming MLLM_MAX_PATH). */
mllm_status mllm_path_join_dir(char *out, const char *dir, const char *name, char *err, size_t errlen);

#endif
