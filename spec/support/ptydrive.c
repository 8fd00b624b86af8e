/*
 * ptydrive.c — runs a program on a pseudo-terminal and plays a script at it, as a
 * person at a terminal would (spec/95-terminal_spec.lua). Not a test by itself.
 *
 *   ptydrive [-t SECONDS] -o TRANSCRIPT SCRIPT -- PROGRAM [ARG...]
 *
 * SCRIPT has one step a line; TEXT takes C escapes (\n \r \t \e \\ \xHH):
 *   expect TEXT   wait until the program writes TEXT (after what the previous expect
 *                 matched); at most SECONDS (default 60), else the run fails
 *   send TEXT     write TEXT to the terminal (keys: \x03 is Ctrl-C, \e[D the left arrow)
 *   more N        wait until the program writes N more bytes after what the previous
 *                 expect matched (output whose text is not known: a model's answer)
 *   raw           wait until the terminal is out of canonical mode (a line editor reads
 *                 keys): what is sent before that is cooked by the terminal driver
 *   eof           wait until the program ends (at most SECONDS), and report its status
 * Lines that are empty or start with '#' are skipped.
 *
 * Everything the program writes goes to TRANSCRIPT. Standard output gets one line:
 * "ok N" (the script ran; N the exit status, or 128+signal, or -1 when the script did
 * not wait for the end) or "fail: step K: ..." — then the program is killed. The exit
 * status is 0 for "ok", 1 for "fail", 2 for a wrong command line. Every wait is bounded;
 * the program never outlives the driver.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char *out;          /* everything the program wrote */
static size_t out_len, out_cap, cursor;
static FILE *transcript;
static int master = -1;
static pid_t child = -1;
static int ended;          /* the terminal reported end (the program closed it) */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die_kill(void)
{
    if (child > 0) {
        kill(-child, SIGKILL);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = -1;
    }
}

static void append(const char *p, size_t n)
{
    if (out_len + n + 1 > out_cap) {
        size_t cap = out_cap ? out_cap * 2 : 65536;
        while (cap < out_len + n + 1) cap *= 2;
        char *b = realloc(out, cap);
        if (!b) {
            fprintf(stdout, "fail: out of memory\n");
            die_kill();
            exit(1);
        }
        out = b;
        out_cap = cap;
    }
    memcpy(out + out_len, p, n);
    out_len += n;
    out[out_len] = '\0';
    fwrite(p, 1, n, transcript);
    fflush(transcript);
}

/* Reads what the program wrote for up to `wait` seconds; 0 when the terminal ended. */
static int pump(double wait)
{
    if (ended) return 0;
    struct pollfd p = { .fd = master, .events = POLLIN };
    int ms = wait <= 0 ? 0 : (int)(wait * 1000) + 1;
    int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) return 1;
    if (r <= 0) return 1;
    char buf[4096];
    ssize_t n = read(master, buf, sizeof buf);
    if (n > 0) {
        append(buf, (size_t)n);
        return 1;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    ended = 1;  /* EIO: no process has the terminal open any more */
    return 0;
}

static size_t unescape(const char *s, char *d)
{
    size_t n = 0;
    while (*s) {
        if (*s != '\\' || !s[1]) {
            d[n++] = *s++;
            continue;
        }
        s++;
        switch (*s) {
        case 'n': d[n++] = '\n'; s++; break;
        case 'r': d[n++] = '\r'; s++; break;
        case 't': d[n++] = '\t'; s++; break;
        case 'e': d[n++] = 27; s++; break;
        case '\\': d[n++] = '\\'; s++; break;
        case 'x': {
            char hex[3] = { 0, 0, 0 };
            s++;
            for (int i = 0; i < 2 && *s; i++) hex[i] = *s++;
            d[n++] = (char)strtol(hex, NULL, 16);
            break;
        }
        default: d[n++] = *s++; break;
        }
    }
    return n;
}

static void *find(const char *hay, size_t hay_len, const char *needle, size_t n)
{
    if (n == 0) return (void *)hay;
    for (size_t i = 0; i + n <= hay_len; i++)
        if (memcmp(hay + i, needle, n) == 0) return (void *)(hay + i);
    return NULL;
}

static void fail_step(int step, const char *what, const char *arg)
{
    fprintf(stdout, "fail: step %d: %s%s%s\n", step, what, arg ? " " : "", arg ? arg : "");
    fflush(stdout);
    die_kill();
    exit(1);
}

int main(int argc, char **argv)
{
    double timeout = 60;
    const char *tpath = NULL;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) timeout = atof(argv[++i]);
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) tpath = argv[++i];
        else break;
    }
    /* layout: options, SCRIPT, --, PROGRAM... */
    int script_at = i, dash = i + 1;
    if (!tpath || script_at >= argc || dash >= argc || strcmp(argv[dash], "--") != 0 || dash + 1 >= argc) {
        fprintf(stderr, "usage: ptydrive [-t SECONDS] -o TRANSCRIPT SCRIPT -- PROGRAM [ARG...]\n");
        return 2;
    }
    FILE *script = fopen(argv[script_at], "r");
    if (!script) {
        fprintf(stderr, "ptydrive: %s: %s\n", argv[script_at], strerror(errno));
        return 2;
    }
    transcript = fopen(tpath, "w");
    if (!transcript) {
        fprintf(stderr, "ptydrive: %s: %s\n", tpath, strerror(errno));
        return 2;
    }
    struct winsize ws = { .ws_row = 40, .ws_col = 200 };
    child = forkpty(&master, NULL, NULL, &ws);
    if (child < 0) {
        fprintf(stdout, "fail: forkpty: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0) {
        execvp(argv[dash + 1], argv + dash + 1);
        fprintf(stderr, "ptydrive: %s: %s\n", argv[dash + 1], strerror(errno));
        _exit(127);
    }
    signal(SIGPIPE, SIG_IGN);

    char line[8192], text[8192];
    int step = 0, status = -1;
    while (fgets(line, sizeof line, script)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0 || line[0] == '#') continue;
        step++;
        if (strncmp(line, "expect ", 7) == 0) {
            size_t n = unescape(line + 7, text);
            double deadline = now() + timeout;
            for (;;) {
                char *at = find(out + cursor, out_len - cursor, text, n);
                if (out && at) {
                    cursor = (size_t)(at - out) + n;
                    break;
                }
                double left = deadline - now();
                if (left <= 0) fail_step(step, "timed out waiting for", line + 7);
                if (!pump(left > 0.2 ? 0.2 : left) && !find(out + cursor, out_len - cursor, text, n))
                    fail_step(step, "the program ended before writing", line + 7);
            }
        } else if (strncmp(line, "send ", 5) == 0) {
            size_t n = unescape(line + 5, text);
            size_t done = 0;
            while (done < n) {
                ssize_t w = write(master, text + done, n - done);
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) fail_step(step, "cannot write to the terminal:", strerror(errno));
                done += (size_t)w;
            }
            pump(0);
        } else if (strncmp(line, "more ", 5) == 0) {
            size_t want = (size_t)strtoul(line + 5, NULL, 10);
            double deadline = now() + timeout;
            while (out_len - cursor < want) {
                double left = deadline - now();
                if (left <= 0) fail_step(step, "timed out waiting for more output:", line + 5);
                if (!pump(left > 0.2 ? 0.2 : left) && out_len - cursor < want)
                    fail_step(step, "the program ended before writing more:", line + 5);
            }
            cursor += want;
        } else if (strcmp(line, "raw") == 0) {
            double deadline = now() + timeout;
            struct termios t;
            while (tcgetattr(master, &t) == 0 && (t.c_lflag & ICANON)) {
                double left = deadline - now();
                if (left <= 0) fail_step(step, "timed out waiting for a line editor to read keys", NULL);
                pump(left > 0.01 ? 0.01 : left);
            }
        } else if (strcmp(line, "eof") == 0) {
            double deadline = now() + timeout;
            int wst = 0;
            for (;;) {
                pid_t r = waitpid(child, &wst, WNOHANG);
                if (r == child) break;
                double left = deadline - now();
                if (left <= 0) fail_step(step, "timed out waiting for the program to end", NULL);
                pump(left > 0.1 ? 0.1 : left);
            }
            child = -1;
            while (pump(0.05)) {}  /* the rest of its output */
            status = WIFEXITED(wst) ? WEXITSTATUS(wst) : 128 + WTERMSIG(wst);
        } else {
            fprintf(stderr, "ptydrive: step %d: unknown step: %s\n", step, line);
            die_kill();
            return 2;
        }
    }
    fclose(script);
    die_kill();
    fclose(transcript);
    fprintf(stdout, "ok %d\n", status);
    free(out);
    return 0;
}
