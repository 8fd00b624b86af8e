/*
 * constrain.h — constrained decoding of tool calls (no Lua needed).
 *
 * While the model writes a call, only tokens that keep the generated text a valid prefix of
 *
 *     <tool_call>NAME(arg=value, arg=value)</tool_call>
 *
 * may be sampled: NAME one of the registered tools, each argument a parameter of that tool
 * given at most once, each value of the parameter's type, ')' only once every required
 * parameter is present. The grammar never changes a value the user gave into another one: an
 * integer's bounds are left to validation (150 against max 100 stays 150, and validation says
 * so, where cutting digits would give 15), and with a source (mllm_constraint_set_source) an
 * enum takes a copy of the user's words as well as its values ("telegram" reaches validation
 * rather than becoming "sms"). Outside a call nothing is masked, unless the reply rule is set
 * (mllm_constraint_set_reply_rule). The grammar is the trained format,
 * tight on purpose: no spaces except one optional space after ',' and ':'; strings in double
 * quotes with the escapes \" \\ \/ \n \r \t, valid UTF-8, no control bytes. Everything the
 * grammar admits is accepted by the call parser (mobilellm_calls.h) and by the schema.
 *
 * Two objects:
 *   mllm_vocab_trie   the bytes of every token of a vocabulary, sorted into a byte trie;
 *                     immutable, built once per tokenizer, shared by many constraints.
 *   mllm_constraint   the tools' grammar bound to a vocab trie, plus a cache of the parse
 *                     state of the text seen last. Mutable: one generation at a time.
 *
 * Cost: outside a call only the tokens that hold the last byte of the opening tag are
 * checked; inside a call a depth-first walk of the trie steps the parse state byte by byte
 * and prunes every subtree at its first bad byte; inside a string value plain tokens are
 * accepted from a precomputed flag. The state of the text so far is kept between calls, so
 * each token costs only the new bytes.
 */
#ifndef MLLM_CONSTRAIN_H
#define MLLM_CONSTRAIN_H

#include "mobilellm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits: every error that hits one names it and its value. */
#define MLLM_CST_MAX_PARAMS 64         /* parameters of one tool */
#define MLLM_CST_MAX_TOOLS 4096        /* tools of one constraint */
#define MLLM_CST_MAX_DEPTH 8           /* nested arrays/objects in one value */
#define MLLM_CST_MAX_VALUES 4096       /* values of one enum */
#define MLLM_CST_MAX_INT_DIGITS 18     /* digits of an integer (always fits int64) */
#define MLLM_CST_MAX_FRAC_DIGITS 15    /* digits after the '.' of a number */
#define MLLM_CST_MAX_EXP_DIGITS 2      /* digits of a number's exponent (never overflows a double) */
#define MLLM_CST_DEFAULT_MAX_STRING 256 /* bytes of a string value as written (escapes count 2) */
#define MLLM_CST_MAX_TITLES 64        /* titles of the copy rule (mllm_constraint_set_titles) */
#define MLLM_CST_MAX_TITLE_BYTES 15   /* bytes of one title */
#define MLLM_CST_MAX_REPLY_WORDS 65536  /* words, gaps, follows of the reply rule (mllm_constraint_set_reply_rule) */
#define MLLM_CST_MAX_REPLY_WORD_BYTES 64 /* bytes of one reply word */
#define MLLM_CST_REPLY_TRACKED_WORDS 256 /* reply words (the first, in order) held to "once" and follows */

/* ---------------------------------------------------------------- vocabulary */

typedef struct mllm_vocab_trie mllm_vocab_trie;

/* Builds the trie of n_vocab pieces: piece i is bytes[offsets[i] .. offsets[i + 1]) (offsets has
 * n_vocab + 1 entries). Empty pieces (control tokens: BOS, EOS, ...) can never be part of a
 * call. MLLM_ERR_ARG for bad offsets, MLLM_ERR_NOMEM. */
mllm_status mllm_vocab_trie_new(const char *bytes, const size_t *offsets, int n_vocab,
                                mllm_vocab_trie **out, char *err, size_t errlen);
/* The same from a tokenizer's pieces (mllm_tokenizer_piece); n_vocab may exceed the tokenizer's
 * size (a model's padded vocabulary): the extra ids are empty. */
mllm_status mllm_vocab_trie_from_tokenizer(const mllm_tokenizer *t, int n_vocab,
                                           mllm_vocab_trie **out, char *err, size_t errlen);
void mllm_vocab_trie_free(mllm_vocab_trie *v);
int mllm_vocab_trie_size(const mllm_vocab_trie *v);     /* n_vocab */
size_t mllm_vocab_trie_nodes(const mllm_vocab_trie *v); /* nodes, for statistics */

/* -------------------------------------------------------------------- schema */

typedef enum mllm_param_type {
    MLLM_PARAM_ANY = 0,   /* any JSON value: string, number, true/false/null, array, object */
    MLLM_PARAM_STRING,
    MLLM_PARAM_INTEGER,
    MLLM_PARAM_NUMBER,
    MLLM_PARAM_BOOLEAN,
    MLLM_PARAM_ENUM,      /* one of `values`, written as a double-quoted string */
    MLLM_PARAM_ARRAY,     /* [item, ...] with items of `items` (NULL: any) */
    MLLM_PARAM_OBJECT     /* {"key": any, ...}; keys are free (duplicates are not prevented) */
} mllm_param_type;

typedef struct mllm_param_schema mllm_param_schema;
struct mllm_param_schema {
    mllm_param_type type;
    const char *const *values;       /* ENUM: n_values non-empty strings with no '"', '\\' or
                                        control bytes, valid UTF-8 */
    size_t n_values;
    bool has_min, has_max;           /* INTEGER: inclusive bounds */
    int64_t min, max;
    const mllm_param_schema *items;  /* ARRAY: the items' schema; NULL = any value */
};

typedef struct mllm_tool_param {
    const char *name;                /* [A-Za-z_][A-Za-z0-9_]*, unique within the tool */
    bool required;
    mllm_param_schema schema;
} mllm_tool_param;

typedef struct mllm_tool_schema {
    const char *name;                /* ident(.ident)*, ident = [A-Za-z_][A-Za-z0-9_]*, at most
                                        MLLM_CALLS_MAX_NAME bytes, unique */
    const mllm_tool_param *params;
    size_t n_params;                 /* at most MLLM_CST_MAX_PARAMS */
} mllm_tool_schema;

/* ---------------------------------------------------------------- constraint */

typedef enum mllm_constraint_mode {
    MLLM_CONSTRAIN_AUTO = 0,     /* free text; a call is constrained once its opening tag appears */
    MLLM_CONSTRAIN_REQUIRED = 1  /* the text must begin with a call; free text after it */
} mllm_constraint_mode;

typedef struct mllm_constraint_params {
    const char *open;            /* opening tag; NULL = "<tool_call>" */
    const char *close;           /* closing tag; NULL = "</tool_call>" */
    mllm_constraint_mode mode;
    size_t max_string;           /* longest string value in bytes as written; 0 = the default
                                    (MLLM_CST_DEFAULT_MAX_STRING); it bounds every call, so a
                                    generation with enough max_tokens always closes its call */
    size_t max_calls;            /* most calls the text may open; 0 = any number. With 1 the
                                    opening tag cannot come again after a call (a task that
                                    allows one call per answer) */
} mllm_constraint_params;

typedef struct mllm_constraint mllm_constraint;

/* Longest source text for copy constraints (mllm_constraint_set_source). */
#define MLLM_CST_MAX_SOURCE 256

typedef struct mllm_constraint_stats {
    uint64_t masks;              /* hook calls that masked tokens (inside a call) */
    uint64_t free;               /* hook calls outside a call (cheap path) */
    uint64_t invalid;            /* hook calls on text that was not a valid prefix (no mask) */
    uint64_t dead_ends;          /* hook calls where no token fitted (no mask) */
    double seconds;              /* time spent in the hook */
} mllm_constraint_stats;

mllm_constraint_params mllm_constraint_default_params(void);

/* Compiles the tools' grammar. vocab may be NULL (the constraint can then check text but not
 * mask logits); otherwise it must outlive the constraint. Everything else is copied.
 * MLLM_ERR_ARG names the tool and parameter at fault (a bad name, a duplicate, an empty enum,
 * min > max, a limit); MLLM_ERR_NOMEM. */
mllm_status mllm_constraint_new(const mllm_tool_schema *tools, size_t n_tools,
                                const mllm_vocab_trie *vocab, const mllm_constraint_params *p,
                                mllm_constraint **out, char *err, size_t errlen);
void mllm_constraint_free(mllm_constraint *c);
const mllm_vocab_trie *mllm_constraint_vocab(const mllm_constraint *c);
size_t mllm_constraint_n_tools(const mllm_constraint *c);

/* Where a text stands. */
typedef enum mllm_constraint_where {
    MLLM_CST_FREE = 0,           /* outside a call: any token may follow */
    MLLM_CST_IN_CALL = 1,        /* inside a call (or, REQUIRED, before it): tokens are masked */
    MLLM_CST_INVALID = 2         /* not a valid prefix */
} mllm_constraint_where;

/* Steps the grammar over text. For INVALID, *bad (if not NULL) is the offset of the first byte
 * that does not fit and msg (if not NULL) says what was expected there. */
mllm_constraint_where mllm_constraint_check(mllm_constraint *c, const char *text, size_t len,
                                            size_t *bad, char *msg, size_t msglen);

/* The tokens that may follow text: allowed[id] = 1 or 0 for every id of the vocabulary, and
 * *n_allowed how many are allowed (0: a dead end). MLLM_ERR_ARG when the constraint has no
 * vocab; MLLM_ERR_FORMAT when text is not a valid prefix, with the message of
 * mllm_constraint_check ("unexpected 'x' at byte 12: expected ..."; call it for the offset).
 * On failure allowed is untouched and *n_allowed is 0. */
mllm_status mllm_constraint_allowed(mllm_constraint *c, const char *text, size_t len, uint8_t *allowed,
                                   int *n_allowed, char *err, size_t errlen);

/* The logits hook (mllm_logits_hook) with ud = the constraint: sets the logits of forbidden
 * tokens to -INFINITY. It masks nothing when text is not a valid prefix, when no token fits,
 * when n_vocab differs from the vocab's, or when the constraint has no vocab. */
void mllm_constraint_hook(void *ud, float *logits, int n_vocab, const char *text, size_t len);

/* Text the hook treats as written before the generation's own (len 0 removes it): a host that
 * stops a generation at a call, runs the tool and starts another for the reply passes the text
 * of the first, so the rule sees the whole answer (the calls made, the values a reply repeats).
 * Copied. MLLM_ERR_NOMEM. */
mllm_status mllm_constraint_set_prefix(mllm_constraint *c, const char *text, size_t len, char *err, size_t errlen);

const mllm_constraint_stats *mllm_constraint_get_stats(const mllm_constraint *c);
void mllm_constraint_reset_stats(mllm_constraint *c);

/* Copy constraint: from now on every string value of a call's parameters must
 * be a non-empty run of whole words of text (the user's words: the task copies
 * string values verbatim): it starts where a word of text starts and ends where
 * one ends (letters, digits and UTF-8 bytes make words; an ASCII apostrophe between two such
 * bytes is inside its word, so "Nina's" is one word, and so is the period of a title before a
 * name, "Dr. Megan", for the titles of mllm_constraint_set_titles). text is at most
 * MLLM_CST_MAX_SOURCE bytes: longer text is MLLM_ERR_ARG, naming the limit, and the constraint
 * keeps no source. len 0 (or NULL) removes it. Either way the copy pointer is removed. */
mllm_status mllm_constraint_set_source(mllm_constraint *c, const char *text, size_t len,
                                       char *err, size_t errlen);

/* The titles of the copy rule: a title's period is inside its word when the title is the whole
 * word before it and a word follows after one space ("Dr. Megan", "mr. young"), so that no
 * copied value stops at "Dr". The list is language data, not code: a model directory ships it
 * (copy_rule.json, read by the Lua side's chat.load_copy_rule). titles: n words of ASCII
 * letters, 1 to MLLM_CST_MAX_TITLE_BYTES bytes each, at most MLLM_CST_MAX_TITLES, matched in
 * any case; copied. n 0 removes the rule: a period then ends its word like any other byte that
 * is not a letter, a digit or UTF-8. MLLM_ERR_ARG names the title at fault and changes nothing.
 * A new constraint has none (Lua: c:set_titles, chat.set_copy_rule's rule). */
mllm_status mllm_constraint_set_titles(mllm_constraint *c, const char *const *titles, size_t n,
                                       char *err, size_t errlen);

/* The reply rule: every word of the text outside a call (a run of
 * letters, digits, UTF-8 bytes and apostrophes) is one of the rule's words (the model's reply
 * words: a model directory ships them in reply_rule.json, the words of its training replies with
 * the values copied from requests taken out) or a word of the source (mllm_constraint_set_source;
 * as written, a sentence's first letter in either case), every run of other bytes between words is one of its gaps (" ", ", ", ". " ...: those of
 * the same replies) and the run after the last word one of its end gaps ("." "!"), and a call
 * may open where a reply begins (the trained format: the call, then its reply). Once a call has copied
 * values from the source, a copy in the text is one of them whole. A word comes at most once
 * unless it is repeatable (one a training reply repeats: "the", "and"), and, with follows, only
 * after an item it followed in a training reply ("sent" then "to", "to" then "<value>", "<start>"
 * then "Alarm"). So every character of a reply comes from the request or the replies the model
 * was trained on, no name is made up and no value is cut. */
typedef struct mllm_reply_rule {
    const char *const *words;        /* runs of letters, digits, UTF-8 bytes, inner apostrophes */
    size_t n_words;                  /* 0: no rule */
    const char *const *gaps;         /* runs of other bytes between two words, no control byte or '<' */
    size_t n_gaps;
    const char *const *end_gaps;     /* runs of such bytes after the last word ("." "!") */
    size_t n_end_gaps;
    const char *const *repeatable;   /* words a reply may say more than once */
    size_t n_repeatable;
    const char *const *follows;      /* n_follows pairs: follows[2i + 1] may come after follows[2i];
                                        each a word or "<value>", the first also "<start>" */
    size_t n_follows;                /* 0: any order */
} mllm_reply_rule;

/* Sets the reply rule (NULL or no words removes it). Each list at most MLLM_CST_MAX_REPLY_WORDS,
 * words and gaps 1 to MLLM_CST_MAX_REPLY_WORD_BYTES bytes; only the first
 * MLLM_CST_REPLY_TRACKED_WORDS words are held to "once" and to follows. Copied. MLLM_ERR_ARG names
 * the item at fault and changes nothing; MLLM_ERR_NOMEM. */
mllm_status mllm_constraint_set_reply_rule(mllm_constraint *c, const mllm_reply_rule *rule, char *err, size_t errlen);

/* Pointer for copied values, over the source set last: token_pos[i] is the prompt position of
 * the token that holds source byte i (-1: none), n the source's length. While a generation runs
 * on a session bound with mllm_constraint_bind that has an attention probe
 * (mllm_session_set_probe), the first token of each copied value gets weight * log(a + 1e-9)
 * added to its logit, a being the probe's weight on the source word that token starts (summed
 * over the word's tokens; the largest when the token starts several words). The model's own
 * choice of a value's first piece needs it to know how an unseen word is spelt without its
 * leading space; the heads that look at the word do not. weight 0 (or a new source) removes
 * it. MLLM_ERR_ARG, naming what is wrong, when n is not the source's length, weight is negative
 * or not finite, or a position is below -1; the pointer is then unchanged. */
mllm_status mllm_constraint_set_source_tokens(mllm_constraint *c, const int32_t *token_pos, size_t n,
                                              float weight, char *err, size_t errlen);
/* The session whose probe the pointer reads (NULL: none); the generation binds its session
 * for as long as it runs. */
void mllm_constraint_bind(mllm_constraint *c, const mllm_session *s);

#endif
