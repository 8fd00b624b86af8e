/* tokenizer.c — mobilellm.Tokenizer: mllm.tokenizer(path), a tokenizer of its
 * own, and model:tokenizer(), the model's (which keeps the model alive). A
 * model's tokenize, detokenize and token_piece are the same code on the
 * model's tokenizer; token id arrays in and out of Lua are read here too. */
#include "binding.h"
#include "opts.h"
#include "text/tokenizer.h"

#include <limits.h>
#include <string.h>

/*** @module mobilellm.core */

typedef struct {
    const mllm_tokenizer *t;  /* NULL when closed */
    mllm_tokenizer *owned;    /* loaded on its own: freed on close */
    mllm_model *model;        /* or a model's: its reference keeps t alive */
    size_t charged;           /* an owned one's bytes told to the collector (mllm_lua_gc_charge) */
} ltokenizer;

/* Reads an array of token ids into Lua-owned memory (the userdata is left on
 * the stack). Ids are checked against vocab_size. */
int32_t *mllm_lua_read_ids(lua_State *L, int i, int vocab, size_t *n)
{
    luaL_checktype(L, i, LUA_TTABLE);
    lua_Integer len = luaL_len(L, i);
    if (len < 0) len = 0;
    if (len > INT_MAX)  /* a __len metamethod can claim anything: keep len * 4 from wrapping */
        luaL_error(L, "an array of %I token ids is too long (limit %d, INT_MAX)", (LUAI_UACINT)len, INT_MAX);
    int32_t *ids = lua_newuserdatauv(L, (size_t)(len ? len : 1) * sizeof *ids, 0);
    for (lua_Integer k = 1; k <= len; k++) {
        lua_geti(L, i, k);
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint) luaL_error(L, "token id at index %I is not an integer (%s)", (LUAI_UACINT)k, luaL_typename(L, -1));
        if (v < 0 || v >= vocab)
            luaL_error(L, "token id %I at index %I is outside the vocabulary [0, %d)", (LUAI_UACINT)v,
                       (LUAI_UACINT)k, vocab);
        ids[k - 1] = (int32_t)v;
        lua_pop(L, 1);
    }
    *n = (size_t)len;
    return ids;
}

void mllm_lua_push_ids(lua_State *L, const int32_t *ids, size_t n)
{
    lua_createtable(L, (int)(n < 0x7fffffff ? n : 0), 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static const mllm_tokenizer *model_tok(lua_State *L, int i)
{
    const mllm_tokenizer *t = mllm_model_tokenizer(checkmodel(L, i)->m);
    if (!t) luaL_error(L, "this model has no tokenizer (no tokenizer.model or tokenizer.json was found when it was loaded)");
    return t;
}

static const mllm_tokenizer *checktok(lua_State *L, int i)
{
    ltokenizer *lt = luaL_checkudata(L, i, TOKENIZER_MT);
    if (!lt->t) luaL_error(L, "attempt to use a closed tokenizer");
    return lt->t;
}

/* The tokenizer of the object at index 1 (a model or a tokenizer), or raise.
 * Fetched again after anything that may run Lua code (an option's __index,
 * an id array's metamethods), which may have closed the object. */
typedef const mllm_tokenizer *(*tok_getter)(lua_State *L, int i);

/* tokenize(text [, { bos = false }]) -> ids; on a model or a tokenizer */
static int tokenize_with(lua_State *L, tok_getter get)
{
    get(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    static const char *const names[] = { "bos", NULL };
    int o = mllm_lua_opts(L, 3, names, "tokenize");
    bool bos = mllm_lua_opt_bool(L, o, "bos", false);
    const mllm_tokenizer *t = get(L, 1);
    void **box = newbox(L);
    size_t n;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_tokenizer_encode(t, text, len, bos, (int32_t **)box, &n, err, sizeof err);
    if (st) return luaL_error(L, "%s", err);
    mllm_lua_push_ids(L, *box, n);
    return 1;
}

/* detokenize(ids) -> text */
static int detokenize_with(lua_State *L, tok_getter get)
{
    size_t n;
    int32_t *ids = mllm_lua_read_ids(L, 2, mllm_tokenizer_vocab_size(get(L, 1)), &n);
    const mllm_tokenizer *t = get(L, 1);
    void **box = newbox(L);
    size_t len;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_tokenizer_decode(t, ids, n, (char **)box, &len, err, sizeof err);
    if (st) return luaL_error(L, "%s", err);
    lua_pushlstring(L, *box, len);
    return 1;
}

/* piece(id) -> the bytes the token adds to running text */
static int piece_with(lua_State *L, tok_getter get)
{
    const mllm_tokenizer *t = get(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    char buf[256];
    int n = (id < 0 || id > INT32_MAX) ? -1 : mllm_tokenizer_piece(t, (int32_t)id, buf, sizeof buf);
    if (n < 0)
        return luaL_error(L, "token id %I is outside the vocabulary [0, %d)", (LUAI_UACINT)id,
                          mllm_tokenizer_vocab_size(t));
    if (n <= (int)sizeof buf) {
        lua_pushlstring(L, buf, (size_t)n);
        return 1;
    }
    luaL_Buffer b;  /* a longer piece (a tokenizer.json token may have MLLM_MAX_TOKEN_BYTES) */
    char *p = luaL_buffinitsize(L, &b, (size_t)n);
    mllm_tokenizer_piece(t, (int32_t)id, p, (size_t)n);
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

static ltokenizer *new_tokenizer(lua_State *L)
{
    ltokenizer *lt = lua_newuserdatauv(L, sizeof *lt, 0);
    memset(lt, 0, sizeof *lt);
    luaL_setmetatable(L, TOKENIZER_MT);
    return lt;
}

/***
 * Loads a sentencepiece `tokenizer.model` or a Hugging Face `tokenizer.json`
 * (BPE, byte-level or SentencePiece-style; told apart by content) on its own
 * (a regular file of at most 64 MiB, `MLLM_MAX_TOKENIZER_BYTES`).
 * @function tokenizer
 * @tparam string path
 * @treturn Tokenizer
 * @error a message naming the file: missing, not a regular file, too large,
 *   or neither a sentencepiece model nor a tokenizer.json this engine runs
 * @raise when the path holds a NUL byte
 */
static int l_tokenizer(lua_State *L)
{
    const char *path = mllm_lua_check_path(L, 1);
    ltokenizer *lt = new_tokenizer(L);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_tokenizer_load(path, &lt->owned, err, sizeof err);
    if (st) return fail(L, st, err);
    lt->t = lt->owned;
    /* tokenizers left to the collector piled up (1.5 GB after 5000 loads, `make soak`): Lua saw
     * only the small userdata */
    lt->charged = mllm_lua_gc_charge(L, mllm_tokenizer_bytes(lt->owned));
    return 1;
}

/*** @type Model */

/***
 * Encodes text with the model's tokenizer, as sentencepiece (`tokenizer.model`)
 * or Hugging Face's tokenizers (`tokenizer.json`: special tokens in the text are
 * found first) do.
 * @function Model:tokenize
 * @tparam string text UTF-8
 * @tparam[opt] table opts `bos` (false): start with the beginning-of-sequence id
 *   (for a `tokenizer.json`, the tokens its TemplateProcessing adds)
 * @treturn {integer,...} the token ids
 * @raise when the model has no tokenizer, the text is not valid UTF-8, or on
 *   a wrong argument or option
 */
static int model_tokenize(lua_State *L) { return tokenize_with(L, model_tok); }

/***
 * Decodes token ids with the model's tokenizer, as sentencepiece does
 * (control tokens and the ids of a padded vocabulary give no text), or as
 * Hugging Face's `decode(ids)` does for a `tokenizer.json` (special tokens
 * give their text; padding ids none).
 * @function Model:detokenize
 * @tparam {integer,...} ids
 * @treturn string
 * @raise when the model has no tokenizer, or an id is not an integer in
 *   [0, vocab_size)
 */
static int model_detokenize(lua_State *L) { return detokenize_with(L, model_tok); }

/***
 * The bytes one token adds to running text: `"▁"` becomes a space, a byte
 * token its byte, a byte-level BPE token its bytes, control and special
 * tokens and padding ids nothing. Pieces of a
 * multi-byte character may be parts of it.
 * @function Model:token_piece
 * @tparam integer id
 * @treturn string
 * @raise when the model has no tokenizer, or the id is outside [0, vocab_size)
 */
static int model_token_piece(lua_State *L) { return piece_with(L, model_tok); }

/***
 * The model's tokenizer as an object of its own; it keeps the model's weights
 * alive until it is closed, and its vocabulary is the model's.
 * @function Model:tokenizer
 * @treturn Tokenizer
 * @raise when the model has no tokenizer
 */
static int model_tokenizer(lua_State *L)
{
    lmodel *lm = checkmodel(L, 1);
    const mllm_tokenizer *t = model_tok(L, 1);
    ltokenizer *lt = new_tokenizer(L);
    lt->model = mllm_model_retain(lm->m);
    lt->t = t;
    return 1;
}

/*** @type Tokenizer */

/***
 * Encodes text, as `Model:tokenize`.
 * @function Tokenizer:encode
 * @tparam string text UTF-8
 * @tparam[opt] table opts `bos` (false): start with the beginning-of-sequence id
 * @treturn {integer,...} the token ids
 * @raise when the text is not valid UTF-8, or on a wrong argument or option
 */
static int tok_encode(lua_State *L) { return tokenize_with(L, checktok); }

/***
 * The same as `Tokenizer:encode` (the name a model's method has).
 * @function Tokenizer:tokenize
 * @tparam string text
 * @tparam[opt] table opts
 * @treturn {integer,...}
 */

/***
 * Decodes token ids, as `Model:detokenize`.
 * @function Tokenizer:decode
 * @tparam {integer,...} ids
 * @treturn string
 * @raise when an id is not an integer in [0, vocab_size)
 */
static int tok_decode(lua_State *L) { return detokenize_with(L, checktok); }

/***
 * The same as `Tokenizer:decode` (the name a model's method has).
 * @function Tokenizer:detokenize
 * @tparam {integer,...} ids
 * @treturn string
 */

/***
 * The bytes one token adds to running text, as `Model:token_piece`.
 * @function Tokenizer:piece
 * @tparam integer id
 * @treturn string
 * @raise when the id is outside [0, vocab_size)
 */
static int tok_piece(lua_State *L) { return piece_with(L, checktok); }

/***
 * The ids the tokenizer takes: its pieces, or for a model's tokenizer the
 * model's `vocab_size`, which may be larger (a padded vocabulary).
 * @function Tokenizer:vocab_size
 * @treturn integer
 */
static int tok_vocab_size(lua_State *L)
{
    lua_pushinteger(L, mllm_tokenizer_vocab_size(checktok(L, 1)));
    return 1;
}

/***
 * The beginning- and end-of-sequence ids.
 * @function Tokenizer:special_ids
 * @treturn integer bos
 * @treturn integer eos
 */
static int tok_special(lua_State *L)
{
    const mllm_tokenizer *t = checktok(L, 1);
    lua_pushinteger(L, mllm_tokenizer_bos(t));
    lua_pushinteger(L, mllm_tokenizer_eos(t));
    return 2;
}

/***
 * Frees the tokenizer (a model's: drops its reference to the model).
 * Idempotent; also run by `__close` and `__gc`. Later use raises.
 * @function Tokenizer:close
 */
static int tok_close(lua_State *L)
{
    ltokenizer *lt = luaL_checkudata(L, 1, TOKENIZER_MT);
    mllm_tokenizer_free(lt->owned);
    mllm_lua_gc_credit(L, &lt->charged);
    mllm_model_release(lt->model);
    lt->owned = NULL;
    lt->model = NULL;
    lt->t = NULL;
    return 0;
}

static int tok_tostring(lua_State *L)
{
    ltokenizer *lt = luaL_checkudata(L, 1, TOKENIZER_MT);
    if (!lt->t) lua_pushstring(L, "mobilellm.Tokenizer (closed)");
    else lua_pushfstring(L, "mobilellm.Tokenizer (%s, %d pieces)", mllm_tokenizer_format(lt->t),
                         mllm_tokenizer_n_pieces(lt->t));
    return 1;
}

static const luaL_Reg tok_methods[] = {
    { "encode", tok_encode },
    { "decode", tok_decode },
    { "tokenize", tok_encode },
    { "detokenize", tok_decode },
    { "piece", tok_piece },
    { "vocab_size", tok_vocab_size },
    { "special_ids", tok_special },
    { "close", tok_close },
    { NULL, NULL },
};

static const luaL_Reg tok_meta[] = {
    { "__gc", tok_close },
    { "__close", tok_close },
    { "__tostring", tok_tostring },
    { NULL, NULL },
};

static const luaL_Reg model_tok_methods[] = {
    { "tokenize", model_tokenize },
    { "detokenize", model_detokenize },
    { "token_piece", model_token_piece },
    { "tokenizer", model_tokenizer },
    { NULL, NULL },
};

int mllm_lua_open_tokenizer(lua_State *L)
{
    mllm_lua_new_type(L, TOKENIZER_MT, tok_meta, tok_methods, false);
    mllm_lua_add_methods(L, MODEL_MT, model_tok_methods);
    lua_pushcfunction(L, l_tokenizer);
    lua_setfield(L, -2, "tokenizer");
    return 0;
}
