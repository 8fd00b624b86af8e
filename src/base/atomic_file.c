/* atomic_file.c — write beside, sync, rename over (atomic_file.h). */
#define _XOPEN_SOURCE 700  /* realpath */
#include "atomic_file.h"
#include "base/status.h"
#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tells apart the temporary files of saves running at once in one process. */
static unsigned long tmp_counter;

/* The file to replace: path itself, or the file a symlink at path points to,
 * so that saving through a link updates its target as a plain write did. */
static mllm_status destination(mllm_atomic_file *f, const char *path, char *err, size_t errlen)
{
    struct stat sb;
    char *target = NULL;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) target = realpath(path, NULL);  /* NULL: dangling */
    const char *dest = target ? target : path;
    size_t n = strlen(dest);
    if (n >= sizeof f->path) {
        mllm_free(target);
        return mllm_fail(err, errlen, MLLM_ERR_ARG, "%s: path longer than %d bytes (MLLM_MAX_PATH)", path,
                         MLLM_MAX_PATH);
    }
    memcpy(f->path, dest, n + 1);
    mllm_free(target);
    return MLLM_OK;
}

mllm_status mllm_atomic_open(mllm_atomic_file *f, const char *path, char *err, size_t errlen)
{
    f->fp = NULL;
    f->tmp[0] = '\0';
    mllm_status st = destination(f, path, err, errlen);
    if (st) return st;
    struct stat sb;
    mode_t mode = 0666;
    if (stat(f->path, &sb) == 0) {
        /* refused before anything is written: rename would fail on a directory
           only at the end, and a FIFO or device is nothing to replace */
        if (!S_ISREG(sb.st_mode))
            return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: cannot write: not a regular file%s", path,
                             S_ISDIR(sb.st_mode) ? " (a directory)" : "");
        mode = sb.st_mode & 07777;
    }
    int fd = -1;
    for (int attempt = 0; fd < 0; attempt++) {
        unsigned long n = __atomic_fetch_add(&tmp_counter, 1, __ATOMIC_RELAXED);
        snprintf(f->tmp, sizeof f->tmp, "%s.tmp-%ld-%lu", f->path, (long)getpid(), n);
        fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && (errno != EEXIST || attempt == 100)) {  /* EEXIST: a leftover of a killed process */
            int e = errno;
            f->tmp[0] = '\0';
            return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: cannot open for writing: %s", path, strerror(e));
        }
    }
    /* the old file's permissions (a private session stays private); as
       open() made it otherwise */
    if (mode != 0666 && fchmod(fd, mode) != 0) {
        int e = errno;
        close(fd);
        mllm_atomic_discard(f);
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: cannot open for writing: %s", path, strerror(e));
    }
    if (!(f->fp = fdopen(fd, "wb"))) {
        close(fd);
        mllm_atomic_discard(f);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", path);
    }
    return MLLM_OK;
}

/* Makes the rename itself durable; a file system that cannot sync a
 * directory still has the new file in place, so errors are ignored. */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[MLLM_MAX_PATH];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

mllm_status mllm_atomic_commit(mllm_atomic_file *f, char *err, size_t errlen)
{
    bool ok = fflush(f->fp) == 0 && fsync(fileno(f->fp)) == 0;
    int e = errno;
    if (fclose(f->fp) != 0 && ok) {
        ok = false;
        e = errno;
    }
    f->fp = NULL;
    if (!ok) {
        mllm_atomic_discard(f);
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: write failed: %s", f->path, strerror(e));
    }
    if (rename(f->tmp, f->path) != 0) {
        e = errno;
        mllm_atomic_discard(f);
        return mllm_fail(err, errlen, MLLM_ERR_IO, "%s: cannot replace: %s", f->path, strerror(e));
    }
    f->tmp[0] = '\0';
    sync_parent(f->path);
    return MLLM_OK;
}

void mllm_atomic_discard(mllm_atomic_file *f)
{
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    if (f->tmp[0]) unlink(f->tmp);
    f->tmp[0] = '\0';
}
