/*
 * constrain.c — mobilellm.Constraint, the Lua binding of constrained decoding (calls/constrain.h).
 *
 * mllm_lua_open_constrain(L) adds to the module table on top of the stack:
 *   constraint(tools [, model [, opts]])  -> a mobilellm.Constraint
 * and mllm_lua_get_constraint() lets the generation binding take a constraint as its
 * `constraint` option (the logits hook and its user data).
 *
 * Memory: the C schema structs are built (schema.c) in Lua-owned userdata anchored in a table,
 * and the strings they point to stay in the caller's tables, so an error half-way strands nothing.
 * The vocabulary trie of a model is built once and cached per model object (a weak table in
 * the registry); each constraint pins its trie in its user value. Closed is a NULL pointer;
 * close, __close and __gc share one idempotent function. The hook's user data is the
 * userdata block itself, so a constraint closed during a generation only stops masking.
 */
#include "calls/constrain.h"

#include "binding.h"
#include "opts.h"

#include <lauxlib.h>
#include <lua.h>

#include <string.h>

/*** @module mobilellm.core */

#define CONSTRAINT_MT "mobilellm.Constraint"
#define VOCAB_MT "mobilellm.VocabTrie"          /* internal: a cached trie */
#define VOCAB_CACHE "mobilellm.constrain.vocabs" /* registry: model -> trie, weak keys */

typedef struct lconstraint {
    mllm_constraint *c;  /* NULL when closed */
    int n_vocab;         /* 0: built without a model (checks text, cannot mask) */
    int n_tools;
    int required;        /* mode REQUIRED */
    bool held;           /* an async job's worker masks with it: Lua must not touch it */
} lconstraint;

typedef struct lvocab {
    mllm_vocab_trie *v;
} lvocab;

/* ------------------------------------------------------------ vocabulary */

static int vocab_gc(lua_State *L)
{
    lvocab *lv = luaL_checkudata(L, 1, VOCAB_MT);
    mllm_vocab_trie_free(lv->v);
    lv->v = NULL;
    return 0;
}

/* The integer value of obj.config.vocab_size or obj:vocab_size(); 0 when neither exists. */
static lua_Integer vocab_size_of(lua_State *L, int obj)
{
    lua_Integer n = 0;
    if (lua_getfield(L, obj, "config") == LUA_TTABLE) {
        lua_getfield(L, -1, "has_tokenizer");
        if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
            luaL_error(L, "mllm.constraint: the model has no tokenizer (no tokenizer.model or tokenizer.json was found when it was loaded)");
        lua_pop(L, 1);
        lua_getfield(L, -1, "vocab_size");
        n = lua_tointeger(L, -1);
        lua_pop(L, 2);
        return n;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, obj, "vocab_size") == LUA_TFUNCTION) {
        lua_pushvalue(L, obj);
        lua_call(L, 1, 1);
        n = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return n;
}

/* Pushes the vocab trie of the model or tokenizer at obj (built once per object). Anything
 * with `config.vocab_size` and `token_piece(id)` (a model) or `vocab_size()` and `piece(id)`
 * (a tokenizer) will do. */
static lvocab *push_vocab(lua_State *L, int obj)
{
    if (!lua_istable(L, obj) && !lua_isuserdata(L, obj)) luaL_typeerror(L, obj, "model or tokenizer");
    if (luaL_getsubtable(L, LUA_REGISTRYINDEX, VOCAB_CACHE) == 0) {
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
    }
    int cache = lua_gettop(L);
    lua_pushvalue(L, obj);
    if (lua_rawget(L, cache) == LUA_TUSERDATA) {
        lvocab *lv = luaL_checkudata(L, -1, VOCAB_MT);
        lua_remove(L, cache);
        return lv;
    }
    lua_pop(L, 1);
    lua_Integer n = vocab_size_of(L, obj);
    if (n <= 0 || n > MLLM_MAX_VOCAB)
        luaL_error(L, "mllm.constraint: argument 2 must be a model or a tokenizer (no vocabulary size found)");
    if (lua_getfield(L, obj, "token_piece") != LUA_TFUNCTION) {
        lua_pop(L, 1);
        if (lua_getfield(L, obj, "piece") != LUA_TFUNCTION)
            luaL_error(L, "mllm.constraint: argument 2 must be a model or a tokenizer (no token_piece or piece method)");
    }
    int piece = lua_gettop(L);
    size_t *off = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *off, 0);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t len = 0;
    for (lua_Integer id = 0; id < n; id++) {
        off[id] = len;
        lua_pushvalue(L, piece);
        lua_pushvalue(L, obj);
        lua_pushinteger(L, id);
        /* ids past the tokenizer's own size (a padded model vocabulary) have no piece */
        if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
            len += lua_rawlen(L, -1);
            luaL_addvalue(&b);
        } else {
            lua_pop(L, 1);
        }
    }
    off[n] = len;
    luaL_pushresult(&b);
    const char *bytes = lua_tostring(L, -1);
    lvocab *lv = lua_newuserdatauv(L, sizeof *lv, 0);
    lv->v = NULL;
    luaL_setmetatable(L, VOCAB_MT);
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_vocab_trie_new(bytes, off, (int)n, &lv->v, err, sizeof err);
    if (st) luaL_error(L, "mllm.constraint: %s", err);
    lua_pushvalue(L, obj);
    lua_pushvalue(L, -2);
    lua_rawset(L, cache);
    lua_replace(L, cache); /* the trie where the cache was; drop the rest */
    lua_settop(L, cache);
    return lv;
}

/* ------------------------------------------------------------ Constraint */

/* The message of a constraint in use by an async job's worker thread. */
#define HELD_MSG "the constraint is in use by a running async job (close the job, or let it finish, first)"

static lconstraint *check_constraint(lua_State *L, int i)
{
    lconstraint *lc = luaL_checkudata(L, i, CONSTRAINT_MT);
    if (lc->held) luaL_error(L, HELD_MSG);
    if (!lc->c) luaL_error(L, "attempt to use a closed constraint");
    return lc;
}

/***
 * Builds a constraint for constrained decoding of tool calls.
 * @function constraint
 * @tparam table tools an array of tools `{ name =, parameters = { p = { type =, required =,
 *   values =, min =, max =, items = } } }` (the apis.json format; `parameters` may also be an
 *   array of `{ name =, ... }`, and `params` is accepted for it), an apis.json document
 *   `{ apis = [...] }`, or a tool registry `{ tools = [...] }` (mobilellm.tools)
 * @param[opt] model a model or a tokenizer: needed to mask logits (`constraint` option of
 *   `generate`/`stream`); without it the constraint can only check text
 * @tparam[opt] table opts `call` ("auto": constrain calls the model opens; "required": the
 *   text must begin with a call), `open`/`close` (the tags), `max_string` (longest string
 *   value in bytes, default 256), `max_calls` (most calls the text may open, default 0: any
 *   number; with 1 no second call can follow the first)
 * @return a mobilellm.Constraint
 * @raise on a malformed schema (the message names the tool and the parameter)
 */
static int l_constraint(lua_State *L)
{
    static const char *const names[] = { "call", "open", "close", "max_string", "max_calls", NULL };
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 3);
    mllm_lua_opts(L, 3, names, "constraint"); /* index 4: the options, anchoring their strings */
    lua_replace(L, 3);
    mllm_constraint_params p = mllm_constraint_default_params();
    const char *mode = mllm_lua_opt_str(L, 3, "call", NULL);  /* NULL: "auto" */
    if (mode && strcmp(mode, "required") == 0) p.mode = MLLM_CONSTRAIN_REQUIRED;
    else if (mode && strcmp(mode, "auto") != 0) luaL_error(L, "option 'call' must be \"auto\" or \"required\"");
    p.open = mllm_lua_opt_str(L, 3, "open", NULL);  /* NULL: the default tag */
    p.close = mllm_lua_opt_str(L, 3, "close", NULL);
    p.max_string = (size_t)mllm_lua_opt_int(L, 3, "max_string", (lua_Integer)p.max_string, 4, 1 << 20);
    p.max_calls = (size_t)mllm_lua_opt_int(L, 3, "max_calls", (lua_Integer)p.max_calls, 0, 1 << 20);
    const mllm_vocab_trie *vocab = NULL;
    if (!lua_isnil(L, 2)) vocab = push_vocab(L, 2)->v; /* index 4 */
    else lua_pushnil(L);
    lua_newtable(L); /* index 5: scratch anchor */
    int json_keys = 0;
    lua_getfield(L, lua_upvalueindex(1), "json_keys");
    if (lua_isfunction(L, -1)) json_keys = lua_gettop(L);
    size_t n_tools = 0;
    mllm_tool_schema *tools = mllm_lua_read_tools(L, 1, 5, json_keys, &n_tools);
    lconstraint *lc = lua_newuserdatauv(L, sizeof *lc, 1); /* created closed, then filled */
    memset(lc, 0, sizeof *lc);
    luaL_setmetatable(L, CONSTRAINT_MT);
    lua_pushvalue(L, 4);
    lua_setiuservalue(L, -2, 1); /* pin the trie */
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_constraint_new(tools, n_tools, vocab, &p, &lc->c, err, sizeof err);
    if (st == MLLM_ERR_NOMEM) return luaL_error(L, "mllm.constraint: %s", err);
    if (st) return luaL_error(L, "mllm.constraint: %s", err);
    lc->n_vocab = vocab ? mllm_vocab_trie_size(vocab) : 0;
    lc->n_tools = (int)n_tools;
    lc->required = p.mode == MLLM_CONSTRAIN_REQUIRED;
    return 1;
}

/*** @type Constraint */

static int constraint_tostring(lua_State *L)
{
    lconstraint *lc = luaL_checkudata(L, 1, CONSTRAINT_MT);
    if (!lc->c) lua_pushliteral(L, "mobilellm.Constraint (closed)");
    else if (lc->n_vocab)
        lua_pushfstring(L, "mobilellm.Constraint (%d tools, %s call, %d tokens)", lc->n_tools,
                        lc->required ? "required" : "auto", lc->n_vocab);
    else
        lua_pushfstring(L, "mobilellm.Constraint (%d tools, %s call, no vocabulary)", lc->n_tools,
                        lc->required ? "required" : "auto");
    return 1;
}

/***
 * Checks a text against the constraint, as the model's output so far.
 * @function Constraint:check
 * @tparam string text
 * @treturn string `"free"` (outside any call) or `"call"` (inside one, valid
 *   so far)
 * @error nil, message, position: what breaks the rule ("unexpected 'x' at
 *   byte 12: expected ..."), and the 1-based position of that byte
 */
static int constraint_check(lua_State *L)
{
    lconstraint *lc = check_constraint(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    size_t bad = 0;
    char msg[320];
    switch (mllm_constraint_check(lc->c, text, len, &bad, msg, sizeof msg)) {
    case MLLM_CST_FREE: lua_pushliteral(L, "free"); return 1;
    case MLLM_CST_IN_CALL: lua_pushliteral(L, "call"); return 1;
    default:
        luaL_pushfail(L);
        lua_pushstring(L, msg);
        lua_pushinteger(L, (lua_Integer)bad + 1);
        return 3;
    }
}

/* Runs the mask for text into a Lua-owned buffer; returns the count, or pushes nil, message,
 * position and returns -1. The buffer is left on the stack. */
static int run_mask(lua_State *L, lconstraint *lc, uint8_t **allowed)
{
    if (!lc->n_vocab)
        luaL_error(L, "the constraint has no vocabulary: build it with mllm.constraint(tools, model)");
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    *allowed = lua_newuserdatauv(L, (size_t)lc->n_vocab, 0);
    int n;
    char err[MLLM_ERRLEN];
    mllm_status st = mllm_constraint_allowed(lc->c, text, len, *allowed, &n, err, sizeof err);
    if (st == MLLM_ERR_FORMAT) {
        constraint_check(L);  /* nil, the same message, and the position */
        return -1;
    }
    if (st != MLLM_OK)
        luaL_error(L, "%s", err);  /* no vocabulary: checked above, not reached */
    return n;
}

/***
 * The tokens the constraint lets follow a text: those the mask keeps.
 * @function Constraint:allowed
 * @tparam string text
 * @treturn {integer,...} the allowed token ids, in order
 * @treturn integer how many
 * @error nil, message, position when the text already breaks the rule (as
 *   `Constraint:check`)
 * @raise when the constraint was built without a model
 */
static int constraint_allowed(lua_State *L)
{
    lconstraint *lc = check_constraint(L, 1);
    uint8_t *allowed;
    int n = run_mask(L, lc, &allowed);
    if (n < 0) return 3;
    lua_createtable(L, n, 0);
    lua_Integer k = 0;
    for (int i = 0; i < lc->n_vocab; i++)
        if (allowed[i]) {
            lua_pushinteger(L, i);
            lua_rawseti(L, -2, ++k);
        }
    lua_pushinteger(L, n);
    return 2;
}

/***
 * How many tokens the constraint lets follow a text (`Constraint:allowed`
 * without the array).
 * @function Constraint:count
 * @tparam string text
 * @treturn integer
 * @error nil, message, position when the text already breaks the rule
 * @raise when the constraint was built without a model
 */
static int constraint_count(lua_State *L)
{
    lconstraint *lc = check_constraint(L, 1);
    uint8_t *allowed;
    int n = run_mask(L, lc, &allowed);
    if (n < 0) return 3;
    lua_pushinteger(L, n);
    return 1;
}

/***
 * Sets the titles of the copy rule: a title's period stays inside its word when a
 * name follows ("Dr. Megan"), so that no copied value stops at "Dr". The list is
 * the model directory's copy_rule.json (`chat.load_copy_rule`); a new constraint
 * has none.
 * @function Constraint:set_titles
 * @tparam {string,...} titles words of ASCII letters (at most MLLM_CST_MAX_TITLES,
 *   MLLM_CST_MAX_TITLE_BYTES bytes each), matched in any case; `{}` removes the rule
 * @treturn Constraint c
 * @raise on a title that is not such a word, or too many
 */
static int constraint_set_titles(lua_State *L)
{
    lconstraint *lc = check_constraint(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n < 0 || n > MLLM_CST_MAX_TITLES)
        return luaL_argerror(L, 2, lua_pushfstring(L, "%I titles, more than MLLM_CST_MAX_TITLES (%d)",
                                                   (LUAI_UACINT)n, MLLM_CST_MAX_TITLES));
    luaL_checkstack(L, (int)n, "too many titles");
    const char *titles[MLLM_CST_MAX_TITLES];
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, 2, i) != LUA_TSTRING)
            return luaL_argerror(L, 2, lua_pushfstring(L, "title %I is not a string", (LUAI_UACINT)i));
        titles[i - 1] = lua_tostring(L, -1);  /* anchored on the stack until the call returns */
    }
    lc = check_constraint(L, 1);  /* reading the list may have run Lua code that closed it */
    char err[MLLM_ERRLEN];
    if (mllm_constraint_set_titles(lc->c, titles, (size_t)n, err, sizeof err) != MLLM_OK)
        return luaL_argerror(L, 2, err);
    lua_settop(L, 1);
    return 1;
}

/* Reads the array of strings at stack index idx (absent: none) into a list of *n entries,
 * anchored in a table pushed on the stack, the pointers in a userdata pushed under it: nothing to
 * free on error. follows: a table of word -> array of words, read as 2 * *n pairs. */
static const char **string_list(lua_State *L, int idx, const char *what, size_t *n)
{
    *n = 0;
    if (lua_isnil(L, idx)) return NULL;
    if (!lua_istable(L, idx)) luaL_error(L, "set_reply_rule: '%s' must be an array of strings", what);
    lua_Integer len = luaL_len(L, idx);
    if (len < 0 || len > MLLM_CST_MAX_REPLY_WORDS)
        luaL_error(L, "set_reply_rule: %I %s, more than MLLM_CST_MAX_REPLY_WORDS (%d)", (LUAI_UACINT)len, what,
                   MLLM_CST_MAX_REPLY_WORDS);
    const char **list = lua_newuserdatauv(L, (size_t)(len ? len : 1) * sizeof *list, 0);
    lua_createtable(L, (int)len, 0);
    for (lua_Integer i = 1; i <= len; i++) {
        size_t bytes;
        if (lua_geti(L, idx, i) != LUA_TSTRING)
            luaL_error(L, "set_reply_rule: %s %I is not a string", what, (LUAI_UACINT)i);
        list[i - 1] = lua_tolstring(L, -1, &bytes);
        if (strlen(list[i - 1]) != bytes) luaL_error(L, "set_reply_rule: %s %I holds a NUL byte", what, (LUAI_UACINT)i);
        lua_rawseti(L, -2, i);
    }
    *n = (size_t)len;
    return list;
}

/* The follows map at stack index idx ({ word = { next, ... } }) as pairs, anchored as above. */
static const char **follows_pairs(lua_State *L, int idx, size_t *n)
{
    *n = 0;
    if (lua_isnil(L, idx)) return NULL;
    if (!lua_istable(L, idx)) luaL_error(L, "set_reply_rule: 'follows' must be a table of word -> array of words");
    size_t count = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_istable(L, -1))
            luaL_error(L, "set_reply_rule: 'follows' must be a table of word -> array of words");
        count += (size_t)luaL_len(L, -1);
        if (count > MLLM_CST_MAX_REPLY_WORDS)
            luaL_error(L, "set_reply_rule: more than MLLM_CST_MAX_REPLY_WORDS (%d) follows", MLLM_CST_MAX_REPLY_WORDS);
    }
    const char **pairs = lua_newuserdatauv(L, (count ? count : 1) * 2 * sizeof *pairs, 0);
    lua_createtable(L, 0, 0);  /* anchors the keys */
    int anchor = lua_gettop(L);
    size_t k = 0;
    for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
        const char *first = lua_tostring(L, -2);
        lua_pushvalue(L, -2);
        lua_rawseti(L, anchor, (lua_Integer)k + 1);
        lua_Integer len = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= len && k < count; i++, k++) {
            if (lua_geti(L, -1, i) != LUA_TSTRING)
                luaL_error(L, "set_reply_rule: follows['%s'][%I] is not a string", first, (LUAI_UACINT)i);
            pairs[2 * k] = first;
            pairs[2 * k + 1] = lua_tostring(L, -1);
            lua_rawseti(L, anchor, -(lua_Integer)k - 1);  /* anchored */
        }
    }
    *n = k;
    return pairs;
}

/***
 * Sets the reply rule: every word of the text outside calls is one of `words`
 * or a word of the source (`Constraint:set_source`; as written, a sentence's
 * first letter in either case), every run of bytes between words one of `gaps` (after
 * the last word one of `end_gaps`),
 * a word comes at most once unless `repeatable`, and with `follows` only after an
 * item it followed in the model's training replies. The model directory's
 * reply_rule.json gives it all (`chat.load_reply_rule`); a new constraint has
 * none (text outside calls is free).
 * @function Constraint:set_reply_rule
 * @tparam ?table rule `{ words = {...}, gaps = {...}, end_gaps = {...}, repeatable = {...}, follows =
 *   { ["<start>"] = { "Alarm", ... }, to = { "<value>" }, ... } }` (words: runs of
 *   letters, digits, UTF-8 bytes and inner apostrophes; gaps: runs of other bytes;
 *   at most MLLM_CST_MAX_REPLY_WORDS each); nil removes it
 * @treturn Constraint c
 * @raise on a rule that is not such, naming the item
 */
static int constraint_set_reply_rule(lua_State *L)
{
    check_constraint(L, 1);
    mllm_reply_rule rule = { 0 };
    char err[MLLM_ERRLEN];
    if (!lua_isnoneornil(L, 2)) {
        static const char *const names[] = { "words", "gaps", "end_gaps", "repeatable", "follows", NULL };
        int o = mllm_lua_opts(L, 2, names, "set_reply_rule");
        int base = lua_gettop(L);
        for (int k = 0; names[k]; k++) mllm_lua_opt_push(L, o, names[k]);
        rule.words = string_list(L, base + 1, "word", &rule.n_words);
        rule.gaps = string_list(L, base + 2, "gap", &rule.n_gaps);
        rule.end_gaps = string_list(L, base + 3, "end gap", &rule.n_end_gaps);
        rule.repeatable = string_list(L, base + 4, "repeatable word", &rule.n_repeatable);
        rule.follows = follows_pairs(L, base + 5, &rule.n_follows);
        if (rule.n_words == 0) return luaL_argerror(L, 2, "a reply rule needs words (nil removes the rule)");
    }
    lconstraint *lc = check_constraint(L, 1);  /* reading the rule may have run Lua code that closed it */
    if (mllm_constraint_set_reply_rule(lc->c, lua_isnoneornil(L, 2) ? NULL : &rule, err, sizeof err) != MLLM_OK)
        return luaL_argerror(L, 2, err);
    lua_settop(L, 1);
    return 1;
}

/***
 * Text the constraint treats as written before each generation's own: an
 * agent that stops at a call, runs the tool and generates the reply in a new
 * generation passes the first one's text, so the rules see the whole answer
 * (the calls made, the values the reply repeats whole).
 * @function Constraint:set_prefix
 * @tparam ?string text nil or "" removes it
 * @treturn Constraint c
 */
static int constraint_set_prefix(lua_State *L)
{
    lconstraint *lc = check_constraint(L, 1);
    size_t len = 0;
    const char *text = luaL_optlstring(L, 2, NULL, &len);
    char err[MLLM_ERRLEN];
    if (mllm_constraint_set_prefix(lc->c, text, len, err, sizeof err) != MLLM_OK) return luaL_error(L, "%s", err);
    lua_settop(L, 1);
    return 1;
}

/***
 * The copy rule: string values in calls must be runs of whole words of
 * `text` (the user's words, which the task copies verbatim). With `positions`
 * and `weight`, also the copy pointer: a value's first token is pushed
 * towards the word the session's attention probe looks at
 * (`Session:set_probe`).
 * @function Constraint:set_source
 * @tparam ?string text at most 256 bytes (`MLLM_CST_MAX_SOURCE`); nil removes
 *   the rule
 * @tparam[opt] {integer,...} positions one per byte of `text`: the 0-based
 *   position in the prompt of the token holding it, or -1 for none
 * @tparam[opt] number weight in [0, 1e6], needed with `positions`: how hard
 *   the pointer pushes
 * @treturn Constraint the constraint
 * @raise on a text too long, or positions that do not match it
 */
static int constraint_set_source(lua_State *L)
{
    lconstraint *lc = check_constraint(L, 1);
    size_t len = 0;
    const char *text = luaL_optlstring(L, 2, NULL, &len);
    bool pointer = !lua_isnoneornil(L, 3);
    double weight = pointer ? luaL_checknumber(L, 4) : 0.0;
    if (pointer) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if ((size_t)luaL_len(L, 3) != len)
            return luaL_argerror(L, 3, lua_pushfstring(L, "%d positions for a source of %d bytes",
                                                       (int)luaL_len(L, 3), (int)len));
        if (!(weight >= 0.0 && weight <= 1e6)) {
            char msg[96];  /* lua_pushfstring has no %g */
            snprintf(msg, sizeof msg, "weight must be in [0, 1e6], got %g", weight);
            return luaL_argerror(L, 4, lua_pushstring(L, msg));
        }
    }
    int32_t pos[MLLM_CST_MAX_SOURCE];
    for (size_t i = 0; pointer && i < len && i < MLLM_CST_MAX_SOURCE; i++) {
        lua_geti(L, 3, (lua_Integer)i + 1);
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < -1 || v > MLLM_MAX_CONTEXT)
            return luaL_argerror(L, 3, lua_pushfstring(L, "position %d must be an integer in [-1, %d] "
                                                       "(MLLM_MAX_CONTEXT), got %s", (int)i + 1, MLLM_MAX_CONTEXT,
                                                       luaL_tolstring(L, -1, NULL)));
        pos[i] = (int32_t)v;
        lua_pop(L, 1);
    }
    char err[MLLM_ERRLEN];
    if (mllm_constraint_set_source(lc->c, text, len, err, sizeof err) != MLLM_OK)
        return luaL_argerror(L, 2, err);  /* too long: names MLLM_CST_MAX_SOURCE */
    if (pointer && mllm_constraint_set_source_tokens(lc->c, pos, len, (float)weight, err, sizeof err) != MLLM_OK)
        return luaL_error(L, "set_source: %s", err);  /* checked above: not reached */
    lua_settop(L, 1);
    return 1;
}

/***
 * What the constraint's hook did since it was built or last reset.
 * @function Constraint:stats
 * @treturn table `{ masks =, free =, invalid =, dead_ends =, seconds =,
 *   us_per_token = }`: the steps that masked the logits, that left them free
 *   (outside calls), that found the text already invalid, that found no token
 *   allowed; the time spent, in all and per step in microseconds
 */
static int constraint_stats(lua_State *L)
{
    lconstraint *lc = check_constraint(L, 1);
    const mllm_constraint_stats *s = mllm_constraint_get_stats(lc->c);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)s->masks); lua_setfield(L, -2, "masks");
    lua_pushinteger(L, (lua_Integer)s->free); lua_setfield(L, -2, "free");
    lua_pushinteger(L, (lua_Integer)s->invalid); lua_setfield(L, -2, "invalid");
    lua_pushinteger(L, (lua_Integer)s->dead_ends); lua_setfield(L, -2, "dead_ends");
    lua_pushnumber(L, s->seconds); lua_setfield(L, -2, "seconds");
    uint64_t calls = s->masks + s->free + s->invalid + s->dead_ends;
    lua_pushnumber(L, calls ? s->seconds / (double)calls * 1e6 : 0.0);
    lua_setfield(L, -2, "us_per_token");
    return 1;
}

/***
 * Sets the counts of `Constraint:stats` to zero.
 * @function Constraint:reset_stats
 */
static int constraint_reset_stats(lua_State *L)
{
    mllm_constraint_reset_stats(check_constraint(L, 1)->c);
    return 0;
}

/***
 * Frees the constraint now. Idempotent; also run by `__close` and `__gc`.
 * Later use raises, but a generation it is masking goes on unmasked.
 * @function Constraint:close
 */
static int constraint_close(lua_State *L)
{
    lconstraint *lc = luaL_checkudata(L, 1, CONSTRAINT_MT);
    if (lc->held) return luaL_error(L, HELD_MSG);  /* never from __gc: the job pins it */
    if (lc->c) {
        mllm_constraint_free(lc->c);
        lc->c = NULL;
    }
    return 0;
}

/* The hook the generator calls; ud is the userdata block, which the generation pins. */
static void lua_hook(void *ud, float *logits, int n_vocab, const char *text, size_t len)
{
    lconstraint *lc = ud;
    if (lc->c) mllm_constraint_hook(lc->c, logits, n_vocab, text, len);
}

/* The session a generation with this hook's constraint runs on (NULL when it ends). */
void mllm_lua_bind_constraint(void *ud, const mllm_session *s)
{
    lconstraint *lc = ud;
    if (lc && lc->c) mllm_constraint_bind(lc->c, s);
}

void mllm_lua_hold_constraint(void *ud, bool hold)
{
    ((lconstraint *)ud)->held = hold;
}

int mllm_lua_get_constraint(lua_State *L, int idx, mllm_logits_hook *fn, void **ud)
{
    lconstraint *lc = luaL_checkudata(L, idx, CONSTRAINT_MT);
    if (lc->held) return luaL_error(L, HELD_MSG);
    if (!lc->c) return luaL_error(L, "attempt to use a closed constraint");
    if (!lc->n_vocab)
        return luaL_error(L, "the constraint has no vocabulary: build it with mllm.constraint(tools, model)");
    *fn = lua_hook;
    *ud = lc;
    return 1;
}

int mllm_lua_open_constrain(lua_State *L)
{
    static const luaL_Reg meta[] = {
        { "__gc", constraint_close }, { "__close", constraint_close }, { "__tostring", constraint_tostring },
        { NULL, NULL }
    };
    static const luaL_Reg methods[] = {
        { "check", constraint_check }, { "allowed", constraint_allowed }, { "count", constraint_count },
        { "stats", constraint_stats }, { "set_source", constraint_set_source }, { "set_titles", constraint_set_titles }, { "set_reply_rule", constraint_set_reply_rule }, { "set_prefix", constraint_set_prefix }, { "reset_stats", constraint_reset_stats }, { "close", constraint_close },
        { NULL, NULL }
    };
    int module = lua_absindex(L, -1);
    luaL_checktype(L, module, LUA_TTABLE);
    luaL_newmetatable(L, CONSTRAINT_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "locked");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_newmetatable(L, VOCAB_MT);
    lua_pushcfunction(L, vocab_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_pushvalue(L, module); /* upvalue: the module, for json_keys */
    lua_pushcclosure(L, l_constraint, 1);
    lua_setfield(L, module, "constraint");
    return 0;
}
