/* atomic_file.h — a file replaced whole or not at all. Every file the engine
 * writes (model:save, s:save, convert) is written to a temporary file beside
 * its destination, synced, and renamed over it: a failed or interrupted write
 * leaves the old file as it was (at worst a stray "<name>.tmp-<pid>-<n>" next
 * to it after a kill), and saving over a file whose pages are mapped (a loaded
 * model's own checkpoint) leaves the mapping on the old inode instead of
 * truncating it under the reader. */
#ifndef MLLM_ATOMIC_FILE_H
#define MLLM_ATOMIC_FILE_H

#include "mobilellm.h"

#include <stdio.h>

typedef struct mllm_atomic_file {
    FILE *fp;                     /* the temporary file, open for writing; NULL once closed */
    char path[MLLM_MAX_PATH];     /* the destination (a symlink's target: the link stays) */
    char tmp[MLLM_MAX_PATH + 48]; /* path.tmp-<pid>-<n>; "" once renamed or removed */
} mllm_atomic_file;

/* Creates the temporary file for path, with the mode of the file it replaces
 * (or 0666 less the umask). The destination must be absent or a regular file.
 * MLLM_ERR_IO names path ("cannot open for writing: ..." when the directory
 * is missing or not writable); MLLM_ERR_ARG for a path over MLLM_MAX_PATH. */
mllm_status mllm_atomic_open(mllm_atomic_file *f, const char *path, char *err, size_t errlen);

/* Flushes, syncs and closes the temporary file, renames it to the destination
 * and syncs the directory. On failure the temporary file is removed and the
 * destination is untouched (MLLM_ERR_IO naming it). */
mllm_status mllm_atomic_commit(mllm_atomic_file *f, char *err, size_t errlen);

/* Closes and removes the temporary file: after any failure or a cancel. Safe
 * to call twice or after a commit. */
void mllm_atomic_discard(mllm_atomic_file *f);

#endif
