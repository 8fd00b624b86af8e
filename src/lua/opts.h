/* opts.h — the one reader of Lua option tables, for every binding file.
 *
 * mllm_lua_opts reads an options table exactly once: each known name through
 * lua_getfield (so a proxy's __index runs once per name) into a fresh plain
 * table that it pushes. The getters below read that snapshot raw, so every
 * string or object C borrows from it stays anchored while the snapshot is on
 * the stack, and two reads of one option always see the same value. A raw key
 * of the caller's table that is not a known name raises ("unknown option"),
 * naming the name it most likely meant ("did you mean 'max_tokens'?": the
 * nearest by edit distance, letters without case, at most 2 edits and a third
 * of the key's length; mobilellm.options has the same rule) or else listing the
 * names, so a misspelled option is never silently ignored. */
#ifndef MLLM_LUA_OPTS_H
#define MLLM_LUA_OPTS_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

/* t: a table, or none/nil for no options. names: NULL-terminated. what: the
 * call the options are for, in messages ("generate"). Pushes the snapshot and
 * returns its absolute index. */
int mllm_lua_opts(lua_State *L, int t, const char *const *names, const char *what);

/* Getters on a snapshot o: nil gives def; a wrong type or a value out of range
 * raises, naming the option. */
lua_Integer mllm_lua_opt_int(lua_State *L, int o, const char *key, lua_Integer def, lua_Integer lo,
                             lua_Integer hi);
double mllm_lua_opt_num(lua_State *L, int o, const char *key, double def, double lo, double hi);
bool mllm_lua_opt_bool(lua_State *L, int o, const char *key, bool def);
/* A string (NULL when nil) anchored in o; a NUL byte inside raises (C would
 * silently cut the string there). *len may be NULL. */
const char *mllm_lua_opt_str(lua_State *L, int o, const char *key, size_t *len);
/* Pushes o[key] and returns its Lua type (LUA_TNIL when absent). */
int mllm_lua_opt_push(lua_State *L, int o, const char *key);
/* o[key] is nil or a function (raises otherwise); returns whether it is set. */
bool mllm_lua_opt_func(lua_State *L, int o, const char *key);

/* The string argument arg as a path: raises when it holds a NUL byte, which
 * would make C open another file than the one named. */
const char *mllm_lua_check_path(lua_State *L, int arg);

#endif
