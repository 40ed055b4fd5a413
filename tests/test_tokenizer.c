/*
 * test_tokenizer.c - GPT-2 byte-level BPE and BERT WordPiece against
 * independent references: ggml's 100 GPT-2 prompts, llama.cpp's 46 vocab
 * cases, ../shared/lmref (PyTorch reference + HF tokenizers + npm
 * gpt-3-encoder), our own 200+ strings encoded by npm gpt-3-encoder
 * (tests/fixtures/tokenizer/gpt2_own.tsv), hand-checked cases, and hostile
 * files.
 */
#include "test.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "persona/core.h"
#include "persona/tokenizer.h"

/* Tests that read ../shared skip loudly when it is absent. */
#define NEED_SHARED()                                                          \
    do {                                                                       \
        if (!test_have_shared()) {                                             \
            fprintf(stderr, "  skipped: ../shared not found\n");              \
            return;                                                            \
        }                                                                      \
    } while (0)

/* ---- shared fixtures --------------------------------------------------- */

static struct ps_tokenizer *gpt2_real;

__attribute__((destructor)) static void free_gpt2_real(void)
{
    ps_tokenizer_free(gpt2_real);
}

/* The real GPT-2 vocabulary (../shared/data/gpt2-tokenizer), loaded once. */
static const struct ps_tokenizer *real_gpt2(void)
{
    if (!gpt2_real) {
        struct ps_err err = {0};
        int rc = ps_tokenizer_load_bpe_files(&gpt2_real,
                                             test_shared("data/gpt2-tokenizer/encoder.json"),
                                             test_shared("data/gpt2-tokenizer/vocab.bpe"), &err);
        if (rc) {
            fprintf(stderr, "  cannot load the GPT-2 vocabulary: %s\n", err.msg);
            return NULL;
        }
    }
    return gpt2_real;
}

/* Parses "1,2,3" or " 1 2 3" into ids; returns the count. */
static size_t parse_ids(const char *s, int32_t *ids, size_t cap)
{
    size_t n = 0;
    while (*s) {
        while (*s == ',' || *s == ' ' || *s == '[' || *s == ']')
            s++;
        if (!*s)
            break;
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        if (n < cap)
            ids[n] = (int32_t)v;
        n++;
        s = end;
    }
    return n;
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* Encodes text and compares with want; also checks decode(encode(x)) == x
 * when round_trip.  Returns 1 when everything matched. */
static int check_encode(const struct ps_tokenizer *t, const char *label, const char *text,
                        size_t len, const int32_t *want, size_t n_want, int round_trip)
{
    struct ps_err err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    int ok = 1;
    int rc = ps_tokenizer_encode(t, text, len, 0, &ids, &n, &err);
    if (rc) {
        fprintf(stderr, "  %s: encode failed: %s\n", label, err.msg);
        test_failures++;
        return 0;
    }
    if (n != n_want || memcmp(ids, want, n * sizeof *ids) != 0) {
        fprintf(stderr, "  %s: ids differ for \"%.*s\"\n", label, (int)(len > 80 ? 80 : len), text);
        print_ids("got ", ids, n);
        print_ids("want", want, n_want);
        test_failures++;
        ok = 0;
    }
    if (round_trip) {
        char *back = NULL;
        size_t blen = 0;
        rc = ps_tokenizer_decode_n(t, ids, n, &back, &blen, &err);
        if (rc || blen != len || memcmp(back, text, len) != 0) {
            fprintf(stderr, "  %s: decode(encode(x)) != x for \"%.*s\"\n", label,
                    (int)(len > 80 ? 80 : len), text);
            test_failures++;
            ok = 0;
        }
        free(back);
    }
    free(ids);
    return ok;
}

/* ---- GPT-2 conformance on the real vocabulary --------------------------- */

TEST(tokenizer_gpt2_ggml_prompts)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_INT(ps_tokenizer_kind(t), PS_TOKENIZER_BPE);
    CHECK_INT(ps_tokenizer_vocab_size(t), 50257);
    CHECK_INT(ps_tokenizer_eos_id(t), 50256);
    size_t len;
    char *buf = test_read_file(test_shared("data/gpt2-tokenizer/ggml-gpt-2-prompts.txt"), &len);
    CHECK(buf != NULL);
    if (!buf)
        return;
    int n_cases = 0, n_ok = 0;
    char *line = buf;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *sep = NULL;
        for (char *p = strstr(line, " => "); p; p = strstr(p + 1, " => "))
            sep = p; /* the last " => " */
        if (sep) {
            int32_t want[512];
            size_t n_want = parse_ids(sep + 4, want, 512);
            n_cases++;
            n_ok += check_encode(t, "ggml", line, (size_t)(sep - line), want, n_want, 1);
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK_INT(n_cases, 100);
    CHECK_INT(n_ok, 100);
    free(buf);
}

TEST(tokenizer_gpt2_llamacpp_cases)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    if (!t) {
        CHECK(t != NULL);
        return;
    }
    size_t in_len, out_len;
    char *in = test_read_file(test_shared("data/gpt2-tokenizer/llamacpp-vocab-gpt-2.inp"), &in_len);
    char *out = test_read_file(test_shared("data/gpt2-tokenizer/llamacpp-vocab-gpt-2.out"), &out_len);
    CHECK(in && out);
    if (!in || !out) {
        free(in);
        free(out);
        return;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *p = in, *o = out;
    int n_cases = 0, n_ok = 0;
    for (;;) {
        char *end = strstr(p, sep);
        if (!end)
            break;
        char *onl = strchr(o, '\n');
        if (!onl)
            break;
        *onl = '\0';
        int32_t want[1024];
        size_t n_want = parse_ids(o, want, 1024);
        n_cases++;
        n_ok += check_encode(t, "llama.cpp", p, (size_t)(end - p), want, n_want, 1);
        p = end + strlen(sep);
        o = onl + 1;
    }
    CHECK_INT(n_cases, 46);
    CHECK_INT(n_ok, 46);
    free(in);
    free(out);
}

/* Reads a JSON file under ../shared; NULL (and a failed check) if absent. */
static json_t *load_shared_json(const char *rel)
{
    json_error_t je;
    json_t *root = json_load_file(test_shared(rel), 0, &je);
    if (!root) {
        fprintf(stderr, "  %s: %s\n", rel, je.text);
        test_failures++;
    }
    return root;
}

static size_t json_ids(json_t *arr, int32_t *ids, size_t cap)
{
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n && i < cap; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return n;
}

TEST(tokenizer_gpt2_lmref_vectors)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    json_t *root = load_shared_json("lmref/gpt2_tokenizer_vectors.json");
    if (!t || !root) {
        CHECK(t != NULL);
        json_decref(root);
        return;
    }
    json_t *cases = json_object_get(root, "cases");
    size_t i, n_ok = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        int32_t want[1024];
        size_t n_want = json_ids(json_object_get(c, "ids"), want, 1024);
        n_ok += (size_t)check_encode(t, "lmref vectors", text, strlen(text), want, n_want, 1);
    }
    CHECK_INT(json_array_size(cases), 30);
    CHECK_INT(n_ok, 30);
    json_decref(root);
}

/* input_ids of every item of ../shared/lmref/expected/<model>.json with the
 * tokenizer of ../shared/lmref/models/<model>. */
static void check_lmref_model(const char *model, enum ps_tokenizer_kind kind, int round_trip)
{
    char dir[256], exp[256];
    snprintf(dir, sizeof dir, "lmref/models/%s", model);
    snprintf(exp, sizeof exp, "lmref/expected/%s.json", model);
    struct ps_tokenizer *t = NULL;
    struct ps_err err = {0};
    int rc = ps_tokenizer_load(&t, test_shared(dir), &err);
    if (rc) {
        fprintf(stderr, "  %s: %s\n", model, err.msg);
        test_failures++;
        return;
    }
    CHECK_INT(ps_tokenizer_kind(t), kind);
    CHECK_INT(ps_tokenizer_vocab_size(t), 1000);
    json_t *root = load_shared_json(exp);
    if (root) {
        json_t *items = json_object_get(root, "items"), *it;
        size_t i, n_ok = 0;
        json_array_foreach(items, i, it) {
            const char *text = json_string_value(json_object_get(it, "text"));
            int32_t want[1024];
            size_t n_want = json_ids(json_object_get(it, "input_ids"), want, 1024);
            n_ok += (size_t)check_encode(t, model, text, strlen(text), want, n_want, round_trip);
            /* The tokens too (vocabulary form; BERT's list leaves out
             * [CLS] and [SEP]). */
            json_t *toks = json_object_get(it, "tokens");
            size_t off = kind == PS_TOKENIZER_WORDPIECE ? 1 : 0;
            CHECK_INT(json_array_size(toks) + 2 * off, n_want);
            for (size_t k = 0; k < json_array_size(toks) && k + off < n_want; k++)
                CHECK_STR(ps_tokenizer_token(t, want[k + off]),
                          json_string_value(json_array_get(toks, k)));
        }
        CHECK_INT(json_array_size(items), 8);
        CHECK_INT(n_ok, 8);
        json_decref(root);
    }
    ps_tokenizer_free(t);
}

TEST(tokenizer_gpt2_lmref_models)
{
    NEED_SHARED();
    check_lmref_model("gpt2-tiny-f32", PS_TOKENIZER_BPE, 1);
    check_lmref_model("gpt2-tiny-f16", PS_TOKENIZER_BPE, 1);
    check_lmref_model("gpt2-tiny-bf16", PS_TOKENIZER_BPE, 1);
}

TEST(tokenizer_bert_lmref_models)
{
    NEED_SHARED();
    check_lmref_model("bert-tiny-f32", PS_TOKENIZER_WORDPIECE, 0);
    check_lmref_model("bert-tiny-f16", PS_TOKENIZER_WORDPIECE, 0);
    check_lmref_model("bert-tiny-bf16", PS_TOKENIZER_WORDPIECE, 0);
}

/* Our own 345 strings (Chinese and English reviews from ../shared/data,
 * emoji, whitespace runs, digits, contractions, URLs, long inputs) with the
 * ids npm gpt-3-encoder gives (tests/fixtures/tokenizer/make_fixture.js). */
TEST(tokenizer_gpt2_own_strings_vs_gpt3_encoder)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/tokenizer/gpt2_own.json", 0, &je);
    CHECK(root != NULL);
    if (!t || !root) {
        json_decref(root);
        return;
    }
    json_t *cases = json_object_get(root, "cases"), *c;
    size_t i, n_ok = 0, n = json_array_size(cases);
    int32_t *want = malloc(200000 * sizeof *want);
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        size_t n_want = json_ids(json_object_get(c, "ids"), want, 200000);
        n_ok += (size_t)check_encode(t, json_string_value(json_object_get(c, "label")), text,
                                     strlen(text), want, n_want, 1);
    }
    CHECK(n >= 200);
    CHECK_INT(n_ok, n);
    free(want);
    json_decref(root);
}

/* ---- cases from ../shared/lmref/reference.py ---------------------------- */

#include <sys/stat.h>
#include <unistd.h>

/* GPT-2 strings where gpt-3-encoder is no reference: U+FEFF and U+0085
 * (JavaScript's \s disagrees with White_Space) and "<|endoftext|>". */
TEST(tokenizer_gpt2_reference_py_cases)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/tokenizer/ref_cases.json", JSON_ALLOW_NUL, &je);
    CHECK(root != NULL);
    if (!t || !root) {
        json_decref(root);
        return;
    }
    json_t *cases = json_object_get(root, "gpt2"), *c;
    size_t i, n_ok = 0;
    json_array_foreach(cases, i, c) {
        json_t *jt = json_object_get(c, "text"), *rep = json_object_get(c, "repeat");
        size_t cap = json_array_size(json_object_get(c, "ids")) + 1;
        int32_t *want = malloc(cap * sizeof *want);
        size_t n_want = json_ids(json_object_get(c, "ids"), want, cap);
        if (rep) { /* ["ab", 50000]: the unit repeated */
            const char *unit = json_string_value(json_array_get(rep, 0));
            size_t k = (size_t)json_integer_value(json_array_get(rep, 1)), ul = strlen(unit);
            char *text = malloc(ul * k + 1);
            for (size_t r = 0; r < k; r++)
                memcpy(text + r * ul, unit, ul);
            n_ok += (size_t)check_encode(t, "reference.py gpt2 long", text, ul * k, want, n_want, 1);
            free(text);
        } else {
            n_ok += (size_t)check_encode(t, "reference.py gpt2", json_string_value(jt),
                                         json_string_length(jt), want, n_want, 1);
        }
        free(want);
    }
    CHECK_INT(n_ok, json_array_size(cases));
    CHECK(n_ok >= 23);
    json_decref(root);
}

/* A checkpoint-like folder: vocab.txt (symlink) + tokenizer_config.json. */
static const char *bert_dir(const char *name, const char *config)
{
    char sub[300], *cwd = getcwd(NULL, 0);
    char target[1024];
    const char *rel = test_shared("data/hf-checkpoints/bert_tiniest/vocab.txt");
    snprintf(target, sizeof target, "%s%s%s", rel[0] == '/' ? "" : cwd, rel[0] == '/' ? "" : "/", rel);
    free(cwd);
    const char *dir = test_tmp(name);
    mkdir(dir, 0755);
    snprintf(sub, sizeof sub, "%s/vocab.txt", name);
    unlink(test_tmp(sub));
    CHECK(symlink(target, test_tmp(sub)) == 0);
    snprintf(sub, sizeof sub, "%s/tokenizer_config.json", name);
    test_write_file(sub, config, strlen(config));
    return test_tmp(name);
}

/* WordPiece on the real uncased BERT vocabulary (30,522 entries) under four
 * settings of do_lower_case / strip_accents, against reference.py. */
TEST(tokenizer_bert_reference_py_cases)
{
    NEED_SHARED();
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/tokenizer/ref_cases.json", JSON_ALLOW_NUL, &je);
    CHECK(root != NULL);
    if (!root)
        return;
    json_t *settings = json_object_get(root, "bert_settings");
    size_t n_set = json_array_size(settings);
    struct ps_tokenizer *tk[8] = {0};
    for (size_t s = 0; s < n_set && s < 8; s++) {
        json_t *st = json_array_get(settings, s);
        char cfg[256], name[32];
        json_t *sa = json_object_get(st, "strip_accents");
        snprintf(cfg, sizeof cfg, "{\"do_lower_case\": %s, \"strip_accents\": %s}",
                 json_is_true(json_object_get(st, "do_lower_case")) ? "true" : "false",
                 json_is_null(sa) ? "null" : json_is_true(sa) ? "true" : "false");
        snprintf(name, sizeof name, "bert_setting_%zu", s);
        struct ps_err err = {0};
        if (ps_tokenizer_load(&tk[s], bert_dir(name, cfg), &err)) {
            fprintf(stderr, "  %s\n", err.msg);
            test_failures++;
        }
    }
    if (tk[0]) {
        CHECK_INT(ps_tokenizer_kind(tk[0]), PS_TOKENIZER_WORDPIECE);
        CHECK_INT(ps_tokenizer_vocab_size(tk[0]), 30522);
        CHECK_INT(ps_tokenizer_cls_id(tk[0]), 101);
        CHECK_INT(ps_tokenizer_sep_id(tk[0]), 102);
        CHECK_INT(ps_tokenizer_pad_id(tk[0]), 0);
        CHECK_INT(ps_tokenizer_unk_id(tk[0]), 100);
        CHECK_INT(ps_tokenizer_mask_id(tk[0]), 103);
        CHECK_INT(ps_tokenizer_eos_id(tk[0]), -1);
    }
    json_t *cases = json_object_get(root, "bert"), *c;
    size_t i, n_ok = 0, n_trunc = 0;
    json_array_foreach(cases, i, c) {
        size_t s = (size_t)json_integer_value(json_object_get(c, "setting"));
        const struct ps_tokenizer *t = s < 8 ? tk[s] : NULL;
        if (!t)
            continue;
        json_t *jt = json_object_get(c, "text");
        const char *text = json_string_value(jt);
        size_t max_len = (size_t)json_integer_value(json_object_get(c, "max_length"));
        int32_t want[2048], *ids = NULL;
        size_t n_want = json_ids(json_object_get(c, "ids"), want, 2048), n = 0;
        struct ps_err err = {0};
        int rc = ps_tokenizer_encode(t, text, json_string_length(jt), max_len, &ids, &n, &err);
        if (rc || n != n_want || memcmp(ids, want, n * sizeof *ids) != 0) {
            fprintf(stderr, "  setting %zu max %zu: \"%.60s\" %s\n", s, max_len, text, err.msg);
            print_ids("got ", ids, n);
            print_ids("want", want, n_want);
            test_failures++;
        } else {
            n_ok++;
            n_trunc += max_len > 0;
        }
        free(ids);
    }
    CHECK_INT(n_ok, json_array_size(cases));
    CHECK(n_ok >= 400);
    CHECK(n_trunc >= 10);
    for (size_t s = 0; s < 8; s++)
        ps_tokenizer_free(tk[s]);
    json_decref(root);
}

/* A 1.1 MB input (all of waimai_10k.csv and 200 KB of Amazon reviews as
 * raw text): the count and hash of the ids npm gpt-3-encoder gives. */
TEST(tokenizer_gpt2_one_megabyte_input)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/tokenizer/gpt2_own.json", 0, &je);
    CHECK(root != NULL);
    if (!t || !root) {
        json_decref(root);
        return;
    }
    json_t *big = json_object_get(root, "big");
    size_t la, lb;
    char *a = test_read_file(test_shared(json_string_value(json_array_get(json_object_get(big, "files"), 0))), &la);
    char *b = test_read_file(test_shared(json_string_value(json_array_get(json_object_get(big, "files"), 1))), &lb);
    CHECK(a && b);
    if (a && b) {
        size_t cut = (size_t)json_integer_value(json_object_get(big, "cut"));
        char *nl = memchr(b + cut, '\n', lb - cut);
        lb = (size_t)(nl - b) + 1;
        char *text = malloc(la + lb);
        memcpy(text, a, la);
        memcpy(text + la, b, lb);
        CHECK_INT(la + lb, json_integer_value(json_object_get(big, "bytes")));
        int32_t *ids = NULL;
        size_t n = 0;
        struct ps_err err = {0};
        CHECK_INT(ps_tokenizer_encode(t, text, la + lb, 0, &ids, &n, &err), PS_OK);
        uint32_t h = 0;
        for (size_t i = 0; i < n; i++)
            h = h * 31u + (uint32_t)ids[i] + 1u;
        CHECK_INT(n, json_integer_value(json_object_get(big, "n_ids")));
        CHECK_INT(h, json_integer_value(json_object_get(big, "hash")));
        char *back = NULL;
        CHECK_INT(ps_tokenizer_decode(t, ids, n, &back, &err), PS_OK);
        CHECK(back && strlen(back) == la + lb && memcmp(back, text, la + lb) == 0);
        /* Truncation gives the prefix of the full encoding. */
        int32_t *ids2 = NULL;
        size_t n2 = 0;
        CHECK_INT(ps_tokenizer_encode(t, text, la + lb, 1000, &ids2, &n2, &err), PS_OK);
        CHECK_INT(n2, 1000);
        CHECK(ids2 && memcmp(ids2, ids, 1000 * sizeof *ids) == 0);
        free(ids2);
        free(back);
        free(ids);
        free(text);
    }
    free(a);
    free(b);
    json_decref(root);
}

/* ---- other checkpoints and file layouts ---------------------------------- */

/* A folder holding only a symlink to one file of another folder. */
static const char *only_file(const char *name, const char *src_rel, const char *file)
{
    char target[1024], sub[300], *cwd = getcwd(NULL, 0);
    const char *src = test_shared(src_rel);
    snprintf(target, sizeof target, "%s%s%s/%s", src[0] == '/' ? "" : cwd,
             src[0] == '/' ? "" : "/", src, file);
    free(cwd);
    mkdir(test_tmp(name), 0755);
    snprintf(sub, sizeof sub, "%s/%s", name, file);
    unlink(test_tmp(sub));
    CHECK(symlink(target, test_tmp(sub)) == 0);
    return test_tmp(name);
}

static int32_t *encode_or_fail(const struct ps_tokenizer *t, const char *text, size_t *n)
{
    int32_t *ids = NULL;
    struct ps_err err = {0};
    *n = 0;
    if (ps_tokenizer_encode(t, text, strlen(text), 0, &ids, n, &err)) {
        fprintf(stderr, "  encode \"%s\": %s\n", text, err.msg);
        test_failures++;
    }
    return ids;
}

/* tokenizer.json alone gives the same ids as the slow files. */
TEST(tokenizer_json_matches_vocab_files)
{
    NEED_SHARED();
    struct ps_err err = {0};
    /* lmref tiny GPT-2 and BERT: expected ids from the reference. */
    struct ps_tokenizer *g = NULL, *b = NULL, *fg = NULL, *fb = NULL;
    CHECK_INT(ps_tokenizer_load(&g, only_file("tj_gpt2", "lmref/models/gpt2-tiny-f32", "tokenizer.json"), &err), PS_OK);
    CHECK_INT(ps_tokenizer_load(&b, only_file("tj_bert", "lmref/models/bert-tiny-f32", "tokenizer.json"), &err), PS_OK);
    json_t *eg = load_shared_json("lmref/expected/gpt2-tiny-f32.json");
    json_t *eb = load_shared_json("lmref/expected/bert-tiny-f32.json");
    if (g && b && eg && eb) {
        CHECK_INT(ps_tokenizer_kind(g), PS_TOKENIZER_BPE);
        CHECK_INT(ps_tokenizer_kind(b), PS_TOKENIZER_WORDPIECE);
        CHECK_INT(ps_tokenizer_eos_id(g), 999);
        CHECK_INT(ps_tokenizer_cls_id(b), 12);
        CHECK_INT(ps_tokenizer_sep_id(b), 13);
        CHECK_INT(ps_tokenizer_unk_id(b), 11);
        for (int m = 0; m < 2; m++) {
            json_t *items = json_object_get(m ? eb : eg, "items"), *it;
            size_t i;
            json_array_foreach(items, i, it) {
                const char *text = json_string_value(json_object_get(it, "text"));
                int32_t want[512];
                size_t n_want = json_ids(json_object_get(it, "input_ids"), want, 512);
                check_encode(m ? b : g, m ? "tokenizer.json bert" : "tokenizer.json gpt2", text,
                             strlen(text), want, n_want, !m);
            }
        }
    } else {
        fprintf(stderr, "  %s\n", err.msg);
        test_failures++;
    }
    /* Real GPT-2 (fake_gpt2's tokenizer.json) against encoder.json + vocab.bpe
     * on our own strings; real BERT (bert_tiniest) against vocab.txt. */
    const struct ps_tokenizer *rg = real_gpt2();
    CHECK_INT(ps_tokenizer_load(&fg, only_file("tj_fake_gpt2", "data/hf-checkpoints/fake_gpt2", "tokenizer.json"), &err), PS_OK);
    CHECK_INT(ps_tokenizer_load(&fb, only_file("tj_bert_tiniest", "data/hf-checkpoints/bert_tiniest", "tokenizer.json"), &err), PS_OK);
    struct ps_tokenizer *vb = NULL;
    CHECK_INT(ps_tokenizer_load(&vb, only_file("vt_bert_tiniest", "data/hf-checkpoints/bert_tiniest", "vocab.txt"), &err), PS_OK);
    json_error_t je;
    json_t *own = json_load_file("tests/fixtures/tokenizer/gpt2_own.json", 0, &je);
    if (rg && fg && fb && vb && own) {
        CHECK_INT(ps_tokenizer_vocab_size(fg), 50257);
        CHECK_INT(ps_tokenizer_vocab_size(fb), 30522);
        json_t *cases = json_object_get(own, "cases"), *c;
        size_t i, n_same = 0, n_same_b = 0;
        json_array_foreach(cases, i, c) {
            const char *text = json_string_value(json_object_get(c, "text"));
            size_t n1, n2;
            int32_t *a1 = encode_or_fail(rg, text, &n1), *a2 = encode_or_fail(fg, text, &n2);
            n_same += n1 == n2 && a1 && a2 && memcmp(a1, a2, n1 * sizeof *a1) == 0;
            free(a1);
            free(a2);
            a1 = encode_or_fail(vb, text, &n1);
            a2 = encode_or_fail(fb, text, &n2);
            n_same_b += n1 == n2 && a1 && a2 && memcmp(a1, a2, n1 * sizeof *a1) == 0;
            free(a1);
            free(a2);
        }
        CHECK_INT(n_same, json_array_size(cases));
        CHECK_INT(n_same_b, json_array_size(cases));
    }
    json_decref(own);
    json_decref(eg);
    json_decref(eb);
    ps_tokenizer_free(g);
    ps_tokenizer_free(b);
    ps_tokenizer_free(fg);
    ps_tokenizer_free(fb);
    ps_tokenizer_free(vb);
}

/* The real checkpoints in ../shared/data/hf-checkpoints load and encode. */
TEST(tokenizer_hf_checkpoints)
{
    NEED_SHARED();
    struct ps_err err = {0};
    struct ps_tokenizer *t = NULL;
    size_t n;
    int32_t *ids;
    CHECK_INT(ps_tokenizer_load(&t, test_shared("data/hf-checkpoints/fake_gpt2"), &err), PS_OK);
    if (t) {
        ids = encode_or_fail(t, "Hello World!", &n);
        int32_t want[] = {15496, 2159, 0};
        CHECK(n == 3 && ids && memcmp(ids, want, sizeof want) == 0);
        CHECK_INT(ps_tokenizer_eos_id(t), 50256);
        CHECK_INT(ps_tokenizer_unk_id(t), 50256); /* tokenizer_config.json says so */
        CHECK_INT(ps_tokenizer_pad_id(t), -1);
        free(ids);
        ps_tokenizer_free(t);
    }
    /* A 21-token toy vocabulary: 4 merges; bytes without a token become
     * <unk> (19), as transformers' GPT2Tokenizer does. */
    CHECK_INT(ps_tokenizer_load(&t, test_shared("data/hf-checkpoints/tiny_gpt2"), &err), PS_OK);
    if (t) {
        CHECK_INT(ps_tokenizer_vocab_size(t), 21);
        CHECK_INT(ps_tokenizer_unk_id(t), 19);
        CHECK_INT(ps_tokenizer_eos_id(t), 20);
        ids = encode_or_fail(t, " lower newer<|endoftext|>x", &n);
        /* " low" via the merges Ġ l, Ġl o, Ġlo w; "er" via e r; x -> <unk>. */
        int32_t want[] = {14, 15, 10, 9, 3, 2, 15, 20, 19};
        CHECK_INT(n, 9);
        CHECK(ids && n == 9 && memcmp(ids, want, sizeof want) == 0);
        free(ids);
        ps_tokenizer_free(t);
    }
    CHECK_INT(ps_tokenizer_load(&t, test_shared("data/hf-checkpoints/bert_tiniest"), &err), PS_OK);
    if (t) {
        ids = encode_or_fail(t, "Hello, WORLD!", &n);
        int32_t want[] = {101, 7592, 1010, 2088, 999, 102};
        CHECK(n == 6 && ids && memcmp(ids, want, sizeof want) == 0);
        free(ids);
        ps_tokenizer_free(t);
    }
}

/* ---- behaviour of the API ------------------------------------------------ */

TEST(tokenizer_api_errors_and_edges)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    if (!t) {
        CHECK(t != NULL);
        return;
    }
    struct ps_err err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    /* Invalid UTF-8: truncated, overlong, surrogate, above U+10FFFF, stray
     * continuation byte; the message gives the byte offset. */
    static const struct { const char *s; size_t len; const char *msg; } bad[] = {
        {"ab\xC3", 3, "invalid UTF-8 at byte 2"},
        {"\xC0\xAF", 2, "invalid UTF-8 at byte 0"},
        {"ok \xED\xA0\x80", 6, "invalid UTF-8 at byte 3"},
        {"\xF4\x90\x80\x80", 4, "invalid UTF-8 at byte 0"},
        {"x\x80", 2, "invalid UTF-8 at byte 1"},
        {"12345678\xFF", 9, "invalid UTF-8 at byte 8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(ps_tokenizer_encode(t, bad[i].s, bad[i].len, 0, &ids, &n, &err), PS_ERR_BAD_INPUT);
        CHECK_STR(err.msg, bad[i].msg);
        CHECK(ids == NULL && n == 0);
    }
    /* Empty text; NUL inside; truncation; special tokens back to back. */
    CHECK_INT(ps_tokenizer_encode(t, "", 0, 0, &ids, &n, &err), PS_OK);
    CHECK_INT(n, 0);
    free(ids);
    int32_t want_nul[] = {64, 188, 65};
    CHECK(check_encode(t, "nul", "a\0b", 3, want_nul, 3, 1));
    int32_t want_eot[] = {50256, 50256, 15496};
    CHECK(check_encode(t, "eot", "<|endoftext|><|endoftext|>Hello", 31, want_eot, 3, 1));
    CHECK_INT(ps_tokenizer_encode(t, "Hello World!", 12, 2, &ids, &n, &err), PS_OK);
    CHECK(n == 2 && ids[0] == 15496 && ids[1] == 2159);
    free(ids);
    /* Decoding: unknown ids are errors; bytes that are not UTF-8 on their
     * own become U+FFFD (as Python's errors="replace"). */
    int32_t unknown[] = {15496, 50257};
    char *text = NULL;
    CHECK_INT(ps_tokenizer_decode(t, unknown, 2, &text, &err), PS_ERR_BAD_INPUT);
    CHECK_STR(err.msg, "unknown token id 50257 at position 1");
    CHECK(text == NULL);
    int32_t neg[] = {-1};
    CHECK_INT(ps_tokenizer_decode(t, neg, 1, &text, &err), PS_ERR_BAD_INPUT);
    int32_t half[] = {25001}; /* the first two bytes of 好 (E5 A5) */
    CHECK_INT(ps_tokenizer_decode(t, half, 1, &text, &err), PS_OK);
    CHECK_STR(text, "\xEF\xBF\xBD");
    free(text);
    int32_t halves[] = {25001, 15496, 121}; /* E5 A5, "Hello", BD */
    CHECK_INT(ps_tokenizer_decode(t, halves, 3, &text, &err), PS_OK);
    CHECK_STR(text, "\xEF\xBF\xBDHello\xEF\xBF\xBD");
    free(text);
    CHECK_INT(ps_tokenizer_decode(t, NULL, 0, &text, &err), PS_OK);
    CHECK_STR(text, "");
    free(text);
    /* Token strings and bytes. */
    CHECK_STR(ps_tokenizer_token(t, 15496), "Hello");
    CHECK_STR(ps_tokenizer_token(t, 995), "\xC4\xA0world"); /* Ġworld */
    CHECK_STR(ps_tokenizer_token(t, 50256), "<|endoftext|>");
    CHECK(ps_tokenizer_token(t, 50257) == NULL && ps_tokenizer_token(t, -1) == NULL);
    size_t bl;
    const char *bytes = ps_tokenizer_token_bytes(t, 995, &bl);
    CHECK(bl == 6 && bytes && memcmp(bytes, " world", 6) == 0);
    bytes = ps_tokenizer_token_bytes(t, 198, &bl);
    CHECK(bl == 1 && bytes && bytes[0] == '\n');
    bytes = ps_tokenizer_token_bytes(t, 50256, &bl);
    CHECK(bl == 13 && bytes && memcmp(bytes, "<|endoftext|>", 13) == 0);
    CHECK(ps_tokenizer_token_bytes(t, 60000, &bl) == NULL && bl == 0);
    CHECK_INT(ps_tokenizer_find(t, "\xC4\xA0world", 7), 995);
    CHECK_INT(ps_tokenizer_find(t, "no such token", 13), -1);
    CHECK_INT(ps_tokenizer_cls_id(t), -1);
    CHECK_INT(ps_tokenizer_sep_id(t), -1);
    CHECK_INT(ps_tokenizer_mask_id(t), -1);

    /* WordPiece: [CLS] ... [SEP], truncation keeps [SEP], decode glues ##. */
    struct ps_tokenizer *b = NULL;
    CHECK_INT(ps_tokenizer_load(&b, test_shared("lmref/models/bert-tiny-f32"), &err), PS_OK);
    if (b) {
        CHECK_INT(ps_tokenizer_encode(b, "", 0, 0, &ids, &n, &err), PS_OK);
        CHECK(n == 2 && ids[0] == 12 && ids[1] == 13);
        free(ids);
        CHECK_INT(ps_tokenizer_encode(b, "refund refund", 13, 1, &ids, &n, &err), PS_ERR_USAGE);
        CHECK_INT(ps_tokenizer_encode(b, "refund refund", 13, 2, &ids, &n, &err), PS_OK);
        CHECK(n == 2 && ids[0] == 12 && ids[1] == 13);
        free(ids);
        CHECK_INT(ps_tokenizer_encode(b, "refund refund", 13, 3, &ids, &n, &err), PS_OK);
        CHECK(n == 3 && ids[0] == 12 && ids[1] == 204 && ids[2] == 13);
        free(ids);
        /* livraison -> livr ##aison (lmref expected tokens). */
        CHECK_INT(ps_tokenizer_encode(b, "[CLS]livraison", 14, 0, &ids, &n, &err), PS_OK);
        CHECK(n == 5 && ids[0] == 12 && ids[1] == 12 && ids[2] == 734 && ids[3] == 735 && ids[4] == 13);
        CHECK_INT(ps_tokenizer_decode(b, ids, n, &text, &err), PS_OK);
        CHECK_STR(text, "[CLS] [CLS] livraison [SEP]");
        free(text);
        free(ids);
        CHECK_INT(ps_tokenizer_encode(b, "\xE4\xBD", 2, 0, &ids, &n, &err), PS_ERR_BAD_INPUT);
        ps_tokenizer_free(b);
    }
}

/* decode(encode(x)) == x for random valid UTF-8 drawn from many scripts,
 * controls, marks and every kind of space; WordPiece never fails on them. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63)); return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63)); return 4;
}

static uint32_t random_cp(void)
{
    static const uint32_t ranges[][2] = {
        {0x20, 0x7E}, {0x20, 0x7E}, {0x61, 0x7A}, {0x30, 0x39}, {0x00, 0x1F}, {0x7F, 0xFF},
        {0x100, 0x24F}, {0x300, 0x36F}, {0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x6FF},
        {0x900, 0x97F}, {0xE00, 0xE7F}, {0x1100, 0x11FF}, {0x2000, 0x206F}, {0x2070, 0x218F},
        {0x3000, 0x303F}, {0x3040, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xFE00, 0xFFFD},
        {0x1F300, 0x1FAFF}, {0x20000, 0x2A6DF}, {0xE0000, 0xE007F}, {0x10FFF0, 0x10FFFF},
    };
    static const uint32_t spaces[] = {' ', '\t', '\n', '\r', 0x0B, 0x0C, 0x85, 0xA0, 0x1680,
                                      0x2003, 0x2028, 0x2029, 0x202F, 0x3000, 0xFEFF, '\''};
    if (rnd32() % 4 == 0)
        return spaces[rnd32() % (sizeof spaces / sizeof spaces[0])];
    size_t r = rnd32() % (sizeof ranges / sizeof ranges[0]);
    uint32_t cp = ranges[r][0] + rnd32() % (ranges[r][1] - ranges[r][0] + 1);
    if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 'x';
    return cp;
}

TEST(tokenizer_random_round_trip)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    struct ps_tokenizer *b = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_tokenizer_load(&b, test_shared("data/hf-checkpoints/bert_tiniest"), &err), PS_OK);
    if (!t || !b) {
        ps_tokenizer_free(b);
        return;
    }
    char buf[64 * 4 + 8];
    int n_ok = 0, n_bert = 0;
    for (int it = 0; it < 3000; it++) {
        size_t len = 0, n_cp = rnd32() % 48;
        for (size_t k = 0; k < n_cp; k++)
            len += put_utf8(buf + len, random_cp());
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        size_t blen = 0;
        if (ps_tokenizer_encode(t, buf, len, 0, &ids, &n, &err) == PS_OK &&
            ps_tokenizer_decode_n(t, ids, n, &back, &blen, &err) == PS_OK && blen == len &&
            memcmp(back, buf, len) == 0)
            n_ok++;
        else if (n_ok - it > -5)
            fprintf(stderr, "  round trip failed for %zu bytes (%s)\n", len, err.msg);
        free(back);
        free(ids);
        if (ps_tokenizer_encode(b, buf, len, 0, &ids, &n, &err) == PS_OK && n >= 2) {
            int good = ids[0] == 101 && ids[n - 1] == 102;
            for (size_t k = 0; k < n; k++)
                good &= ps_tokenizer_token(b, ids[k]) != NULL;
            n_bert += good;
        }
        free(ids);
    }
    CHECK_INT(n_ok, 3000);
    CHECK_INT(n_bert, 3000);
    ps_tokenizer_free(b);
}

/* ---- hostile files ------------------------------------------------------- */

struct hostile {
    const char *desc;
    const char *files[3][2];  /* {name, contents} */
    int status;
    const char *msg;          /* expected substring (after the folder path) */
};

#define GOOD_VOCAB "{\"a\": 0, \"b\": 1, \"ab\": 2, \"c\": 3}"
#define GOOD_VOCAB_TXT "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n"

static const struct hostile hostile_cases[] = {
    {"vocab.json not an object", {{"vocab.json", "[1, 2]"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:1: expected '{' (a JSON object of token ids)"},
    {"vocab.json empty file", {{"vocab.json", ""}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:1: expected '{'"},
    {"id not a number", {{"vocab.json", "{\"a\": 0,\n \"b\": x}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:2:7: token \"b\": expected a non-negative integer id"},
    {"negative id", {{"vocab.json", "{\"a\": -1}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:7: token \"a\": expected a non-negative integer id"},
    {"fractional id", {{"vocab.json", "{\"a\": 1.5}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:7: token \"a\": expected a non-negative integer id"},
    {"huge id", {{"vocab.json", "{\"a\": 99999999999}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1: token \"a\": id 99999999999 is too large (limit 16777215)"},
    {"duplicate token", {{"vocab.json", "{\"a\": 0,\n\"a\": 1}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:2: duplicate token \"a\""},
    {"duplicate id", {{"vocab.json", "{\"a\": 0,\n\n\"b\": 0}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:3: token \"b\": id 0 is already used"},
    {"bad escape", {{"vocab.json", "{\"a\\q\": 0}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:4: invalid escape in string"},
    {"lone surrogate", {{"vocab.json", "{\"\\ud800x\": 0}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:9: unpaired surrogate in string"},
    {"invalid UTF-8 in token", {{"vocab.json", "{\"a\": 0, \"\xff\": 1}"}, {"merges.txt", ""}},
     PS_ERR_BAD_INPUT, "vocab.json:1:11: invalid UTF-8"},
    {"raw newline in token", {{"vocab.json", "{\"a\n\": 0}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:4: control character in string"},
    {"unterminated string", {{"vocab.json", "{\"abc"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:6: unterminated string"},
    {"missing colon", {{"vocab.json", "{\"a\" 0}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:6: expected ':' after the token"},
    {"unclosed object", {{"vocab.json", "{\"a\": 0"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:1:8: expected ',' or '}'"},
    {"trailing data", {{"vocab.json", "{\"a\": 0}\n}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json:2:1: unexpected data after the JSON object"},
    {"empty vocabulary", {{"vocab.json", "{ }"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json: the vocabulary is empty"},
    {"sparse ids", {{"vocab.json", "{\"a\": 0, \"b\": 16000000}"}, {"merges.txt", ""}}, PS_ERR_BAD_INPUT,
     "vocab.json: ids are too sparse: largest id 16000000 for 2 tokens"},
    {"sparse added token id", {{"tokenizer.json",
     "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},\n"
     "\"added_tokens\": [{\"id\": 9000000, \"content\": \"<s>\"}]}"}},
     PS_ERR_BAD_INPUT, "tokenizer.json: ids are too sparse: largest id 9000000 for 2 tokens"},
    {"merge with one token", {{"vocab.json", GOOD_VOCAB}, {"merges.txt", "#version: 0.2\na b\na\n"}},
     PS_ERR_BAD_INPUT, "merges.txt:3: expected two tokens separated by one space, got \"a\""},
    {"merge with three tokens", {{"vocab.json", GOOD_VOCAB}, {"merges.txt", "a b c\n"}},
     PS_ERR_BAD_INPUT, "merges.txt:1: expected two tokens separated by one space, got \"a b c\""},
    {"merge with a leading space", {{"vocab.json", GOOD_VOCAB}, {"merges.txt", " a b\n"}},
     PS_ERR_BAD_INPUT, "merges.txt:1: expected two tokens separated by one space"},
    {"merge of an unknown token", {{"vocab.json", GOOD_VOCAB}, {"merges.txt", "#version: 0.2\nx b\n"}},
     PS_ERR_BAD_INPUT, "merges.txt:2: token \"x\" is not in the vocabulary"},
    {"merge result missing", {{"vocab.json", GOOD_VOCAB}, {"merges.txt", "a b\na c\n"}},
     PS_ERR_BAD_INPUT, "merges.txt:2: merged token \"ac\" is not in the vocabulary"},
    {"merges invalid UTF-8", {{"vocab.json", GOOD_VOCAB}, {"merges.txt", "a b\na \xC3\n"}},
     PS_ERR_BAD_INPUT, "merges.txt:2: invalid UTF-8 at column 3"},
    {"vocab.txt invalid UTF-8", {{"vocab.txt", "[PAD]\n\xff\n"}}, PS_ERR_BAD_INPUT,
     "vocab.txt:2: invalid UTF-8 at column 1"},
    {"vocab.txt empty", {{"vocab.txt", ""}}, PS_ERR_BAD_INPUT, "vocab.txt: the vocabulary is empty"},
    {"vocab.txt without [UNK]", {{"vocab.txt", "a\nb\n"}}, PS_ERR_BAD_INPUT,
     "vocab.txt: unknown token \"[UNK]\" is not in the vocabulary"},
    {"config flag not a boolean", {{"vocab.txt", GOOD_VOCAB_TXT}, {"tokenizer_config.json", "{\"do_lower_case\": 1}"}},
     PS_ERR_BAD_INPUT, "tokenizer_config.json:1: \"do_lower_case\": expected true or false"},
    {"config strip_accents wrong", {{"vocab.txt", GOOD_VOCAB_TXT}, {"tokenizer_config.json", "{\n\"strip_accents\": \"yes\"}"}},
     PS_ERR_BAD_INPUT, "tokenizer_config.json:2: \"strip_accents\": expected true, false or null"},
    {"config token wrong type", {{"vocab.txt", GOOD_VOCAB_TXT}, {"special_tokens_map.json", "{\n\n\"unk_token\": 5}"}},
     PS_ERR_BAD_INPUT, "special_tokens_map.json:3: \"unk_token\": expected a string or {\"content\": ...}"},
    {"config syntax error", {{"vocab.txt", GOOD_VOCAB_TXT}, {"tokenizer_config.json", "{\n  \"a\": }"}},
     PS_ERR_BAD_INPUT, "tokenizer_config.json:2:"},
    {"config not an object", {{"vocab.txt", GOOD_VOCAB_TXT}, {"tokenizer_config.json", "[]"}},
     PS_ERR_BAD_INPUT, "tokenizer_config.json: expected a JSON object"},
    {"config added token id clash", {{"vocab.txt", GOOD_VOCAB_TXT},
     {"tokenizer_config.json", "{\"added_tokens_decoder\": {\"4\": {\"content\": \"<new>\"}}}"}},
     PS_ERR_BAD_INPUT, "added token \"<new>\": id 4 is used by another token"},
    {"added_tokens.json id not a number", {{"vocab.json", GOOD_VOCAB}, {"merges.txt", ""},
     {"added_tokens.json", "{\n\"<x>\": \"a\"}"}}, PS_ERR_BAD_INPUT,
     "added_tokens.json:2: \"<x>\": expected an integer id"},
    {"tokenizer.json syntax error", {{"tokenizer.json", "{\n\"model\": {\n}x"}}, PS_ERR_BAD_INPUT,
     "tokenizer.json:3:"},
    {"tokenizer.json without model", {{"tokenizer.json", "{\"x\": 1}"}}, PS_ERR_BAD_INPUT,
     "tokenizer.json: missing \"model\" object"},
    {"tokenizer.json unknown model type", {{"tokenizer.json", "{\"model\": {\"type\": \"Unigram\"}}"}},
     PS_ERR_UNSUPPORTED, "tokenizer.json: model type \"Unigram\" is not supported (BPE, WordPiece)"},
    {"tokenizer.json other pre-tokenizer", {{"tokenizer.json",
     "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}"}},
     PS_ERR_UNSUPPORTED, "pre_tokenizer \"Whitespace\" is not supported (only GPT-2's ByteLevel)"},
    {"tokenizer.json id not an integer", {{"tokenizer.json",
     "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"},\n\"model\": {\"type\": \"BPE\",\n\"vocab\": {\"a\": \"zero\"}, \"merges\": []}}"}},
     PS_ERR_BAD_INPUT, "tokenizer.json:3: model.vocab: token \"a\": expected an integer id in 0..16777215"},
    {"tokenizer.json bad merge", {{"tokenizer.json",
     "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},\n\"merges\": [\n\"a\"]}}"}},
     PS_ERR_BAD_INPUT, "model.merges[0]: expected \"A B\" or [\"A\", \"B\"]"},
    {"tokenizer.json merge of unknown token", {{"tokenizer.json",
     "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},\n\"merges\": [\n\"a x\"]}}"}},
     PS_ERR_BAD_INPUT, "tokenizer.json:3: model.merges[0]: token \"x\" is not in the vocabulary"},
    {"tokenizer.json added token clash", {{"tokenizer.json",
     "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},\n"
     "\"added_tokens\": [{\"id\": 0, \"content\": \"<s>\"}]}"}},
     PS_ERR_BAD_INPUT, "tokenizer.json:2: added_tokens[0]: id 0 is used by another token"},
    {"tokenizer.json WordPiece without [UNK]", {{"tokenizer.json",
     "{\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}"}},
     PS_ERR_BAD_INPUT, "model.unk_token \"[UNK]\" is not in the vocabulary"},
    {"tokenizer.json WordPiece NFC normalizer", {{"tokenizer.json",
     "{\"normalizer\": {\"type\": \"NFC\"}, \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}"}},
     PS_ERR_UNSUPPORTED, "normalizer \"NFC\" is not supported for WordPiece"},
};

static int hostile_seq;

/* Writes the files into a fresh folder; returns its path (static). */
static const char *hostile_dir(const char *const files[3][2])
{
    static char dir[512];
    char name[64], sub[128];
    snprintf(name, sizeof name, "hostile_%d", hostile_seq++);
    snprintf(dir, sizeof dir, "%s", test_tmp(name));
    mkdir(dir, 0755);
    for (int f = 0; f < 3 && files[f][0]; f++) {
        snprintf(sub, sizeof sub, "%s/%s", name, files[f][0]);
        test_write_file(sub, files[f][1], strlen(files[f][1]));
    }
    return dir;
}

TEST(tokenizer_hostile_files)
{
    for (size_t i = 0; i < sizeof hostile_cases / sizeof hostile_cases[0]; i++) {
        const struct hostile *h = &hostile_cases[i];
        const char *dir = hostile_dir(h->files);
        struct ps_tokenizer *t = (struct ps_tokenizer *)1;
        struct ps_err err = {0};
        int rc = ps_tokenizer_load(&t, dir, &err);
        if (rc != h->status || t != NULL || !strstr(err.msg, h->msg) || !strstr(err.msg, dir)) {
            fprintf(stderr, "  %s: status %d, message \"%s\"\n    expected %d, \"%s\"\n", h->desc,
                    rc, err.msg, h->status, h->msg);
            test_failures++;
        }
        if (rc == PS_OK)
            ps_tokenizer_free(t);
    }
    /* The plain-file loaders name their files too. */
    struct ps_tokenizer *t = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_tokenizer_load_bpe_files(&t, test_tmp("nope.json"), test_tmp("nope.txt"), &err), PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "cannot open '");
    CHECK_CONTAINS(err.msg, "nope.json': No such file or directory");
    CHECK_INT(ps_tokenizer_load_file(&t, test_tmp("tokenizer.json"), &err), PS_ERR_IO);
    CHECK_INT(ps_tokenizer_load(&t, test_tmpdir(), &err), PS_ERR_IO);
    CHECK_CONTAINS(err.msg, "no tokenizer in '");
}

/* Random corruptions of real tokenizer files never crash the loaders (run
 * under ASan/UBSan in CI); whatever loads must encode and decode. */
static void mutate(char *buf, size_t *len, size_t cap)
{
    int kind = (int)(rnd32() % 5), n = 1 + (int)(rnd32() % 4);
    for (int k = 0; k < n && *len > 0; k++) {
        size_t at = rnd32() % *len;
        static const char interesting[] = "{}[]\":, \n\\u0-9#";
        switch (kind) {
        case 0: buf[at] = (char)(rnd32() & 0xFF); break;
        case 1: buf[at] = interesting[rnd32() % (sizeof interesting - 1)]; break;
        case 2: memmove(buf + at, buf + at + 1, *len - at - 1); (*len)--; break;
        case 3: if (*len < cap) { memmove(buf + at + 1, buf + at, *len - at); buf[at] = buf[rnd32() % *len]; (*len)++; } break;
        default: *len = at; break;
        }
    }
}

TEST(tokenizer_mutated_files_never_crash)
{
    NEED_SHARED();
    static const char *const srcs[][2] = {
        {"lmref/models/gpt2-tiny-f32", "vocab.json"}, {"lmref/models/gpt2-tiny-f32", "merges.txt"},
        {"lmref/models/bert-tiny-f32", "vocab.txt"}, {"lmref/models/gpt2-tiny-f32", "tokenizer.json"},
        {"lmref/models/bert-tiny-f32", "tokenizer.json"}, {"lmref/models/bert-tiny-f32", "tokenizer_config.json"},
    };
    static const char *const samples[] = {"Hello world", "这款耳机很好", "it's 12:30 <|endoftext|> [CLS]", ""};
    int n_loaded = 0, n_failed = 0;
    for (size_t s = 0; s < sizeof srcs / sizeof srcs[0]; s++) {
        char rel[300];
        snprintf(rel, sizeof rel, "%s/%s", srcs[s][0], srcs[s][1]);
        size_t len0;
        char *orig = test_read_file(test_shared(rel), &len0);
        CHECK(orig != NULL);
        if (!orig)
            continue;
        size_t cap = len0 + 64;
        char *buf = malloc(cap);
        for (int it = 0; it < 60; it++) {
            memcpy(buf, orig, len0);
            size_t len = len0;
            mutate(buf, &len, cap);
            /* The other files of the folder stay intact. */
            char name[64], sub[128];
            snprintf(name, sizeof name, "mut_%zu_%d", s, it);
            mkdir(test_tmp(name), 0755);
            const char *other[] = {"vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json"};
            int is_bert = strstr(srcs[s][0], "bert") != NULL, json_only = strcmp(srcs[s][1], "tokenizer.json") == 0;
            for (size_t o = 0; o < 4 && !json_only; o++) {
                if (strcmp(other[o], srcs[s][1]) == 0 || (is_bert != (strcmp(other[o], "vocab.txt") == 0 ||
                                                                      strcmp(other[o], "tokenizer_config.json") == 0)))
                    continue;
                char r2[300];
                size_t l2;
                snprintf(r2, sizeof r2, "%s/%s", srcs[s][0], other[o]);
                char *data = test_read_file(test_shared(r2), &l2);
                snprintf(sub, sizeof sub, "%s/%s", name, other[o]);
                if (data)
                    test_write_file(sub, data, l2);
                free(data);
            }
            snprintf(sub, sizeof sub, "%s/%s", name, srcs[s][1]);
            test_write_file(sub, buf, len);
            struct ps_tokenizer *t = NULL;
            struct ps_err err = {0};
            if (ps_tokenizer_load(&t, test_tmp(name), &err) != PS_OK) {
                n_failed++;
                CHECK(t == NULL && err.msg[0] != '\0');
                continue;
            }
            n_loaded++;
            for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
                int32_t *ids = NULL;
                size_t n = 0;
                char *text = NULL;
                if (ps_tokenizer_encode(t, samples[k], strlen(samples[k]), 0, &ids, &n, &err) == PS_OK) {
                    ps_tokenizer_decode(t, ids, n, &text, &err);
                    for (size_t q = 0; q < n; q++)
                        (void)ps_tokenizer_token(t, ids[q]);
                }
                free(text);
                free(ids);
            }
            ps_tokenizer_free(t);
        }
        free(buf);
        free(orig);
    }
    CHECK(n_failed > 0);
    CHECK(n_loaded > 0);
}

/* One tokenizer shared by threads gives every thread the same ids. */
#include <pthread.h>

struct thread_job {
    const struct ps_tokenizer *t;
    json_t *cases;
    size_t n_same;
};

static void *thread_encode(void *arg)
{
    struct thread_job *j = arg;
    size_t i;
    json_t *c;
    json_array_foreach(j->cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        int32_t *ids = NULL;
        size_t n = 0, n_want = json_array_size(json_object_get(c, "ids"));
        struct ps_err err = {0};
        if (ps_tokenizer_encode(j->t, text, strlen(text), 0, &ids, &n, &err) == PS_OK && n == n_want) {
            size_t k = 0;
            while (k < n && ids[k] == json_integer_value(json_array_get(json_object_get(c, "ids"), k)))
                k++;
            j->n_same += k == n;
        }
        free(ids);
    }
    return NULL;
}

TEST(tokenizer_shared_by_threads)
{
    NEED_SHARED();
    const struct ps_tokenizer *t = real_gpt2();
    json_error_t je;
    json_t *root = json_load_file("tests/fixtures/tokenizer/gpt2_own.json", 0, &je);
    if (!t || !root) {
        CHECK(t && root);
        json_decref(root);
        return;
    }
    struct thread_job jobs[4];
    pthread_t th[4];
    for (int k = 0; k < 4; k++) {
        jobs[k] = (struct thread_job){t, json_object_get(root, "cases"), 0};
        CHECK(pthread_create(&th[k], NULL, thread_encode, &jobs[k]) == 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        CHECK_INT(jobs[k].n_same, json_array_size(json_object_get(root, "cases")));
    }
    json_decref(root);
}

/* added_tokens.json extends a slow-file vocabulary with special tokens. */
TEST(tokenizer_added_tokens_json)
{
    NEED_SHARED();
    static const char *const files[3][2] = {{"added_tokens.json", "{\"<new>\": 1000, \"[X]\": 1001}"}};
    const char *dir = hostile_dir(files);
    char sub[600];
    size_t len;
    const char *names[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "lmref/models/gpt2-tiny-f32/%s", names[i]);
        char *data = test_read_file(test_shared(rel), &len);
        snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
        FILE *f = fopen(sub, "wb");
        CHECK(f && data);
        if (f && data)
            fwrite(data, 1, len, f);
        if (f)
            fclose(f);
        free(data);
    }
    struct ps_tokenizer *t = NULL;
    struct ps_err err = {0};
    CHECK_INT(ps_tokenizer_load(&t, dir, &err), PS_OK);
    if (!t) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    CHECK_INT(ps_tokenizer_vocab_size(t), 1002);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(ps_tokenizer_encode(t, "refund<new>refund[X]", 20, 0, &ids, &n, &err), PS_OK);
    int32_t want[] = {263, 526, 1000, 263, 526, 1001};
    CHECK(n == 6 && ids && memcmp(ids, want, sizeof want) == 0);
    char *back = NULL;
    CHECK_INT(ps_tokenizer_decode(t, ids, n, &back, &err), PS_OK);
    CHECK_STR(back, "refund<new>refund[X]");
    free(back);
    free(ids);
    ps_tokenizer_free(t);
}

/* tokenizer.json merges in both forms: "a b" strings and ["a", "b"] pairs
 * (newer transformers); hand-computed ids. */
TEST(tokenizer_json_merge_forms)
{
    static const char *const forms[2] = {
        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\xC4\xA0\": 3,"
        " \"\xC4\xA0" "ab\": 4, \"\xC4\xA0" "a\": 5}, \"merges\": [\"a b\", \"\xC4\xA0 ab\"]}}",
        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\xC4\xA0\": 3,"
        " \"\xC4\xA0" "ab\": 4, \"\xC4\xA0" "a\": 5}, \"merges\": [[\"a\", \"b\"], [\"\xC4\xA0\", \"ab\"]]}}",
    };
    for (int f = 0; f < 2; f++) {
        char name[32];
        snprintf(name, sizeof name, "merge_form_%d.json", f);
        const char *path = test_write_file(name, forms[f], strlen(forms[f]));
        struct ps_tokenizer *t = NULL;
        struct ps_err err = {0};
        CHECK_INT(ps_tokenizer_load_file(&t, path, &err), PS_OK);
        if (!t) {
            fprintf(stderr, "  %s\n", err.msg);
            continue;
        }
        /* "ab" -> ab; " ab" -> Ġ a b -> Ġ ab (rank 0) -> Ġab (rank 1);
         * " a" -> Ġ a: no merge ranks (Ġa is in the vocabulary but never
         * produced by a merge). */
        int32_t want[] = {2, 4, 3, 0};
        CHECK(check_encode(t, "merge forms", "ab ab a", 7, want, 4, 1));
        CHECK_INT(ps_tokenizer_eos_id(t), -1);
        ps_tokenizer_free(t);
    }
}
