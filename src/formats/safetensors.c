/* safetensors.c — header parsing (cJSON) and memory mapping. */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"
#include "base/fileio.h"
#include "base/status.h"
#include "kernels/dtype.h"
#include "kernels/kernels.h"
#include "text/utf8.h"
#include "base/alloc.h"
#include "base/json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

size_t st_dtype_size(mllm_dtype t)
{
    switch (t) {
    case MLLM_F32: return 4;
    case MLLM_F16:
    case MLLM_BF16: return 2;
    case MLLM_Q8_0: return sizeof(block_q8);
    case MLLM_Q4_0: return sizeof(block_q4);
    }
    return 0;
}

static bool is_blocked(mllm_dtype t)
{
    return t == MLLM_Q8_0 || t == MLLM_Q4_0;
}

size_t st_nbytes(mllm_dtype t, size_t count)
{
    size_t units = count, size = st_dtype_size(t);
    if (is_blocked(t)) {
        if (count % MLLM_QK) return SIZE_MAX;
        units = count / MLLM_QK;
    }
    return units > SIZE_MAX / size ? SIZE_MAX : units * size;
}

static int is_known_other_dtype(const char *s)
{
    static const char *const names[] = { "F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32",
                                         "U64", "BOOL", "F8_E4M3", "F8_E5M2", NULL };
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) return 1;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct { size_t begin, end, index; } span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static void free_tensors(st_file *f)
{
    for (size_t i = 0; i < f->n_tensors; i++) mllm_free(f->tensors[i].name);
    mllm_free(f->tensors);
    f->tensors = NULL;
    f->n_tensors = 0;
}

/* Offset of the first byte that JSON forbids but cJSON lets through, or n:
 * a raw control character (cJSON skips them as whitespace and keeps them in
 * strings) or a "\u0000" escape (which would cut a tensor name short). */
static size_t json_strict_check(const char *s, size_t n)
{
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && (in_string || (c != '\t' && c != '\n' && c != '\r'))) return i;
        if (c == '"') {
            in_string = !in_string;
        } else if (in_string && c == '\\') {
            if (i + 5 < n && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) return i;
            i++;  /* the escaped character cannot end the string */
        }
    }
    return n;
}

mllm_status st_parse_header(const char *header, size_t header_len, const char *data_base,
                            size_t data_size, const char *path, st_file *f,
                            char *err, size_t errlen)
{
    size_t bad = mllm_utf8_check(header, header_len);
    if (bad != header_len)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                         "%s: safetensors header is not valid UTF-8 (byte %zu)", path, bad);
    const char *end = NULL;
    bool nomem;
    cJSON *root = mllm_json_parse(header, header_len, &end, &nomem);
    if (nomem) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory reading the safetensors header", path);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                         "%s: safetensors header is not a JSON object", path);
    }
    size_t json_len = end && end >= header && end <= header + header_len ? (size_t)(end - header) : header_len;
    if ((bad = json_strict_check(header, json_len)) != json_len) {
        cJSON_Delete(root);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                         "%s: safetensors header has a control character or \\u0000 at byte %zu", path, bad);
    }
    /* trailing bytes may only be the padding spaces */
    for (const char *p = end; p && p < header + header_len; p++)
        if (*p != ' ' && *p != '\0' && *p != '\n' && *p != '\t' && *p != '\r') {
            cJSON_Delete(root);
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                             "%s: safetensors header has trailing bytes after the JSON", path);
        }

    size_t n = 0;
    for (cJSON *it = root->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__") != 0) n++;
    mllm_status st = MLLM_OK;
    span *spans = NULL;
    f->tensors = n ? mllm_calloc(n, sizeof *f->tensors) : NULL;
    spans = n ? mllm_calloc(n, sizeof *spans) : NULL;
    if (n && (!f->tensors || !spans)) {
        st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t k = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        const char *name = it->string;
        if (strcmp(name, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: __metadata__ is not an object", path);
                goto done;
            }
            continue;
        }
        st_tensor *t = &f->tensors[k];
        t->name = mllm_strdup(name);
        f->n_tensors = ++k;
        if (!t->name) { st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", path); goto done; }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs)) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: tensor '%s' needs dtype, shape and data_offsets", path, name);
            goto done;
        }
        if (!mllm_dtype_from_tag(dt->valuestring, &t->dtype, &t->rows8)) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           is_known_other_dtype(dt->valuestring)
                               ? "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported"
                               : "%s: tensor '%s' has unknown dtype '%s'",
                           path, name, dt->valuestring);
            goto done;
        }
        int nd = cJSON_GetArraySize(shape);
        if (nd > ST_MAX_DIMS) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (limit %d)",
                           path, name, nd, ST_MAX_DIMS);
            goto done;
        }
        size_t count = 1;
        int d = 0;
        for (cJSON *e = shape->child; e; e = e->next, d++) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 9007199254740992.0 ||
                e->valuedouble != (double)(int64_t)e->valuedouble) {
                st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                               "%s: tensor '%s' has a shape entry that is not a non-negative integer",
                               path, name);
                goto done;
            }
            t->shape[d] = (int64_t)e->valuedouble;
            if (t->shape[d] != 0 && count > SIZE_MAX / (size_t)t->shape[d]) {
                st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: tensor '%s' shape overflows", path, name);
                goto done;
            }
            count *= (size_t)t->shape[d];
        }
        t->ndim = nd;
        cJSON *b = cJSON_GetArrayItem(offs, 0), *e = cJSON_GetArrayItem(offs, 1);
        if (cJSON_GetArraySize(offs) != 2 || !cJSON_IsNumber(b) || !cJSON_IsNumber(e) ||
            b->valuedouble < 0 || e->valuedouble < b->valuedouble ||
            e->valuedouble > (double)data_size ||
            b->valuedouble != (double)(size_t)b->valuedouble ||
            e->valuedouble != (double)(size_t)e->valuedouble) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: tensor '%s' has data_offsets outside the data area (%zu bytes)",
                           path, name, data_size);
            goto done;
        }
        size_t begin = (size_t)b->valuedouble, stop = (size_t)e->valuedouble;
        if (is_blocked(t->dtype) && (nd == 0 || t->shape[nd - 1] % MLLM_QK != 0)) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: tensor '%s' has dtype %s but its rows are not whole blocks of %d", path, name,
                           dt->valuestring, MLLM_QK);
            goto done;
        }
        if (t->rows8 && (nd != 2 || t->shape[0] % MLLM_ROWS8 != 0)) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: tensor '%s' has dtype %s, which needs a matrix of whole groups of %d rows",
                           path, name, dt->valuestring, MLLM_ROWS8);
            goto done;
        }
        size_t need = st_nbytes(t->dtype, count);
        if (need != stop - begin) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: tensor '%s' has %zu bytes of data but its shape and dtype need %zu",
                           path, name, stop - begin, need);
            goto done;
        }
        t->data = data_base + begin;
        t->nbytes = stop - begin;
        spans[k - 1] = (span){ begin, stop, k - 1 };
    }
    /* no name twice (cJSON keeps duplicate keys): check on a sorted copy of the names */
    {
        const char **names = n ? mllm_malloc(n * sizeof *names) : NULL;
        if (n && !names) { st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", path); goto done; }
        for (size_t i = 0; i < n; i++) names[i] = f->tensors[i].name;
        if (n > 1) qsort(names, n, sizeof *names, cmp_str);  /* qsort(NULL, 0) is undefined */
        for (size_t i = 1; i < n; i++)
            if (strcmp(names[i - 1], names[i]) == 0) {
                st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: tensor '%s' appears twice", path, names[i]);
                break;
            }
        mllm_free(names);
        if (st) goto done;
    }
    /* contiguous and non-overlapping, covering the data area from 0 */
    if (n > 1) qsort(spans, n, sizeof *spans, cmp_span);
    size_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].begin != expect) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           spans[i].begin < expect
                               ? "%s: tensor '%s' overlaps another tensor's data"
                               : "%s: tensor '%s' leaves a gap in the data area",
                           path, f->tensors[spans[i].index].name);
            goto done;
        }
        expect = spans[i].end;
    }
    if (expect != data_size) {
        st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                       "%s: tensors cover %zu bytes but the data area has %zu", path, expect, data_size);
        goto done;
    }
    if (n > 1) qsort(f->tensors, n, sizeof *f->tensors, cmp_name);
done:
    mllm_free(spans);
    cJSON_Delete(root);
    if (st != MLLM_OK) free_tensors(f);
    return st;
}

mllm_status st_map(const char *path, size_t min_size, const char *too_small, st_file *f, char *err,
                   size_t errlen)
{
    memset(f, 0, sizeof *f);
    int fd;
    size_t size;
    mllm_status st = mllm_open_regular(path, &fd, &size, err, errlen);
    if (st) return st;
    if (size < min_size) {
        close(fd);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: file is truncated (%zu bytes, %s)", path, size,
                         too_small);
    }
    /* the fault build fails a mapping as the kernel does when it has no room (ENOMEM) */
    void *map = mllm_fault_hit() ? (errno = ENOMEM, MAP_FAILED) : mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return mllm_fail(err, errlen, e == ENOMEM ? MLLM_ERR_NOMEM : MLLM_ERR_IO, "%s: mmap failed: %s", path,
                         strerror(e));
    f->map = map;
    f->size = size;
    f->path = mllm_strdup(path);
    if (!f->path) {
        st_close(f);
        return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", path);
    }
    return MLLM_OK;
}

mllm_status st_open(const char *path, st_file *f, char *err, size_t errlen)
{
    mllm_status st = st_map(path, 8, "a safetensors file needs at least 8", f, err, errlen);
    if (st) return st;
    size_t size = f->size;
    const unsigned char *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > MLLM_MAX_HEADER) {
        st_close(f);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: header length %llu exceeds the limit of %u bytes",
                         path, (unsigned long long)hlen, (unsigned)MLLM_MAX_HEADER);
    }
    if (hlen > size - 8) {
        st_close(f);
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                         "%s: file is truncated (header of %llu bytes, file of %zu)", path,
                         (unsigned long long)hlen, size);
    }
    const char *header = (const char *)p + 8;
    st = st_parse_header(header, (size_t)hlen, header + hlen, size - 8 - (size_t)hlen, path, f, err, errlen);
    if (st != MLLM_OK) st_close(f);
    return st;
}

void st_close(st_file *f)
{
    if (!f) return;
    free_tensors(f);
    if (f->map) munmap(f->map, f->size);
    mllm_free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    st_tensor key = { .name = (char *)name };
    return f->n_tensors ? bsearch(&key, f->tensors, f->n_tensors, sizeof key, cmp_name) : NULL;
}
