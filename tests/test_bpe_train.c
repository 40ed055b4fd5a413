/*
 * test_bpe_train.c - the BPE trainer against a naive Python trainer
 * (tests/fixtures/train/bpe_ref.py: recounts every pair for every merge)
 * and lmref's independent GPT-2 tokenizer encoding with the trained files.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "persona/bpe_train.h"
#include "persona/reader.h"
#include "persona/tokenizer.h"
#include "test.h"

static struct ps_bpe_trainer *train_fixture(int vocab, const char *out_dir)
{
    struct ps_err err;
    ps_err_clear(&err);
    struct ps_bpe_train_params p = ps_bpe_train_default_params();
    p.vocab_size = vocab;
    struct ps_bpe_trainer *t = NULL;
    CHECK_INT(ps_bpe_trainer_new(&t, &p, &err), PS_OK);
    struct ps_reader_params rp = ps_reader_default_params();
    struct ps_reader *r = NULL;
    CHECK_INT(ps_reader_open(&r, "tests/fixtures/train/bpe_corpus.csv", &rp, &err), PS_OK);
    if (!r)
        return t;
    int n = 0;
    while (ps_reader_next(r) == PS_OK) {
        size_t len;
        const char *s = ps_reader_field(r, 0, &len);
        CHECK_INT(ps_bpe_trainer_add(t, s, len, &err), PS_OK);
        n++;
    }
    ps_reader_close(r);
    CHECK_INT(n, 453);
    CHECK_INT(ps_bpe_trainer_train(t, &err), PS_OK);
    if (out_dir)
        CHECK_INT(ps_bpe_trainer_save(t, out_dir, &err), PS_OK);
    return t;
}

TEST(bpe_train_matches_naive_reference)
{
    if (!test_have_shared())
        return;
    const char *dir = test_tmp("bpe_tok");
    struct ps_bpe_trainer *t = train_fixture(700, dir);
    CHECK_INT(ps_bpe_trainer_n_merges(t), 443);
    char path[1100];
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    char *got = test_read_file(path, NULL);
    char *want = test_read_file("tests/fixtures/train/bpe_expected_merges.txt", NULL);
    CHECK(got && want && strcmp(got, want) == 0);
    if (got && want && strcmp(got, want)) {
        size_t i = 0;
        while (got[i] && got[i] == want[i])
            i++;
        fprintf(stderr, "  merges differ at byte %zu\n", i);
    }
    /* multi-character Chinese merges exist: a merge whose both halves are
     * whole CJK characters (3 bytes each, lead byte 0xE4..0xE9) */
    int cjk_words = 0;
    for (size_t i = 0; i < ps_bpe_trainer_n_merges(t); i++) {
        const char *a, *b;
        size_t la, lb;
        ps_bpe_trainer_merge(t, i, &a, &la, &b, &lb);
        if (la >= 3 && lb >= 3 && la % 3 == 0 && lb % 3 == 0 &&
            (unsigned char)a[0] >= 0xE4 && (unsigned char)b[0] >= 0xE4 &&
            (unsigned char)a[0] <= 0xE9 && (unsigned char)b[0] <= 0xE9)
            cjk_words++;
    }
    fprintf(stderr, "    %d merges join whole Chinese characters\n", cjk_words);
    CHECK(cjk_words >= 20);
    /* the files load, and encode as lmref's tokenizer does with them */
    struct ps_tokenizer *tok = NULL;
    struct ps_err err;
    ps_err_clear(&err);
    CHECK_INT(ps_tokenizer_load(&tok, dir, &err), PS_OK);
    json_error_t je;
    json_t *ref = json_load_file("tests/fixtures/train/bpe_expected_ids.json", 0, &je);
    CHECK(ref != NULL);
    if (tok && ref) {
        CHECK_INT(ps_tokenizer_vocab_size(tok), json_integer_value(json_object_get(ref, "vocab_size")));
        CHECK_INT(ps_tokenizer_eos_id(tok), 699);
        json_t *cases = json_object_get(ref, "cases");
        for (size_t c = 0; c < json_array_size(cases); c++) {
            json_t *cs = json_array_get(cases, c);
            const char *text = json_string_value(json_object_get(cs, "text"));
            json_t *ids = json_object_get(cs, "ids");
            int32_t *out = NULL;
            size_t n = 0;
            CHECK_INT(ps_tokenizer_encode(tok, text, strlen(text), 0, &out, &n, &err), PS_OK);
            CHECK_INT(n, json_array_size(ids));
            for (size_t i = 0; i < n && i < json_array_size(ids); i++)
                CHECK_INT(out[i], json_integer_value(json_array_get(ids, i)));
            char *back = NULL;
            CHECK_INT(ps_tokenizer_decode(tok, out, n, &back, &err), PS_OK);
            CHECK_STR(back, text);
            free(back);
            free(out);
        }
    }
    json_decref(ref);
    free(got);
    free(want);
    ps_tokenizer_free(tok);
    ps_bpe_trainer_free(t);
}

TEST(bpe_train_errors)
{
    struct ps_err err;
    ps_err_clear(&err);
    struct ps_bpe_train_params p = ps_bpe_train_default_params();
    struct ps_bpe_trainer *t = NULL;
    p.vocab_size = 100;
    CHECK_INT(ps_bpe_trainer_new(&t, &p, &err), PS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "vocabulary size 100 out of range");
    p.vocab_size = 300;
    CHECK_INT(ps_bpe_trainer_new(&t, &p, &err), PS_OK);
    CHECK_INT(ps_bpe_trainer_add(t, "ok \xff bad", 8, &err), PS_ERR_BAD_INPUT);
    CHECK_CONTAINS(err.msg, "invalid UTF-8 at byte 3");
    CHECK_INT(ps_bpe_trainer_save(t, test_tmp("never"), &err), PS_ERR_USAGE);
    /* a tiny corpus: merges stop at min_frequency 2 */
    CHECK_INT(ps_bpe_trainer_add(t, "abab abab", 9, &err), PS_OK);
    CHECK_INT(ps_bpe_trainer_train(t, &err), PS_OK);
    /* words "abab" x1, " abab" x1: (a,b) x4 -> ab; (ab,ab) x2 -> abab;
     * then every remaining pair occurs once */
    CHECK_INT(ps_bpe_trainer_n_merges(t), 2);
    const char *a, *b;
    size_t la, lb;
    ps_bpe_trainer_merge(t, 1, &a, &la, &b, &lb);
    CHECK(la == 2 && lb == 2 && memcmp(a, "ab", 2) == 0 && memcmp(b, "ab", 2) == 0);
    CHECK_INT(ps_bpe_trainer_train(t, &err), PS_ERR_USAGE);
    ps_bpe_trainer_free(t);
}
