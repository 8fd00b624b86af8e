/* job_host.c — a C host (no Lua) that generates inside a fake 60 fps frame
 * loop with mllm_job: first a stepwise job given a budget each frame, then an
 * async job polled each frame. Prints the answer as it arrives and, for each
 * mode, the worst and 99th-percentile time a frame spent on the model (figures,
 * not a test). Built by `make examples`:
 *
 *   build/examples/job_host [MODEL_DIR] [PROMPT]
 */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_MS (1000.0 / 60.0)
#define BUDGET_MS 4.0
#define MAX_FRAMES 6000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_until(double t_ms)
{
    double d = t_ms - now_ms();
    if (d <= 0) return;
    struct timespec ts = { (time_t)(d / 1e3), (long)(((long long)(d * 1e6)) % 1000000000LL) };
    nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs one job to its end in the frame loop; async: poll, else step. */
static int run(mllm_session *s, const int32_t *ids, size_t n, bool async)
{
    char err[MLLM_ERRLEN];
    mllm_job_params jp = mllm_job_default_params();
    jp.async = async;
    jp.gen.max_tokens = 48;
    jp.gen.stops[0] = "\n";
    jp.gen.n_stops = 1;
    mllm_job *j = NULL;
    if (mllm_job_start(s, ids, n, &jp, &j, err, sizeof err) != MLLM_OK) {
        fprintf(stderr, "job_host: %s\n", err);
        return 1;
    }
    static double spent[MAX_FRAMES];
    int frames = 0, worst_frame = 0;
    double worst = 0;
    mllm_status st = MLLM_OK;
    printf("%s: ", async ? "async, polled each frame" : "stepwise, 4 ms per frame");
    double next = now_ms();
    while (st == MLLM_OK && frames < MAX_FRAMES) {
        /* ... the game's own work of the frame would be here ... */
        const char *text;
        size_t len;
        double t0 = now_ms();
        st = async ? mllm_job_poll(j, &text, &len, err, sizeof err)
                   : mllm_job_step(j, BUDGET_MS, &text, &len, err, sizeof err);
        spent[frames] = now_ms() - t0;
        if (spent[frames] > worst) {
            worst = spent[frames];
            worst_frame = frames + 1;
        }
        frames++;
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        next += FRAME_MS;
        sleep_until(next);
    }
    mllm_generate_info info;
    mllm_job_info(j, &info);
    mllm_job_free(j);
    if (st != MLLM_DONE) {
        fprintf(stderr, "\njob_host: %s\n", st == MLLM_OK ? "too many frames" : err);
        return 1;
    }
    qsort(spent, (size_t)frames, sizeof spent[0], cmp_double);
    printf("\n  %d frames, %d prompt + %d generated tokens (stop: %s); time per frame in the model: "
           "worst %.2f ms (frame %d), p99 %.2f ms, median %.3f ms\n",
           frames, info.prompt_tokens, info.generated_tokens, mllm_stop_reason_name(info.stop), worst, worst_frame,
           spent[(frames * 99) / 100 < frames ? (frames * 99) / 100 : frames - 1], spent[frames / 2]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "models/mobilellm-tiny-api";
    /* the shipped model's chat format (lua/mobilellm/chat.lua renders it from apis.json) */
    const char *prompt = argc > 2 ? argv[2]
                                  : "Tools: set_alarm(time,day?,label?) set_timer(duration,label?) "
                                    "create_reminder(text,time,day?) send_message(recipient,text,app?) "
                                    "call_contact(name,video?) get_weather(city,day?) "
                                    "create_event(title,day,time?,location?) play_music(query,shuffle?) "
                                    "set_volume(level) navigate(destination,mode?) toggle_setting(setting,on) "
                                    "search_web(query)\nUser: Wake me up at 6:45 am tomorrow.\nAssistant:";
    char err[MLLM_ERRLEN];
    mllm_model *m = NULL;
    /* one thread, as a game gives the model: the frame's other work has the other cores, and a
       pool's threads woken once a frame would each bring the frame a scheduler's latency */
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = 1;
    if (mllm_model_load(dir, &mp, &m, err, sizeof err) != MLLM_OK) {
        fprintf(stderr, "job_host: %s\n", err);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = 1;
    if (mllm_tokenizer_encode(mllm_model_tokenizer(m), prompt, strlen(prompt), true, &ids, &n, err, sizeof err) ==
        MLLM_OK) {
        rc = 0;
        for (int async = 0; async < 2 && rc == 0; async++) {
            mllm_session *s = NULL;
            if (mllm_session_new(m, NULL, &s, err, sizeof err) != MLLM_OK) {
                fprintf(stderr, "job_host: %s\n", err);
                rc = 1;
                break;
            }
            rc = run(s, ids, n, async);
            mllm_session_free(s);
        }
    } else {
        fprintf(stderr, "job_host: %s\n", err);
    }
    free(ids);
    mllm_model_release(m);
    return rc;
}
