// tokenizer_sp.cpp — the project's only C++: a C shim over sentencepiece.
// Every entry point catches every exception, so no C++ unwinding ever reaches
// C (or a Lua longjmp); it never calls Lua.
#include "tokenizer.h"
#include "base/alloc.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct mllm_sp {
    sentencepiece::SentencePieceProcessor proc;
};

static void set_err(char *err, size_t errlen, const std::string &msg)
{
    if (err && errlen) std::snprintf(err, errlen, "%s", msg.c_str());
}

extern "C" mllm_status mllm_sp_load(const char *name, const void *data, size_t len, mllm_sp **out, char *err,
                            size_t errlen)
{
    *out = nullptr;
    try {
        // owned until it loads: sentencepiece may throw half-way (a malformed model)
        std::unique_ptr<mllm_sp> sp(new mllm_sp);
        auto status = sp->proc.LoadFromSerializedProto(
            absl::string_view(static_cast<const char *>(data), len));
        if (!status.ok()) {
            set_err(err, errlen, std::string(name) + ": cannot load tokenizer: " + status.ToString());
            return MLLM_ERR_TOKENIZER;
        }
        *out = sp.release();
        return MLLM_OK;
    } catch (const std::bad_alloc &) {
        set_err(err, errlen, std::string(name) + ": out of memory loading the tokenizer");
        return MLLM_ERR_NOMEM;
    } catch (const std::exception &e) {
        set_err(err, errlen, std::string(name) + ": cannot load tokenizer: " + e.what());
    } catch (...) {
        set_err(err, errlen, std::string(name) + ": cannot load tokenizer");
    }
    return MLLM_ERR_TOKENIZER;
}

extern "C" void mllm_sp_free(mllm_sp *sp)
{
    delete sp;
}

extern "C" int mllm_sp_vocab_size(const mllm_sp *sp)
{
    return sp->proc.GetPieceSize();
}

extern "C" int mllm_sp_bos(const mllm_sp *sp)
{
    return sp->proc.bos_id();
}

extern "C" int mllm_sp_eos(const mllm_sp *sp)
{
    return sp->proc.eos_id();
}

extern "C" mllm_status mllm_sp_encode(const mllm_sp *sp, const char *text, size_t len, int32_t **ids,
                              size_t *n, char *err, size_t errlen)
{
    *ids = nullptr;
    *n = 0;
    try {
        std::vector<int> v;
        auto status = sp->proc.Encode(std::string(text, len), &v);
        if (!status.ok()) {
            set_err(err, errlen, "tokenizer: " + status.ToString());
            return MLLM_ERR_TOKENIZER;
        }
        int32_t *a = static_cast<int32_t *>(mllm_malloc((v.size() ? v.size() : 1) * sizeof(int32_t)));
        if (!a) {
            set_err(err, errlen, "tokenizer: out of memory");
            return MLLM_ERR_NOMEM;
        }
        for (size_t i = 0; i < v.size(); i++) a[i] = v[i];
        *ids = a;
        *n = v.size();
        return MLLM_OK;
    } catch (const std::bad_alloc &) {
        set_err(err, errlen, "tokenizer: out of memory encoding");
        return MLLM_ERR_NOMEM;
    } catch (const std::exception &e) {
        set_err(err, errlen, std::string("tokenizer: ") + e.what());
    } catch (...) {
        set_err(err, errlen, "tokenizer: encoding failed");
    }
    return MLLM_ERR_TOKENIZER;
}

extern "C" mllm_status mllm_sp_decode(const mllm_sp *sp, const int32_t *ids, size_t n, char **text,
                              size_t *len, char *err, size_t errlen)
{
    *text = nullptr;
    *len = 0;
    try {
        std::vector<int> v(ids, ids + n);
        std::string s;
        auto status = sp->proc.Decode(v, &s);
        if (!status.ok()) {
            set_err(err, errlen, "tokenizer: " + status.ToString());
            return MLLM_ERR_TOKENIZER;
        }
        char *out = static_cast<char *>(mllm_malloc(s.size() + 1));
        if (!out) {
            set_err(err, errlen, "tokenizer: out of memory");
            return MLLM_ERR_NOMEM;
        }
        std::memcpy(out, s.data(), s.size());
        out[s.size()] = '\0';
        *text = out;
        *len = s.size();
        return MLLM_OK;
    } catch (const std::bad_alloc &) {
        set_err(err, errlen, "tokenizer: out of memory decoding");
        return MLLM_ERR_NOMEM;
    } catch (const std::exception &e) {
        set_err(err, errlen, std::string("tokenizer: ") + e.what());
    } catch (...) {
        set_err(err, errlen, "tokenizer: decoding failed");
    }
    return MLLM_ERR_TOKENIZER;
}

// A byte piece is written "<0xAB>"; "▁" (U+2581) stands for a space.
extern "C" int mllm_sp_piece_bytes(const mllm_sp *sp, int32_t id, char *buf, size_t cap)
{
    try {
        if (id < 0 || id >= sp->proc.GetPieceSize()) return -1;
        if (sp->proc.IsControl(id)) return 0;
        if (sp->proc.IsByte(id)) {
            const std::string &p = sp->proc.IdToPiece(id);
            unsigned v = 0;
            if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%2X>", &v) == 1) {
                if (cap > 0) buf[0] = static_cast<char>(v);
                return 1;
            }
            return 0;
        }
        std::string out;
        if (sp->proc.IsUnknown(id)) {
            out = " \xE2\x81\x87 ";  // what sentencepiece decodes <unk> to
        } else {
            const std::string &p = sp->proc.IdToPiece(id);
            for (size_t i = 0; i < p.size();) {
                if (p.compare(i, 3, "\xE2\x96\x81") == 0) { out += ' '; i += 3; }
                else out += p[i++];
            }
        }
        if (cap > 0) std::memcpy(buf, out.data(), out.size() < cap ? out.size() : cap);  // buf may be NULL
        return static_cast<int>(out.size());
    } catch (...) {
        return -1;
    }
}
