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
        rc = ps_tokenizer_decode(t, ids, n, &back, &err);
        if (rc || strlen(back) != len || memcmp(back, text, len) != 0) {
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
    check_lmref_model("gpt2-tiny-f32", PS_TOKENIZER_BPE, 1);
    check_lmref_model("gpt2-tiny-f16", PS_TOKENIZER_BPE, 1);
    check_lmref_model("gpt2-tiny-bf16", PS_TOKENIZER_BPE, 1);
}

TEST(tokenizer_bert_lmref_models)
{
    check_lmref_model("bert-tiny-f32", PS_TOKENIZER_WORDPIECE, 0);
    check_lmref_model("bert-tiny-f16", PS_TOKENIZER_WORDPIECE, 0);
    check_lmref_model("bert-tiny-bf16", PS_TOKENIZER_WORDPIECE, 0);
}

/* Our own 345 strings (Chinese and English reviews from ../shared/data,
 * emoji, whitespace runs, digits, contractions, URLs, long inputs) with the
 * ids npm gpt-3-encoder gives (tests/fixtures/tokenizer/make_fixture.js). */
TEST(tokenizer_gpt2_own_strings_vs_gpt3_encoder)
{
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
