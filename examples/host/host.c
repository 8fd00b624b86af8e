/*
 * host.c — a small "game engine" that embeds Lua 5.4 the way a game or an app does, and runs
 * the NPC of examples/game_npc.lua frame by frame.
 *
 * The engine owns the world (the player's inventory, where the NPC stands) and exposes two
 * host functions to Lua, give_item(item, count) and move_to(place), in a table `game` that
 * it hands to the script (plus its clock, for the frame budget). Each frame it calls npc:update(budget): the NPC's model generates
 * until the frame's budget is spent, then yields back, so no frame is blocked for long. The
 * player's lines arrive at fixed frames. At the end the engine prints the world and a frame
 * time summary.
 *
 *   make examples && build/examples/host [MODEL_DIR] [BUDGET_MS]
 *
 * Run it from the repository (it finds lua/ and build/ relative to the current directory).
 * Without MODEL_DIR it uses models/mobilellm-tiny-api, or the random-weight fixture when the
 * shipped model is not there (then each line is forced to be a call: call = "required").
 * Exit status: 0 when every line of the player was answered.
 */
#define _POSIX_C_SOURCE 200809L
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ITEMS 16
#define MAX_FRAMES 20000

/* ---------------------------------------------------------------- the world */

static struct {
    char items[MAX_ITEMS][32];
    int counts[MAX_ITEMS];
    int n_items;
    char npc_place[32];
    int frame;
} world = { .npc_place = "forge" };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* game.give_item(item, count) -> "The player now has N item." */
static int host_give_item(lua_State *L)
{
    const char *item = luaL_checkstring(L, 1);
    lua_Integer count = luaL_optinteger(L, 2, 1);
    luaL_argcheck(L, count >= 1 && count <= 99, 2, "count must be in [1, 99]");
    int i = 0;
    while (i < world.n_items && strcmp(world.items[i], item) != 0) i++;
    if (i == world.n_items) {
        if (world.n_items == MAX_ITEMS) return luaL_error(L, "the inventory is full");
        snprintf(world.items[i], sizeof world.items[i], "%s", item);
        world.counts[i] = 0;
        world.n_items++;
    }
    world.counts[i] += (int)count;
    printf("[frame %4d] (host) give_item: the player gets %d %s\n", world.frame, (int)count, item);
    lua_pushfstring(L, "The player now has %d %s.", world.counts[i], item);
    return 1;
}

/* game.move_to(place): the NPC walks there; nothing to report back. */
static int host_move_to(lua_State *L)
{
    const char *place = luaL_checkstring(L, 1);
    snprintf(world.npc_place, sizeof world.npc_place, "%s", place);
    printf("[frame %4d] (host) move_to: the NPC walks to the %s\n", world.frame, place);
    return 0;
}

/* The engine's clock (seconds), which the NPC measures its frame budget with. */
static int host_clock(lua_State *L)
{
    lua_pushnumber(L, now());
    return 1;
}

/* ---------------------------------------------------------------- Lua helpers */

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* Calls the function below its nargs arguments under a traceback; exits on error. */
static void call(lua_State *L, int nargs, int nres, const char *what)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    if (lua_pcall(L, nargs, nres, base) != LUA_OK) {
        fprintf(stderr, "host: %s: %s\n", what, lua_tostring(L, -1));
        exit(2);
    }
    lua_remove(L, base);
}

/* npc:method(text) */
static void npc_call1(lua_State *L, int npc, const char *method, const char *text)
{
    lua_getfield(L, npc, method);
    lua_pushvalue(L, npc);
    lua_pushstring(L, text);
    call(L, 2, 0, method);
}

static int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

int main(int argc, char **argv)
{
    const char *shipped = "models/mobilellm-tiny-api";
    const char *dir = argc > 1 ? argv[1] : exists("models/mobilellm-tiny-api/config.json") ? shipped
                                                                                       : "spec/fixtures/models/bf16-vocab32k";
    double budget = (argc > 2 ? atof(argv[2]) : 4.0) / 1e3;
    int untrained = strstr(dir, "spec/fixtures") != NULL;
    static const struct { int frame; const char *text; } lines[] = {
        { 1, "Hello! Could you give me a sword? I have a long road ahead." },
        { 60, "Thanks. Meet me at the tavern tonight." },
    };
    int n_lines = (int)(sizeof lines / sizeof lines[0]);

    lua_State *L = luaL_newstate();
    if (!L) return 2;
    luaL_openlibs(L);

    /* the script: returns its module */
    if (luaL_loadfile(L, "examples/game_npc.lua") != LUA_OK) {
        fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
        return 2;
    }
    call(L, 0, 1, "examples/game_npc.lua");
    int mod = lua_gettop(L);

    /* the model: require("mobilellm").load(dir, { threads = 1 }) */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "mobilellm");
    call(L, 1, 1, "require");
    lua_getfield(L, -1, "load");
    lua_pushstring(L, dir);
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, 1);
    lua_setfield(L, -2, "threads");
    call(L, 2, 2, "mllm.load");
    if (lua_isnil(L, -2)) {
        fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
        return 2;
    }
    lua_pop(L, 1);
    int model = lua_gettop(L);

    /* the two host functions, in the table the NPC acts through */
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, host_give_item);
    lua_setfield(L, -2, "give_item");
    lua_pushcfunction(L, host_move_to);
    lua_setfield(L, -2, "move_to");
    int game = lua_gettop(L);

    /* npc = M.new(model, game, { clock = the engine's clock, call = "required" when the weights
     * are random }) */
    lua_getfield(L, mod, "new");
    lua_pushvalue(L, model);
    lua_pushvalue(L, game);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, host_clock);
    lua_setfield(L, -2, "clock");
    if (untrained) {
        lua_pushliteral(L, "required");
        lua_setfield(L, -2, "call");
    }
    call(L, 3, 1, "new");
    int npc = lua_gettop(L);
    printf("host: %s, budget %.1f ms per frame%s\n", dir, budget * 1e3,
           untrained ? " (random weights: every line is forced to be a call)" : "");

    int next_line = 0, answered = 0, busy = 0;
    double worst = 0, total = 0;
    for (world.frame = 1; world.frame <= MAX_FRAMES; world.frame++) {
        if (next_line < n_lines && lines[next_line].frame == world.frame) {
            printf("[frame %4d] Player: %s\n", world.frame, lines[next_line].text);
            npc_call1(L, npc, "hear", lines[next_line].text);
            next_line++;
        }
        /* status, result = npc:update(budget) */
        double t0 = now();
        lua_getfield(L, npc, "update");
        lua_pushvalue(L, npc);
        lua_pushnumber(L, budget);
        call(L, 2, 2, "update");
        double dt = now() - t0;
        const char *status = lua_tostring(L, -2);
        if (status && strcmp(status, "idle") != 0) {
            busy++;
            total += dt;
            if (dt > worst) worst = dt;
        }
        if (status && strcmp(status, "answered") == 0) {
            answered++;
            lua_getfield(L, -1, "reply");
            printf("[frame %4d] NPC: %s\n", world.frame, lua_tostring(L, -1));
            lua_pop(L, 1);
            lua_getfield(L, -1, "calls");
            lua_Integer n = luaL_len(L, -1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_geti(L, -1, i);
                lua_getfield(L, -1, "raw");
                lua_getfield(L, -2, "ok");
                printf("[frame %4d]   call %s: %s\n", world.frame, lua_tostring(L, -2) ? lua_tostring(L, -2) : "(malformed)",
                       lua_toboolean(L, -1) ? "ok" : "failed");
                lua_pop(L, 3);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
        if (status && strcmp(status, "idle") == 0 && next_line == n_lines) break;
    }

    printf("host: %d frames, %d spent thinking, longest %.1f ms, average %.1f ms (budget %.1f ms)\n", world.frame, busy,
           worst * 1e3, busy ? total / busy * 1e3 : 0.0, budget * 1e3);
    printf("host: the NPC is at the %s; inventory:", world.npc_place);
    for (int i = 0; i < world.n_items; i++) printf(" %d %s", world.counts[i], world.items[i]);
    printf("%s\n", world.n_items ? "" : " empty");
    printf("host: %d of %d lines answered\n", answered, n_lines);

    lua_getfield(L, npc, "close");
    lua_pushvalue(L, npc);
    call(L, 1, 0, "close");
    lua_close(L);
    return answered == n_lines ? 0 : 1;
}
