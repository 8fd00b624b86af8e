/*
 * lineedit.c — module mobilellm.lineedit: line editing and history for the
 * prompts of `mobilellm chat` and `mobilellm agent`, on BSD libedit.
 *
 * A module of its own (build/mobilellm/lineedit.so), so that mobilellm.core
 * does not depend on libedit: the CLI falls back to plain reads without it.
 *
 *   open(prog)          -> an editor on the process's stdin/stdout, or nil, message
 *                          (stdin or stdout not a terminal)
 *   ed:read(prompt)     -> the line (no newline) | nil, "eof" (Ctrl-D on an empty
 *                          line, end of input) | nil, "interrupted", the text typed
 *                          so far (Ctrl-C: the line is dropped)
 *   ed:add(line)        -> adds a line to the history (blank and repeated lines are not)
 *   ed:load(path)       -> true | nil, message (the history file libedit writes)
 *   ed:save(path)       -> true | nil, message: the file is made mode 0600, its missing
 *                          directories 0700
 *   ed:close()          -> idempotent; __close and __gc too
 *
 * Signals: libedit's own handlers stay off (EL_SIGNAL 0). While `read` runs,
 * SIGINT has a handler of ours: libedit reads characters through read_char,
 * which ends the line at once when Ctrl-C came (before or during its wait);
 * el_gets then returns no line and puts the terminal's mode back, and so is the
 * previous handler (lua.c's, or mobilellm.core's on_interrupt) before `read`
 * returns "interrupted". At any other time SIGINT is not ours to handle.
 *
 * Characters: read_char decodes input in the LC_CTYPE locale, and libedit's key
 * maps take the locale's printable characters as text when they are made; lua.c
 * leaves LC_CTYPE at "C" (ASCII only), so it is set from the environment around
 * el_init, el_gets and the settings, and put back after: UTF-8 text can be typed
 * and edited. LC_NUMERIC and the rest are never touched.
 */
#define _GNU_SOURCE  /* pipe2, fdopen, strdup, O_NOFOLLOW */
#include "mobilellm_limits.h"

#include <lauxlib.h>
#include <lua.h>

#include <histedit.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#define EDITOR_MT "mobilellm.LineEditor"

typedef struct {
    EditLine *el;        /* NULL: closed */
    History *hist;
    char *prompt;        /* the prompt of the read under way (el's prompt function reads it) */
    char last[256];      /* LC_CTYPE to put back (the locale lua.c left) */
} editor;

/* Ctrl-C while a read waits: the handler (on whichever thread the signal lands)
 * sets the flag and writes a byte to a pipe that the reader polls beside the
 * terminal, so the read ends at once and no signal can slip in between a check
 * and a blocking read. */
static volatile sig_atomic_t interrupted;
static int wake[2] = { -1, -1 };

static void on_sigint(int sig)
{
    (void)sig;
    int saved = errno;
    interrupted = 1;
    if (wake[1] >= 0) {
        ssize_t w = write(wake[1], "!", 1);
        (void)w;
    }
    errno = saved;
}

/* libedit's character reader (EL_GETCFN): one character from the terminal,
 * decoded in the LC_CTYPE locale; 1, 0 at end of input, -1 (EINTR) on Ctrl-C. */
static int read_char(EditLine *el, wchar_t *wc)
{
    (void)el;
    char buf[MB_LEN_MAX];
    size_t n = 0;
    for (;;) {
        if (interrupted) {
            errno = EINTR;
            return -1;
        }
        struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = wake[0], .events = POLLIN } };
        int r = poll(p, wake[0] >= 0 ? 2 : 1, -1);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;  /* the wake pipe: the flag is set */
        char c;
        ssize_t k = read(STDIN_FILENO, &c, 1);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) return (int)k;
        buf[n++] = c;
        mbstate_t st;
        memset(&st, 0, sizeof st);
        size_t m = mbrtowc(wc, buf, n, &st);
        if (m == (size_t)-2 && n < sizeof buf) continue;   /* more bytes of one character */
        if (m == (size_t)-1 || m == (size_t)-2) {          /* not a character: dropped */
            n = 0;
            continue;
        }
        if (m == 0) *wc = 0;
        return 1;
    }
}

static char *prompt_fn(EditLine *el)
{
    editor *ed = NULL;
    el_get(el, EL_CLIENTDATA, &ed);
    return ed && ed->prompt ? ed->prompt : "";
}

/* LC_CTYPE from the environment while libedit works; `ctype_back` restores it. */
static void ctype_env(editor *ed)
{
    const char *cur = setlocale(LC_CTYPE, NULL);
    snprintf(ed->last, sizeof ed->last, "%s", cur ? cur : "C");
    if (!setlocale(LC_CTYPE, "")) setlocale(LC_CTYPE, "C.UTF-8");
}

static void ctype_back(editor *ed)
{
    setlocale(LC_CTYPE, ed->last);
}

static editor *check_editor(lua_State *L)
{
    editor *ed = luaL_checkudata(L, 1, EDITOR_MT);
    if (!ed->el) luaL_error(L, "attempt to use a closed line editor");
    return ed;
}

static int editor_close(lua_State *L)
{
    editor *ed = luaL_checkudata(L, 1, EDITOR_MT);
    if (ed->el) el_end(ed->el);
    if (ed->hist) history_end(ed->hist);
    free(ed->prompt);
    ed->el = NULL;
    ed->hist = NULL;
    ed->prompt = NULL;
    return 0;
}

/*** An editor on the terminal (stdin and stdout), or nil and a message. */
static int le_open(lua_State *L)
{
    const char *prog = luaL_optstring(L, 1, "mobilellm");
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        lua_pushnil(L);
        lua_pushliteral(L, "standard input and output are not both terminals");
        return 2;
    }
    /* pushed closed first: an error below leaves nothing to free */
    editor *ed = lua_newuserdatauv(L, sizeof *ed, 0);
    memset(ed, 0, sizeof *ed);
    luaL_setmetatable(L, EDITOR_MT);
    HistEvent ev;
    ed->hist = history_init();
    if (!ed->hist) {
        lua_pushnil(L);
        lua_pushliteral(L, "libedit: cannot make a history");
        return 2;
    }
    history(ed->hist, &ev, H_SETSIZE, MLLM_MAX_HISTORY_LINES);
    history(ed->hist, &ev, H_SETUNIQUE, 1);
    ctype_env(ed);
    ed->el = el_init(prog, stdin, stdout, stderr);
    if (!ed->el) {
        ctype_back(ed);
        editor_close(L);
        lua_pushnil(L);
        lua_pushliteral(L, "libedit: cannot start on this terminal");
        return 2;
    }
    el_set(ed->el, EL_CLIENTDATA, ed);
    el_set(ed->el, EL_SIGNAL, 0);
    el_wset(ed->el, EL_GETCFN, read_char);
    el_set(ed->el, EL_EDITOR, "emacs");
    el_set(ed->el, EL_PROMPT, prompt_fn);
    el_set(ed->el, EL_HIST, history, ed->hist);
    /* Tab is text here (there is nothing to complete): it inserts itself */
    el_set(ed->el, EL_BIND, "^I", "ed-insert", NULL);
    el_source(ed->el, NULL);  /* the user's ~/.editrc, as every libedit program */
    ctype_back(ed);           /* after the key maps, which bind the printable characters of the locale */
    return 1;
}

/*** Reads one edited line: the line, or nil and "eof" or "interrupted". */
static int editor_read(lua_State *L)
{
    editor *ed = check_editor(L);
    const char *prompt = luaL_optstring(L, 2, "");
    char *copy = strdup(prompt);
    if (!copy) return luaL_error(L, "not enough memory");
    free(ed->prompt);
    ed->prompt = copy;

    struct sigaction ours, before;
    memset(&ours, 0, sizeof ours);
    ours.sa_handler = on_sigint;
    sigemptyset(&ours.sa_mask);
    ours.sa_flags = 0;  /* no SA_RESTART: the poll of this thread returns at once too */
    interrupted = 0;
    char drain[64];
    while (wake[0] >= 0 && read(wake[0], drain, sizeof drain) > 0) {}
    sigaction(SIGINT, &ours, &before);
    ctype_env(ed);
    el_resize(ed->el);  /* the terminal may have changed size since the last read (SIGWINCH is not ours) */
    int count = 0;
    errno = 0;
    const char *line = el_gets(ed->el, &count);
    int err = errno;
    sigaction(SIGINT, &before, NULL);
    bool stopped = interrupted || (!line && err == EINTR);
    interrupted = 0;
    if (stopped) {
        /* what was typed, so that the caller tells a dropped line from an empty prompt
           (pushed before ctype_back: only the locale stays changed if it raises) */
        const LineInfo *li = el_line(ed->el);
        lua_pushlstring(L, li->buffer, (size_t)(li->lastchar - li->buffer));
        el_reset(ed->el);
    }
    ctype_back(ed);

    if (stopped) {
        lua_pushnil(L);
        lua_pushliteral(L, "interrupted");
        lua_rotate(L, -3, 2);  /* nil, "interrupted", the typed text */
        return 3;
    }
    if (!line || count <= 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "eof");
        return 2;
    }
    size_t n = (size_t)count;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    lua_pushlstring(L, line, n);
    return 1;
}

/*** Adds a line to the history (not a blank one). */
static int editor_add(lua_State *L)
{
    editor *ed = check_editor(L);
    size_t n;
    const char *line = luaL_checklstring(L, 2, &n);
    if (n > 0 && strspn(line, " \t") < n && !memchr(line, '\n', n)) {
        HistEvent ev;
        history(ed->hist, &ev, H_ENTER, line);
    }
    return 0;
}

static int fail(lua_State *L, const char *path, const char *what, int e)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s: %s", path, what, strerror(e));
    return 2;
}

/*** Loads the history from a file. */
static int editor_load(lua_State *L)
{
    editor *ed = check_editor(L);
    const char *path = luaL_checkstring(L, 2);
    HistEvent ev;
    errno = 0;
    if (history(ed->hist, &ev, H_LOAD, path) < 0) return fail(L, path, "cannot read", errno ? errno : EINVAL);
    lua_pushboolean(L, 1);
    return 1;
}

/* mkdir -p of path's directory, each new one mode 0700 */
static int make_parents(const char *path)
{
    size_t n = strlen(path);
    if (n >= MLLM_MAX_PATH) return ENAMETOOLONG;
    char buf[MLLM_MAX_PATH];
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (buf[i] != '/') continue;
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return errno;
        buf[i] = '/';
    }
    return 0;
}

/*** Saves the history to a file (mode 0600; missing directories made 0700). */
static int editor_save(lua_State *L)
{
    editor *ed = check_editor(L);
    const char *path = luaL_checkstring(L, 2);
    int e = make_parents(path);
    if (e) return fail(L, path, "cannot make its directory", e);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return fail(L, path, "cannot write", errno);
    FILE *f = fdopen(fd, "w");
    if (!f) {
        e = errno;
        close(fd);
        return fail(L, path, "cannot write", e);
    }
    HistEvent ev;
    errno = 0;
    int r = history(ed->hist, &ev, H_SAVE_FP, f);
    e = errno;
    if (fclose(f) != 0 && r >= 0) {
        r = -1;
        e = errno;
    }
    if (r < 0) return fail(L, path, "cannot write", e ? e : EIO);
    lua_pushboolean(L, 1);
    return 1;
}

static int editor_tostring(lua_State *L)
{
    editor *ed = luaL_checkudata(L, 1, EDITOR_MT);
    lua_pushstring(L, ed->el ? "mobilellm.LineEditor (libedit)" : "mobilellm.LineEditor (closed)");
    return 1;
}

static const luaL_Reg editor_meta[] = {
    {"__gc", editor_close},
    {"__close", editor_close},
    {"__tostring", editor_tostring},
    {NULL, NULL},
};

static const luaL_Reg editor_methods[] = {
    {"read", editor_read},
    {"add", editor_add},
    {"load", editor_load},
    {"save", editor_save},
    {"close", editor_close},
    {NULL, NULL},
};

static const luaL_Reg module_funcs[] = {
    {"open", le_open},
    {NULL, NULL},
};

__attribute__((visibility("default"))) int luaopen_mobilellm_lineedit(lua_State *L)
{
    luaL_newmetatable(L, EDITOR_MT);
    luaL_setfuncs(L, editor_meta, 0);
    luaL_newlib(L, editor_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    if (wake[0] < 0 && pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) wake[0] = wake[1] = -1;  /* then poll the terminal alone */
    luaL_newlib(L, module_funcs);
    lua_pushliteral(L, "libedit");
    lua_setfield(L, -2, "backend");
    return 1;
}
