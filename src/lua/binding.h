/* binding.h — what the files of the Lua binding (module mobilellm.core) share.
 *
 * One file per Lua class, as luv's src/: model.c (mobilellm.Model), session.c
 * (mobilellm.Session), stream.c (mobilellm.Stream and generation), tokenizer.c
 * (mobilellm.Tokenizer), constrain.c (mobilellm.Constraint; schema.c reads
 * its tool list), calls.c (mobilellm.CallParser), json.c and convert.c
 * (module functions), module.c (the entry point). Each file's mllm_lua_open_*
 * adds its functions to the module table on top of the stack and registers
 * its type, adding the methods another class offers for it (model:session is
 * in session.c).
 *
 * The error rule, below in the module's description, holds in every file.
 * Closed is a NULL pointer; close, __close and __gc share one idempotent
 * function. C memory that a Lua error could strand lives in a Lua-owned box.
 * Everything here is hidden: the module exports luaopen_mobilellm_core alone. */
#ifndef MLLM_LUA_BINDING_H
#define MLLM_LUA_BINDING_H

/* The LDoc comments of every binding file document one module,
 * mobilellm.core (config.ld merges them). LDoc reads a folder in name order,
 * so this file comes first: its module description and class sections below
 * open the reference, in this order; each class file adds its methods. */

/***
 * The C core: models, sessions, generation, tokenizers, the call parser and
 * constrained decoding. `require("mobilellm")` returns this module's functions
 * with the Lua-side pieces added.
 *
 * **Errors, one rule.** Misuse raises: a wrong type, a bad option value or an
 * option the call does not take (the message names it), a token id outside
 * the vocabulary, text that is not UTF-8, a closed object. A failure of the
 * environment returns `nil, message`: a missing or corrupt file (the message
 * names the file and the tensor), a prompt that does not fit the context.
 *
 * **Options** are read once each, through `__index` when the table has one.
 *
 * **Objects** are closed by `close()`, by a `<close>` variable or by the
 * collector; `close` is idempotent and any other use of a closed object raises
 * ("attempt to use a closed session"). The collector is told about the C
 * memory behind models and sessions, so leaving them to it does not pile up
 * megabytes of garbage.
 * @module mobilellm.core
 */

/***
 * A loaded model (model.c): immutable weights, shared by every session made
 * from it, each holding its own reference, so closing the model does not end
 * its sessions or its tokenizer. Made by `load`. `tostring(model)` sums it up
 * (type, layers, dimensions, parameters, compute format, kernels, threads).
 * @type Model
 */

/***
 * A session (session.c): the KV cache and the position of one conversation
 * with a model, which it keeps alive. Made by `Model:session` or
 * `Session:fork`. **One generation at a time:** while a stream runs on it
 * (from `Session:stream`, or inside `Session:generate`'s `on_token`), `eval`,
 * `score`, `rewind`, `generate` and `stream` raise "the session is busy"; the
 * stream frees the session when it ends, is closed or raises.
 * `tostring(s)` shows the position, the context and the cache's type.
 * @type Session
 */

/***
 * A running generation (stream.c), the closing value that `Model:stream` and
 * `Session:stream` return after their iterator: a generic `for` closes it on
 * `break` or error, which frees the session for other calls (and closes the
 * one-off session of `Model:stream`).
 * @type Stream
 */

/***
 * A generation run a time budget at a time or on a worker thread (job.c), made
 * by `Session:start` or `Model:start`. While it runs its session is busy; it
 * frees the session when it is seen to end (a step, poll or wait that returns
 * done), is closed or collected. `tostring(job)` says its mode and state.
 * @type Job
 */

/***
 * A sentencepiece tokenizer (tokenizer.c): one loaded on its own
 * (`tokenizer`), or a model's (`Model:tokenizer`), which keeps the model's
 * weights alive and whose vocabulary is the model's (ids of a padded
 * vocabulary past the tokenizer's pieces decode to nothing).
 * `tostring(t)` gives its number of pieces.
 * @type Tokenizer
 */

/***
 * Constrained decoding of tool calls (constrain.c): made by `constraint`,
 * passed as the `constraint` option of `Model:generate`, `Model:stream`,
 * `Session:generate` and `Session:stream`, where it masks the logits so
 * that every call the model writes names a tool and fits its parameters'
 * schemas. A constraint closed during a generation stops masking.
 * @type Constraint
 */

/***
 * A streaming call parser (calls.c), made by `call_parser`: feed it the
 * model's output piece by piece.
 * @type CallParser
 */

#include "mobilellm.h"

#include <lauxlib.h>
#include <lua.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define MODEL_MT "mobilellm.Model"
#define SESSION_MT "mobilellm.Session"
#define STREAM_MT "mobilellm.Stream"
#define TOKENIZER_MT "mobilellm.Tokenizer"
#define JOB_MT "mobilellm.Job"
#define BOX_MT "mobilellm.Box"

typedef struct { mllm_model *m; size_t charged; } lmodel;
typedef struct {
    mllm_session *s;
    size_t charged; /* bytes told to the collector (mllm_lua_gc_charge) */
    bool busy;  /* a stream or a job runs on it: calls that would move the session under it raise */
    void *job;  /* the job (job.c) running on it, or NULL: closing the session stops it first */
} lsession;

/* ------------------------------------------------------------ module.c */

/* The C memory behind models, sessions and tokenizers, told to the collector (the ledger
 * in module.c). charge: for a new object already anchored on the stack;
 * returns bytes, to keep in the object for the credit when it is freed. */
size_t mllm_lua_gc_charge(lua_State *L, size_t bytes);
void mllm_lua_gc_credit(lua_State *L, size_t *charged);

/* Registers the metatable name with meta, and methods as its method table
 * (its __index, unless custom_index: then the type's own __index reads the
 * metatable's "methods"). Getmetatable from Lua sees "locked". */
void mllm_lua_new_type(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods,
                       bool custom_index);
/* Adds methods to the registered type name (a factory of one class that is a
 * method of another, as model:session). */
void mllm_lua_add_methods(lua_State *L, const char *name, const luaL_Reg *methods);

/* ------------------------------------------------------------ open functions */

int mllm_lua_open_interrupt(lua_State *L);  /* interrupt.c: on_interrupt, Ctrl-C for the CLI's prompts */
void mllm_lua_interrupt_forget(lsession *ls);  /* interrupt.c: ls no longer watched (it is being freed) */
int mllm_lua_open_model(lua_State *L);
int mllm_lua_open_tokenizer(lua_State *L);
int mllm_lua_open_session(lua_State *L);
int mllm_lua_open_stream(lua_State *L);
int mllm_lua_open_calls(lua_State *L);
int mllm_lua_open_json(lua_State *L);
int mllm_lua_open_convert(lua_State *L);
int mllm_lua_open_constrain(lua_State *L);
int mllm_lua_open_sampler(lua_State *L);
int mllm_lua_open_job(lua_State *L);

/* ------------------------------------------------------------ between the classes */

/* tokenizer.c: reads an array of token ids (checked against vocab) into
 * Lua-owned memory, a userdata left on the stack; pushes ids as an array. */
int32_t *mllm_lua_read_ids(lua_State *L, int i, int vocab, size_t *n);
void mllm_lua_push_ids(lua_State *L, const int32_t *ids, size_t n);

/* sampler.c: the sampling options of the snapshot o (temperature, top_k, top_p,
 * min_p, repeat_penalty, repeat_last_n, seed), as generations and samplers read them. */
void mllm_lua_read_sampler_opts(lua_State *L, int o, mllm_sampler_params *p);

/* stream.c: the options every generation takes (s:stream's), and the one-off
 * session's of model:stream / model:generate. */
#define MLLM_LUA_GEN_NAMES "max_tokens", "stop_at_eos", "temperature", "top_k", "top_p", "min_p", \
                           "repeat_penalty", "repeat_last_n", "seed", "constraint", "stop", "bos", \
                           "draft_tokens"
#define MLLM_LUA_ONEOFF_NAMES "n_ctx", "n_batch", "kv_type"
/* Reads the generation options of snapshot o into p; pushes the table that
 * anchors the stop strings and returns its index. */
int mllm_lua_read_generate_opts(lua_State *L, int o, mllm_generate_params *p);
/* The prompt at pi (a string, encoded with bos, or an id array) as Lua-owned ids; pushes one value. */
int32_t *mllm_lua_read_prompt(lua_State *L, const mllm_model *m, int pi, bool bos, size_t *n);
/* Pushes a generation_info table. */
void mllm_lua_push_info(lua_State *L, const mllm_generate_info *info);
/* The one-off session of model:stream / generate / start for the options o,
 * pushed (returns it), or NULL after pushing nil, message (*nret). */
lsession *mllm_lua_oneoff_session(lua_State *L, int mi, int o, int *nret);

/* job.c: stops and frees the job running on ls (cancel, join) before its
 * session is freed; the job keeps its text and info. */
void mllm_lua_job_detach(lua_State *L, lsession *ls);

/* session.c: pushes a new session on the model at index mi and returns it, or
 * NULL after pushing nil, message (*nret: 2). */
lsession *mllm_lua_session_new(lua_State *L, int mi, int n_ctx, int n_batch, const char *kv_type, int *nret);
/* The option n_ctx of the snapshot o, within the model's limit (0: unset). */
int mllm_lua_session_opt_ctx(lua_State *L, int o, const mllm_config *c);
/* Frees the C session (idempotent), crediting the ledger. */
void mllm_lua_session_free(lua_State *L, lsession *ls);

/* constrain.c: the logits hook of the constraint at idx (raises when it is
 * closed or has no vocabulary); bind: the session its generation runs on
 * (NULL when it ends). */
int mllm_lua_get_constraint(lua_State *L, int idx, mllm_logits_hook *fn, void **ud);
void mllm_lua_bind_constraint(void *ud, const mllm_session *s);
/* An async job's worker uses the constraint (ud as the hook's): while held,
 * every use from Lua raises, and so does closing it. hold: true to take, false
 * to let go. */
void mllm_lua_hold_constraint(void *ud, bool hold);

/* schema.c: the tools at index t (an array of tools, an apis.json document
 * { apis = [...] } or a registry { tools = [...] }) as C schemas, built in
 * userdata appended to the table at anchor; json_keys: the index of
 * mllm.json_keys (orders a map of parameters as its JSON had it), or 0. */
struct mllm_tool_schema *mllm_lua_read_tools(lua_State *L, int t, int anchor, int json_keys, size_t *n_out);

/* ------------------------------------------------------------ small helpers */

/* ARG means the caller misused the API: raise. Anything else is the
 * environment, or a cancellation the caller asked for: return nil, message. */
static inline int fail(lua_State *L, mllm_status st, const char *err)
{
    if (st == MLLM_ERR_ARG) return luaL_error(L, "%s", err);
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
}

/* A userdata that frees the malloc'd pointer it holds when collected (BOX_MT,
 * registered by module.c), so a Lua error between malloc and free cannot leak. */
static inline void **newbox(lua_State *L)
{
    void **p = lua_newuserdatauv(L, sizeof(void *), 0);
    *p = NULL;
    luaL_setmetatable(L, BOX_MT);
    return p;
}

static inline lmodel *checkmodel(lua_State *L, int i)
{
    lmodel *lm = luaL_checkudata(L, i, MODEL_MT);
    if (!lm->m) luaL_error(L, "attempt to use a closed model");
    return lm;
}

static inline lsession *checksession(lua_State *L, int i)
{
    lsession *ls = luaL_checkudata(L, i, SESSION_MT);
    if (!ls->s) luaL_error(L, "attempt to use a closed session");
    return ls;
}

/* Raises when a stream runs on the session at index i: evaluating, scoring,
 * rewinding or starting another generation there would change what that
 * stream produces (e.g. s:eval from its own on_token). */
static inline lsession *checkidle(lua_State *L, int i)
{
    lsession *ls = checksession(L, i);
    if (ls->job)
        luaL_error(L, "the session is busy: a job is running on it (close the job, or let it finish, before "
                      "using the session again)");
    if (ls->busy)
        luaL_error(L, "the session is busy: a generation is running on it (close its stream, or let it "
                      "finish, before using the session again)");
    return ls;
}

#endif
