/*
 * test_reply_rule.c - the reply rule and the rule that no value is changed (src/calls/constrain.h)
 * without Lua: mllm_constraint_set_reply_rule, an enum's copy of the user's words, integers'
 * bounds left to validation. Prints TAP-style lines; exits non-zero when a check fails.
 */
#include "calls/constrain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

static const char *const APPS[] = { "sms", "whatsapp", "email" };
static const mllm_tool_param SEND[] = {
    { "recipient", true, { MLLM_PARAM_STRING, NULL, 0, false, false, 0, 0, NULL } },
    { "app", false, { MLLM_PARAM_ENUM, APPS, 3, false, false, 0, 0, NULL } },
};
static const mllm_tool_param VOLUME[] = {
    { "level", true, { MLLM_PARAM_INTEGER, NULL, 0, true, true, 0, 100, NULL } },
};
static const mllm_tool_schema TOOLS[] = { { "send_message", SEND, 2 }, { "set_volume", VOLUME, 1 } };

static const char *const WORDS[] = { "Message", "sent", "to", "on", "Volume", "set", "You're", "welcome", "Here's" };
static const char *const GAPS[] = { " ", ". ", ", ", ": ", "! " };
static const char *const REPEATABLE[] = { "to" };

static mllm_status set_rule(mllm_constraint *c, const char *const *words, size_t n, const char *const *gaps,
                            size_t n_gaps, const char *const *rep, size_t n_rep, const char *const *follows,
                            size_t n_follows, char *err, size_t errlen)
{
    static const char *const end_gaps[] = { ".", "!" };
    mllm_reply_rule r = { words, n, gaps, n_gaps, end_gaps, 2, rep, n_rep, follows, n_follows };
    return mllm_constraint_set_reply_rule(c, &r, err, errlen);
}

static int where(mllm_constraint *c, const char *text)
{
    return (int)mllm_constraint_check(c, text, strlen(text), NULL, NULL, 0);
}

static mllm_constraint *new_constraint(const mllm_vocab_trie *v, size_t max_calls)
{
    mllm_constraint_params p = mllm_constraint_default_params();
    p.max_calls = max_calls;
    mllm_constraint *c = NULL;
    char err[256];
    if (mllm_constraint_new(TOOLS, 2, v, &p, &c, err, sizeof err) != MLLM_OK) {
        check(0, err);
        return NULL;
    }
    return c;
}

static void test_values_unchanged(void)
{
    mllm_constraint *c = new_constraint(NULL, 0);
    if (!c) return;
    char err[256];
    check(where(c, "<tool_call>set_volume(level=150)</tool_call>") == MLLM_CST_FREE,
          "an integer over its maximum is written whole (validation reports it), never cut to 15");
    check(where(c, "<tool_call>send_message(recipient=\"Bob\", app=\"telegram") == MLLM_CST_INVALID,
          "without a source an enum takes only its values");
    const char *src = "send a telegram to Bob saying hi";
    check(mllm_constraint_set_source(c, src, strlen(src), err, sizeof err) == MLLM_OK, "a source is taken");
    check(where(c, "<tool_call>send_message(recipient=\"Bob\", app=\"telegram\")</tool_call>") == MLLM_CST_FREE,
          "with a source an enum takes the user's own word (validation names the values)");
    check(where(c, "<tool_call>send_message(recipient=\"Bob\", app=\"sms\")</tool_call>") == MLLM_CST_FREE,
          "and its values still");
    check(where(c, "<tool_call>send_message(recipient=\"Bob\", app=\"tele\"") == MLLM_CST_INVALID,
          "a copy in an enum is whole words, as in a string");
    check(where(c, "<tool_call>send_message(recipient=\"Bob\", app=\"fax") == MLLM_CST_INVALID,
          "an enum value that is neither a value nor the user's words is refused");
    mllm_constraint_free(c);
}

static void test_reply_words(void)
{
    mllm_constraint *c = new_constraint(NULL, 1);
    if (!c) return;
    char err[256];
    const char *msg = "Message sent to Priya.";
    check(where(c, "Message sent toмов") == MLLM_CST_FREE, "without the rule text outside calls is free");
    check(set_rule(c, WORDS, 9, GAPS, 5, REPEATABLE, 1, NULL, 0, err, sizeof err) == MLLM_OK, "reply words are taken");
    check(where(c, "Message sent toмов") == MLLM_CST_INVALID, "the rule holds without a source too");
    check(where(c, "Message sent to Priya") == MLLM_CST_INVALID, "(where nothing can be copied)");
    const char *src = "text Priya I'm on my way";
    mllm_constraint_set_source(c, src, strlen(src), err, sizeof err);
    check(where(c, msg) == MLLM_CST_FREE, "reply words and the source's words pass");
    check(where(c, "Message sent toмов") == MLLM_CST_INVALID, "a word of neither is refused (other scripts)");
    check(where(c, "Message sent to Sriya") == MLLM_CST_INVALID, "a made-up name is refused");
    check(where(c, "Message sent to Text Priya.") == MLLM_CST_FREE, "a sentence's first letter in either case");
    check(where(c, "Message sent to priya") == MLLM_CST_INVALID, "a name as the source writes it");
    check(where(c, "Message sent to PRiya") == MLLM_CST_INVALID, "its other letters as the source has them");
    check(where(c, "Message sent to Pri.") == MLLM_CST_INVALID, "a source word is copied whole");
    check(where(c, "Message sentto") == MLLM_CST_INVALID, "words are separated by a gap");
    check(where(c, "Message  sent") == MLLM_CST_INVALID, "a gap is one of the replies' gaps (not two spaces)");
    check(where(c, "Message sent to ../") == MLLM_CST_INVALID, "nor other marks");
    check(where(c, "Message sent to.Priya") == MLLM_CST_INVALID, "an end gap ends the reply: no word after it");
    check(where(c, "<tool_call>send_message(recipient=\"Priya\")</tool_call> Message sent to Priya.") == MLLM_CST_FREE,
          "a call, then a reply after it");
    check(where(c, "<tool_call>send_message(recipient=\"Priya\")</tool_call> Message <") == MLLM_CST_INVALID,
          "no tag once the last call allowed has been made");
    check(where(c, "Here's <tool_call>set_volume(level=5)</tool_call>") == MLLM_CST_INVALID,
          "no call inside a reply: it comes first");
    check(where(c, "<x") == MLLM_CST_INVALID, "once the tag begins only the tag follows");
    check(where(c, "Message sent to Message.") == MLLM_CST_INVALID, "a reply word comes once");
    check(where(c, "Message sent to Priya to Priya.") == MLLM_CST_FREE, "unless it is repeatable ('to')");
    /* follows: "sent" only after "Message", a value only after "to", "to" only after "sent" */
    static const char *const follows[] = { "<start>", "Message", "<start> Message", "sent", "Message sent", "to",
                                           "sent to", "<value>", "to <value>", "on", "to <value>", "<end>",
                                           "<value> on", "<value>", "on <value>", "<end>", "<start>", "You're",
                                           "<start> You're", "welcome", "You're welcome", "<end>" };
    check(set_rule(c, WORDS, 9, GAPS, 5, REPEATABLE, 1, follows, 11, err, sizeof err) == MLLM_OK, err);
    check(where(c, "Message sent to Priya on my way.") == MLLM_CST_FREE, "a value, 'on', a value");
    check(where(c, "You're welcome!") == MLLM_CST_FREE, "another reply of the replies");
    check(where(c, "You're sent") == MLLM_CST_INVALID, "a word never seen after the two before is refused");
    check(where(c, "Message sent to Priya.") == MLLM_CST_FREE, "words in an order of the replies pass");
    check(where(c, "Message to") == MLLM_CST_INVALID, "a word never seen after the one before is refused");
    check(where(c, "Message sent to Message") == MLLM_CST_INVALID, "after 'to' only a value");
    check(where(c, "Priya") == MLLM_CST_INVALID, "a reply does not begin with a value when none may");
    static const char *const bad_follows[] = { "to", "<value>" };
    check(set_rule(c, WORDS, 9, GAPS, 5, NULL, 0, bad_follows, 1, err, sizeof err) == MLLM_ERR_ARG &&
              strstr(err, "follows 1") != NULL, err);
    check(set_rule(c, WORDS, 9, GAPS, 5, REPEATABLE, 1, NULL, 0, err, sizeof err) == MLLM_OK, "no follows: any order");
    static const char *const not_a_word[] = { "sms" };
    check(set_rule(c, WORDS, 9, GAPS, 5, not_a_word, 1, NULL, 0, err, sizeof err) == MLLM_ERR_ARG &&
              strstr(err, "repeatable word 1") != NULL, err);

    static const char *const bad_word[] = { "ok", "no way" }, *const bad_gap[] = { "x" };
    check(set_rule(c, bad_word, 2, GAPS, 5, NULL, 0, NULL, 0, err, sizeof err) == MLLM_ERR_ARG &&
              strstr(err, "reply word 2") != NULL, err);
    check(set_rule(c, WORDS, 9, bad_gap, 1, NULL, 0, NULL, 0, err, sizeof err) == MLLM_ERR_ARG &&
              strstr(err, "reply gap 1") != NULL, err);
    check(where(c, "Message sent toмов") == MLLM_CST_INVALID, "a refused list leaves the rule as it was");
    check(mllm_constraint_set_reply_rule(c, NULL, err, sizeof err) == MLLM_OK &&
              where(c, "Message sent toмов") == MLLM_CST_FREE, "no words removes the rule");
    mllm_constraint_free(c);
}

/* Masks: a control token (EOS) only where the text may end; the pieces of other scripts never. */
static void test_reply_mask(void)
{
    static const char *const pieces[] = { "", " Message", " sent", " to", " Pri", "ya", ".", " мов", " S", "riya", "<",
                                          "tool", "_call", ">", "  " };
    enum { N = sizeof pieces / sizeof pieces[0] };
    size_t off[N + 1] = { 0 };
    char bytes[256] = "";
    for (int i = 0; i < N; i++) {
        strcat(bytes, pieces[i]);
        off[i + 1] = off[i] + strlen(pieces[i]);
    }
    mllm_vocab_trie *v = NULL;
    char err[256];
    if (mllm_vocab_trie_new(bytes, off, N, &v, err, sizeof err) != MLLM_OK) {
        check(0, err);
        return;
    }
    mllm_constraint *c = new_constraint(v, 1);
    if (!c) {
        mllm_vocab_trie_free(v);
        return;
    }
    const char *src = "text Priya I'm on my way";
    mllm_constraint_set_source(c, src, strlen(src), err, sizeof err);
    set_rule(c, WORDS, 9, GAPS, 5, REPEATABLE, 1, NULL, 0, err, sizeof err);
    uint8_t allowed[N];
    int n = 0;
    const char *text = "Message sent to";
    check(mllm_constraint_allowed(c, text, strlen(text), allowed, &n, err, sizeof err) == MLLM_OK, err);
    check(allowed[4] && !allowed[7] && !allowed[8] && !allowed[14], "after 'to': ' Pri', not ' мов', ' S' or two spaces");
    check(allowed[0], "EOS after a whole word");
    text = "Message sent to Pri";
    mllm_constraint_allowed(c, text, strlen(text), allowed, &n, err, sizeof err);
    check(allowed[5] && !allowed[0] && !allowed[6], "inside a copied word: its rest, no EOS, no '.'");
    text = "Message sent to Priya";
    mllm_constraint_allowed(c, text, strlen(text), allowed, &n, err, sizeof err);
    check(allowed[0] && allowed[6] && !allowed[10], "after it: EOS, '.', no tag (a call comes before the reply)");
    mllm_constraint_allowed(c, "", 0, allowed, &n, err, sizeof err);
    check(allowed[10], "the tag where the reply begins");
    mllm_constraint_free(c);
    mllm_vocab_trie_free(v);
}

int main(void)
{
    test_values_unchanged();
    test_reply_words();
    test_reply_mask();
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed != 0;
}
