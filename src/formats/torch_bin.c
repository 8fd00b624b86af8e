/* torch_bin.c — pytorch_model.bin: a zip archive written by torch.save.
 *
 *   <prefix>/data.pkl       the state dict, pickled (read by unpickle.c)
 *   <prefix>/data/<key>     one storage each: raw little-endian elements
 *   <prefix>/version        the format version, e.g. "3\n"
 *   <prefix>/byteorder      "little" (newer torch only)
 *
 * The prefix is the archive's name (torch uses the file's base name, so
 * "pytorch_model/", or "archive/"): like torch's reader we take it from the
 * first record.
 *
 * Why our own zip reader and not libzip: tensor data must stay in the memory
 * map, so we need each record's data offset in the file, and libzip's public
 * API has no call that returns it (it reads through zip_fread into buffers).
 * torch.save writes only *stored* records (no compression), so all a reader
 * needs is the end-of-central-directory record (ZIP64 when present, which
 * torch always writes), the central directory and each local header's
 * length — about 200 lines, every field bounds-checked below, with no
 * decompressor to trust. A compressed or encrypted record is refused.
 *
 * Every record's data must lie before the central directory; names are
 * compared byte for byte and no name may appear twice. CRC-32 is checked on
 * data.pkl and the small records; storages are not checksummed (that would
 * read every page of a mapping that is meant to be lazy), as with
 * safetensors, whose format has no checksum at all. */
#define _POSIX_C_SOURCE 200809L
#include "torch_bin.h"
#include "base/status.h"
#include "unpickle.h"
#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIG_LOCAL      0x04034b50u
#define SIG_CENTRAL    0x02014b50u
#define SIG_EOCD       0x06054b50u
#define SIG_EOCD64     0x06064b50u
#define SIG_EOCD64_LOC 0x07064b50u
#define EOCD_LEN 22
#define EOCD64_LEN 56
#define LOC64_LEN 20
#define CENTRAL_LEN 46
#define LOCAL_LEN 30

typedef struct zip_entry {
    const char *name;   /* inside the mapping, not NUL-terminated */
    size_t name_len;
    uint64_t data;      /* offset of the first data byte in the file */
    uint64_t size;
    uint32_t crc;
} zip_entry;

typedef struct zip_archive {
    zip_entry *e;       /* sorted by name */
    size_t n;
    const char *first;  /* name of the first record in the central directory */
    size_t first_len;
} zip_archive;

static uint64_t rd(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* CRC-32 (IEEE, as zip uses), four bits at a time. */
static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
        0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
        0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
    };
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        c = (c >> 4) ^ t[c & 15];
        c = (c >> 4) ^ t[c & 15];
    }
    return c ^ 0xffffffffu;
}

/* Copies an untrusted name for a message. */
static const char *shown(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0, i = 0;
    for (; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (i < len) memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
    return out;
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al < bl ? -1 : al > bl ? 1 : 0);
}

static int cmp_entry(const void *x, const void *y)
{
    const zip_entry *a = x, *b = y;
    return name_cmp(a->name, a->name_len, b->name, b->name_len);
}

static const zip_entry *zip_find(const zip_archive *z, const char *name, size_t len)
{
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(name, len, z->e[mid].name, z->e[mid].name_len);
        if (c == 0) return &z->e[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* The end of central directory: the last EOCD signature whose comment ends
 * exactly at the end of the file; then the ZIP64 record if its locator is
 * there. Fills the central directory's place and record count. */
static mllm_status find_directory(const unsigned char *b, size_t size, const char *path, uint64_t *cd_off,
                                  uint64_t *cd_size, uint64_t *count, uint64_t *cd_end_limit, char *err,
                                  size_t errlen)
{
    if (size < EOCD_LEN)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: not a zip archive (%zu bytes; truncated?)", path, size);
    size_t pos = size - EOCD_LEN, lowest = size - EOCD_LEN > 65535 ? size - EOCD_LEN - 65535 : 0;
    for (;; pos--) {
        if (rd(b + pos, 4) == SIG_EOCD && rd(b + pos + 20, 2) == size - pos - EOCD_LEN) break;
        if (pos == lowest) {
            if (size >= 2 && b[0] == 0x80 && b[1] == 0x02)
                return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                                 "%s: a legacy (pre-zip) torch.save file; re-save it with torch >= 1.6 or "
                                 "convert it to safetensors", path);
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                             "%s: not a zip archive, or truncated (no end of central directory record)", path);
        }
    }
    const unsigned char *e = b + pos;
    uint64_t disk = rd(e + 4, 2), cd_disk = rd(e + 6, 2), n_disk = rd(e + 8, 2), n = rd(e + 10, 2);
    uint64_t csz = rd(e + 12, 4), coff = rd(e + 16, 4);
    *cd_end_limit = pos;
    if (pos >= LOC64_LEN && rd(b + pos - LOC64_LEN, 4) == SIG_EOCD64_LOC) {
        const unsigned char *loc = b + pos - LOC64_LEN;
        uint64_t off64 = rd(loc + 8, 8);
        if (rd(loc + 4, 4) != 0 || off64 > pos - LOC64_LEN || pos - LOC64_LEN - off64 < EOCD64_LEN ||
            rd(b + off64, 4) != SIG_EOCD64)
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: bad ZIP64 end of central directory locator",
                             path);
        const unsigned char *z = b + off64;
        uint64_t disk64 = rd(z + 16, 4), cd_disk64 = rd(z + 20, 4), n_disk64 = rd(z + 24, 8), n64 = rd(z + 32, 8);
        uint64_t csz64 = rd(z + 40, 8), coff64 = rd(z + 48, 8);
        /* classic fields that are not saturated must agree with the ZIP64 ones */
        if ((disk != 0xffff && disk != disk64) || (cd_disk != 0xffff && cd_disk != cd_disk64) ||
            (n_disk != 0xffff && n_disk != n_disk64) || (n != 0xffff && n != n64) ||
            (csz != 0xffffffffu && csz != csz64) || (coff != 0xffffffffu && coff != coff64))
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                             "%s: zip: the ZIP64 and classic end of central directory records disagree", path);
        disk = disk64, cd_disk = cd_disk64, n_disk = n_disk64, n = n64, csz = csz64, coff = coff64;
        *cd_end_limit = off64;
    }
    if (disk != 0 || cd_disk != 0 || n_disk != n)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: multi-disk archives are not supported", path);
    if (coff > *cd_end_limit || csz > *cd_end_limit - coff)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                         "%s: zip: the central directory lies outside the file (truncated?)", path);
    if (n > MLLM_MAX_ZIP_ENTRIES)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: %llu records exceed the limit of %u (MLLM_MAX_ZIP_ENTRIES)",
                         path, (unsigned long long)n, (unsigned)MLLM_MAX_ZIP_ENTRIES);
    if (n * CENTRAL_LEN > csz)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                         "%s: zip: %llu records do not fit a central directory of %llu bytes", path,
                         (unsigned long long)n, (unsigned long long)csz);
    *cd_off = coff, *cd_size = csz, *count = n;
    return MLLM_OK;
}

/* Reads the ZIP64 extended information extra field: the values whose
 * classic field is saturated follow in this order. */
static bool zip64_extra(const unsigned char *x, size_t len, uint64_t *usize, uint64_t *csize, uint64_t *lho,
                        uint64_t *disk)
{
    while (len >= 4) {
        size_t id = (size_t)rd(x, 2), sz = (size_t)rd(x + 2, 2);
        if (sz > len - 4) return false;
        if (id == 1) {
            const unsigned char *p = x + 4;
            size_t left = sz;
            uint64_t *fields[3] = { usize, csize, lho };
            for (int i = 0; i < 3; i++)
                if (*fields[i] == 0xffffffffu) {
                    if (left < 8) return false;
                    *fields[i] = rd(p, 8), p += 8, left -= 8;
                }
            if (*disk == 0xffff) {
                if (left < 4) return false;
                *disk = rd(p, 4);
            }
            return true;
        }
        x += 4 + sz, len -= 4 + sz;
    }
    return true;
}

static mllm_status zip_read(const unsigned char *b, size_t size, const char *path, zip_archive *z, char *err,
                            size_t errlen)
{
    memset(z, 0, sizeof *z);
    uint64_t coff = 0, csz = 0, n = 0, data_limit = 0;
    mllm_status st = find_directory(b, size, path, &coff, &csz, &n, &data_limit, err, errlen);
    if (st) return st;
    data_limit = coff;  /* record data lies before the central directory */
    z->e = n ? mllm_calloc((size_t)n, sizeof *z->e) : NULL;
    if (n && !z->e) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", path);
    const unsigned char *p = b + coff, *end = b + coff + csz;
    char nm[128];
    for (uint64_t i = 0; i < n; i++) {
        if ((size_t)(end - p) < CENTRAL_LEN || rd(p, 4) != SIG_CENTRAL) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: central directory record %llu is corrupt",
                           path, (unsigned long long)i);
            goto fail;
        }
        uint64_t flags = rd(p + 8, 2), method = rd(p + 10, 2), crc = rd(p + 16, 4);
        uint64_t csize = rd(p + 20, 4), usize = rd(p + 24, 4), disk = rd(p + 34, 2), lho = rd(p + 42, 4);
        size_t nlen = (size_t)rd(p + 28, 2), xlen = (size_t)rd(p + 30, 2), clen = (size_t)rd(p + 32, 2);
        if ((size_t)(end - p) - CENTRAL_LEN < nlen + xlen + clen) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: central directory record %llu is corrupt",
                           path, (unsigned long long)i);
            goto fail;
        }
        const char *name = (const char *)p + CENTRAL_LEN;
        shown(nm, sizeof nm, name, nlen);
        if (!zip64_extra(p + CENTRAL_LEN + nlen, xlen, &usize, &csize, &lho, &disk)) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: record '%s' has a corrupt ZIP64 field", path, nm);
            goto fail;
        }
        p += CENTRAL_LEN + nlen + xlen + clen;
        if (flags & 1) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: record '%s' is encrypted", path, nm);
            goto fail;
        }
        if (method != 0) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: zip: record '%s' is compressed (method %llu%s); torch.save stores records "
                           "uncompressed, so tensors can be mapped from the file", path, nm,
                           (unsigned long long)method, method == 8 ? ", deflate" : "");
            goto fail;
        }
        if (csize != usize || disk != 0) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: record '%s' has inconsistent sizes", path, nm);
            goto fail;
        }
        /* the local header: its own name and extra field come before the data */
        if (lho > data_limit || data_limit - lho < LOCAL_LEN || rd(b + lho, 4) != SIG_LOCAL) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: record '%s' has no local header where the "
                           "central directory says", path, nm);
            goto fail;
        }
        const unsigned char *l = b + lho;
        uint64_t lnlen = rd(l + 26, 2), lxlen = rd(l + 28, 2), lmethod = rd(l + 8, 2);
        uint64_t data = lho + LOCAL_LEN + lnlen + lxlen;
        if (data > data_limit || usize > data_limit - data) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: zip: record '%s' (%llu bytes) runs past the end of its area (truncated?)", path, nm,
                           (unsigned long long)usize);
            goto fail;
        }
        if (lnlen != nlen || memcmp(l + LOCAL_LEN, name, nlen) != 0 || lmethod != method) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                           "%s: zip: record '%s': its local header disagrees with the central directory", path, nm);
            goto fail;
        }
        z->e[i] = (zip_entry){ name, nlen, data, usize, (uint32_t)crc };
        if (i == 0) z->first = name, z->first_len = nlen;
        z->n = (size_t)i + 1;
    }
    if (z->n) qsort(z->e, z->n, sizeof *z->e, cmp_entry);  /* qsort(NULL, 0) is undefined */
    for (size_t i = 1; i < z->n; i++)
        if (cmp_entry(&z->e[i - 1], &z->e[i]) == 0) {
            st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: record '%s' appears twice", path,
                           shown(nm, sizeof nm, z->e[i].name, z->e[i].name_len));
            goto fail;
        }
    return MLLM_OK;
fail:
    mllm_free(z->e);
    memset(z, 0, sizeof *z);
    return st;
}

/* ---------------------------------------------------------- the archive */

typedef struct torch_archive {
    const unsigned char *base;
    const char *path;
    zip_archive z;
    const char *prefix;   /* "archive/" ..., with its slash */
    size_t prefix_len;
    char pfx[96];         /* the prefix, printable, for messages */
    char *name;           /* scratch for prefix + record name */
    size_t name_cap;
} torch_archive;

/* The record <prefix><rel>, or NULL. */
static const zip_entry *record(torch_archive *a, const char *rel)
{
    size_t rl = strlen(rel);
    if (a->prefix_len + rl + 1 > a->name_cap) return NULL;
    memcpy(a->name, a->prefix, a->prefix_len);
    memcpy(a->name + a->prefix_len, rel, rl + 1);
    return zip_find(&a->z, a->name, a->prefix_len + rl);
}

static mllm_status check_crc(torch_archive *a, const zip_entry *e, char *err, size_t errlen)
{
    char nm[128];
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    return MLLM_OK;  /* let the fuzzer's mutations of data.pkl reach the unpickler */
#endif
    if (crc32_of(a->base + e->data, (size_t)e->size) != e->crc)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: zip: record '%s' fails its CRC-32 check (corrupt file)",
                         a->path, shown(nm, sizeof nm, e->name, e->name_len));
    return MLLM_OK;
}

static int cmp_tensor(const void *x, const void *y)
{
    return strcmp(((const st_tensor *)x)->name, ((const st_tensor *)y)->name);
}

static void free_tensors(st_file *f)
{
    for (size_t i = 0; i < f->n_tensors; i++) mllm_free(f->tensors[i].name);
    mllm_free(f->tensors);
    f->tensors = NULL;
    f->n_tensors = 0;
}

/* The small records: version (required, as torch requires it) and byteorder. */
static mllm_status check_records(torch_archive *a, char *err, size_t errlen)
{
    mllm_status st;
    const zip_entry *v = record(a, "version");
    if (!v) v = record(a, ".data/version");
    if (!v)
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: no record '%sversion': not a torch.save archive",
                         a->path, a->pfx);
    if ((st = check_crc(a, v, err, errlen))) return st;
    const char *s = (const char *)a->base + v->data;
    size_t n = (size_t)v->size, digits = 0;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9') digits++;
    if (digits == 0 || digits > 9 || (n - digits > 1) || (n > digits && s[digits] != '\n'))
        return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: the version record is not a number", a->path);
    const zip_entry *bo = record(a, "byteorder");
    if (bo) {
        if ((st = check_crc(a, bo, err, errlen))) return st;
        if (bo->size != 6 || memcmp(a->base + bo->data, "little", 6) != 0)
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                             "%s: the archive is not little-endian (byteorder record); only little-endian is supported",
                             a->path);
    }
    return MLLM_OK;
}

/* Resolves each pickled tensor to its storage record and fills f->tensors. */
static mllm_status resolve(torch_archive *a, const pk_state_dict *sd, st_file *f, char *err, size_t errlen)
{
    f->tensors = sd->n ? mllm_calloc(sd->n, sizeof *f->tensors) : NULL;
    if (sd->n && !f->tensors) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", a->path);
    char key[300], nm[128];
    for (size_t i = 0; i < sd->n; i++) {
        const pk_tensor *t = &sd->tensors[i];
        shown(nm, sizeof nm, t->name, strlen(t->name));
        snprintf(key, sizeof key, "data/%s", t->storage_key);  /* keys are at most 255 bytes */
        const zip_entry *e = record(a, key);
        if (!e)
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                             "%s: tensor '%s' uses storage '%s', but the archive has no record '%sdata/%s'", a->path,
                             nm, shown(key, sizeof key, t->storage_key, strlen(t->storage_key)), a->pfx, key);
        size_t es = st_dtype_size(t->dtype);
        if (t->storage_numel > SIZE_MAX / es || t->storage_numel * es != e->size)
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT,
                             "%s: tensor '%s': its storage record has %llu bytes but the pickle declares %llu "
                             "%s elements", a->path, nm, (unsigned long long)e->size,
                             (unsigned long long)t->storage_numel,
                             mllm_dtype_name(t->dtype));
        st_tensor *o = &f->tensors[i];
        f->n_tensors = i + 1;
        if (!(o->name = mllm_strdup(t->name))) return mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", a->path);
        o->dtype = t->dtype;
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];  /* fits: checked against the storage */
        o->data = a->base + e->data + t->offset * es;
        o->nbytes = numel * es;
    }
    if (f->n_tensors) qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_tensor);
    for (size_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: tensor '%s' appears twice", a->path,
                             shown(nm, sizeof nm, f->tensors[i].name, strlen(f->tensors[i].name)));
    return MLLM_OK;
}

mllm_status torch_parse(const unsigned char *base, size_t size, const char *path, st_file *f, char *err,
                        size_t errlen)
{
    f->tensors = NULL;
    f->n_tensors = 0;
    torch_archive a = { .base = base, .path = path };
    pk_state_dict sd = { 0 };
    char *what = NULL;
    mllm_status st = zip_read(base, size, path, &a.z, err, errlen);
    if (st) return st;
    const char *slash = a.z.n ? memchr(a.z.first, '/', a.z.first_len) : NULL;
    if (!slash) {
        st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: not a torch.save archive (%s)", path,
                       a.z.n ? "its first record is not in a folder" : "no records");
        goto done;
    }
    a.prefix = a.z.first;
    a.prefix_len = (size_t)(slash - a.z.first) + 1;
    shown(a.pfx, sizeof a.pfx, a.prefix, a.prefix_len);
    a.name_cap = a.prefix_len + 300;
    a.name = mllm_malloc(a.name_cap);
    what = mllm_malloc(strlen(path) + sizeof a.pfx + 16);
    if (!a.name || !what) {
        st = mllm_fail(err, errlen, MLLM_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    const zip_entry *pkl = record(&a, "data.pkl");
    if (!pkl) {
        st = mllm_fail(err, errlen, MLLM_ERR_FORMAT, "%s: no record '%sdata.pkl': not a torch.save archive",
                       path, a.pfx);
        goto done;
    }
    if ((st = check_records(&a, err, errlen)) || (st = check_crc(&a, pkl, err, errlen))) goto done;
    sprintf(what, "%s: %sdata.pkl", path, a.pfx);
    if ((st = pk_load_state_dict(base + pkl->data, (size_t)pkl->size, what, &sd, err, errlen))) goto done;
    st = resolve(&a, &sd, f, err, errlen);
done:
    if (st) free_tensors(f);
    pk_state_dict_free(&sd);
    mllm_free(what);
    mllm_free(a.name);
    mllm_free(a.z.e);
    return st;
}

mllm_status torch_open(const char *path, st_file *f, char *err, size_t errlen)
{
    mllm_status st = st_map(path, EOCD_LEN, "too short for a zip archive", f, err, errlen);
    if (st) return st;
    const void *map = f->map;
    size_t size = f->size;
    st = torch_parse(map, size, path, f, err, errlen);
    if (st) st_close(f);
    return st;
}
