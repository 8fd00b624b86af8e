/* fileio.c — opening and reading files that come from outside (fileio.h). */
#define _POSIX_C_SOURCE 200809L
#include "fileio.h"
#include "base/status.h"
#include "base/alloc.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

mllm_status mllm_open_regular(const char *path, int *fd, size_t *size, char *err, size_t errlen)
{
    *fd = -1;
    *size = 0;
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f < 0) return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: not a regular file (%s)", path,
                         S_ISDIR(sb.st_mode)    ? "a directory"
                         : S_ISFIFO(sb.st_mode) ? "a FIFO"
                         : S_ISCHR(sb.st_mode)  ? "a character device"
                         : S_ISBLK(sb.st_mode)  ? "a block device"
                         : S_ISSOCK(sb.st_mode) ? "a socket"
                                                : "not a file");
    }
    int flags = fcntl(f, F_GETFL);
    if (flags < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(f);
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: %s", path, strerror(e));
    }
    *fd = f;
    *size = (size_t)sb.st_size;
    return MLLM_OK;
}

mllm_status mllm_read_file(const char *path, size_t limit, const char *limit_name, char **buf, size_t *len,
                           char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    int fd;
    size_t size;
    mllm_status st = mllm_open_regular(path, &fd, &size, err, errlen);
    if (st) return st;
    if (size > limit) {
        close(fd);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: %zu bytes, larger than the limit of %zu bytes (%s)", path,
                         size, limit, limit_name);
    }
    /* The file may change under us: read at most limit + 1 bytes into a buffer
     * that grows from the size fstat gave. */
    size_t cap = size + 1, n = 0;
    char *b = mllm_malloc(cap + 1);
    if (!b) {
        close(fd);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, cap + 1);
    }
    for (;;) {
        if (n == cap) {
            if (n > limit) break;
            size_t ncap = cap * 2 < limit + 1 ? cap * 2 : limit + 1;
            char *nb = mllm_realloc(b, ncap + 1);
            if (!nb) {
                mllm_free(b);
                close(fd);
                return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, ncap + 1);
            }
            b = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            mllm_free(b);
            close(fd);
            return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: read error: %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n > limit) {
        mllm_free(b);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: larger than the limit of %zu bytes (%s)", path, limit,
                         limit_name);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return MLLM_OK;
}

/* Whether dir has an entry of that name, of any kind: a FIFO or a directory
 * where a file belongs is then opened and refused by name (fileio.c), not
 * passed over as if it were missing. */
bool mllm_path_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* dir/name into out (MLLM_MAX_PATH bytes); false when it does not fit. */
bool mllm_path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, MLLM_MAX_PATH, "%s/%s", dir, name);
    return n >= 0 && n < MLLM_MAX_PATH;
}

/* join for a file of the caller's directory: too long a directory is the
 * caller's argument. */
mllm_status mllm_path_join_dir(char *out, const char *dir, const char *name, char *err, size_t errlen)
{
    if (mllm_path_join(out, dir, name)) return MLLM_OK;
    return mllm_fail(err, errlen, MLLM_ERR_ARG, "%s: path too long: %s in it passes MLLM_MAX_PATH (%d bytes)", dir,
                     name, MLLM_MAX_PATH);
}
