/* checkpoint.c — a checkpoint directory's weight files: model.safetensors,
 * pytorch_model.bin, or the shards an index names, each mapped (checkpoint.h). */
#include "checkpoint.h"
#include "base/fileio.h"
#include "base/status.h"
#include "torch_bin.h"
#include "base/alloc.h"
#include "base/json.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* How one checkpoint file is mapped: st_open (safetensors) or torch_open
 * (pytorch_model.bin); both give an st_file. */
typedef mllm_status (*open_fn)(const char *path, st_file *f, char *err, size_t errlen);

static mllm_status add_file(st_file **files, size_t *n, open_fn open_file, const char *path, char *err,
                            size_t errlen)
{
    st_file *nf = mllm_realloc(*files, (*n + 1) * sizeof *nf);
    if (!nf) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "out of memory");
    *files = nf;
    mllm_status st = open_file(path, &nf[*n], err, errlen);
    if (st == MLLM_OK) (*n)++;
    return st;
}

/* A shard name from the index must stay inside the checkpoint directory. */
static bool safe_shard_name(const char *s)
{
    return s[0] && s[0] != '/' && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

/* Opens the shards an index's "weight_map" names (the same format for
 * safetensors and pytorch_model.bin shards). */
static mllm_status open_sharded(st_file **files, size_t *n, open_fn open_file, const char *dir,
                                const char *index_path, char *err, size_t errlen)
{
    char *buf;
    size_t got;
    mllm_status rst = mllm_read_file(index_path, MLLM_MAX_INDEX_BYTES, "MLLM_MAX_INDEX_BYTES", &buf, &got, err,
                                     errlen);
    if (rst) return rst;
    bool nomem;
    cJSON *root = mllm_json_parse(buf, got, NULL, &nomem);
    mllm_free(buf);
    if (nomem) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory reading the JSON", index_path);
    cJSON *map = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
    }
    mllm_status st = MLLM_OK;
    for (cJSON *it = map->child; it && st == MLLM_OK; it = it->next) {
        if (!cJSON_IsString(it)) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: weight_map entry '%s' is not a file name",
                           index_path, it->string);
            break;
        }
        const char *shard = it->valuestring;
        if (!safe_shard_name(shard)) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: shard '%s' points outside the checkpoint directory", index_path, shard);
            break;
        }
        bool seen = false;
        for (cJSON *prev = map->child; prev != it; prev = prev->next)
            if (strcmp(prev->valuestring, shard) == 0) { seen = true; break; }
        if (seen) continue;
        char path[MLLM_MAX_PATH];
        if (!mllm_path_join(path, dir, shard)) {  /* bad input from a file, not the caller's argument */
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: shard name '%.40s...' (%zu bytes) is too long: its path passes MLLM_MAX_PATH (%d bytes)",
                           index_path, shard, strlen(shard), MLLM_MAX_PATH);
            break;
        }
        st = add_file(files, n, open_file, path, err, errlen);
    }
    cJSON_Delete(root);
    if (st == MLLM_OK && *n == 0)
        st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: weight_map names no shard", index_path);
    return st;
}

void mllm_checkpoint_close(st_file *files, size_t n_files)
{
    for (size_t i = 0; i < n_files; i++) st_close(&files[i]);
    mllm_free(files);
}

mllm_status mllm_checkpoint_open(const char *dir, st_file **files, size_t *n_files, char *err,
                                 size_t errlen)
{
    static const struct { const char *name; bool index; open_fn open_file; } kinds[] = {
        { "model.safetensors", false, st_open },
        { "model.safetensors.index.json", true, st_open },
        { "pytorch_model.bin", false, torch_open },
        { "pytorch_model.bin.index.json", true, torch_open },
    };
    *files = NULL;
    *n_files = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char path[MLLM_MAX_PATH];
        mllm_status st = mllm_path_join_dir(path, dir, kinds[i].name, err, errlen);
        if (st) return st;
        if (!mllm_path_exists(path)) continue;
        st = kinds[i].index ? open_sharded(files, n_files, kinds[i].open_file, dir, path, err, errlen)
                            : add_file(files, n_files, kinds[i].open_file, path, err, errlen);
        if (st) {
            mllm_checkpoint_close(*files, *n_files);
            *files = NULL;
            *n_files = 0;
        }
        return st;
    }
    return mllm_fail(err, errlen, MLLM_ERR_IO,
                     "%s: no model.safetensors or model.safetensors.index.json, nor pytorch_model.bin or "
                     "pytorch_model.bin.index.json", dir);
}
